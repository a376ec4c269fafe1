"""Depth Anything V2 from a transformers folder, loaded strictly, as a per-view depth source.

The folder is a Hugging Face ``depth-anything/Depth-Anything-V2-*-hf`` snapshot: ``config.json``
(model_type ``depth_anything``), ``model.safetensors`` and ``preprocessor_config.json``. Everything about
the network and its input normalisation comes from transformers (``DepthAnythingForDepthEstimation`` and
the image processor saved with it); nothing here describes a layer.

What the model predicts (its config's ``depth_estimation_type``): the relative models give affine-invariant
disparity (``merge.DISPARITY``); the metric ones give z-depth in metres (``merge.Z_DEPTH``), which the merge
aligns the same way and then brings back to metres.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dit360_desktop.core.depth.merge import DISPARITY, Z_DEPTH
from dit360_desktop.core.depth.views import View
from dit360_desktop.core.devices import resolve_device
from dit360_desktop.panorama.errors import ModelInvalidError, ModelMissingError, UnsafeFileError
from dit360_desktop.panorama.safetensors_check import check_weights_folder

log = logging.getLogger(__name__)

__all__ = ["DepthModel", "load_depth_model"]

MODEL_TYPE = "depth_anything"


@dataclass
class DepthModel:
    """A loaded Depth Anything V2: ``model(view_pixels, view)`` is the view's (S, S) prediction."""

    module: torch.nn.Module
    processor: object
    path: Path
    device: torch.device
    dtype: torch.dtype
    kind: str
    metric: bool
    # The processor's square input side: views are rendered at this size so it does not resample them.
    view_size: int

    @torch.inference_mode()
    def __call__(self, pixels: np.ndarray, view: View) -> np.ndarray:
        inputs = self.processor(images=np.asarray(pixels), return_tensors="pt")
        values = inputs["pixel_values"].to(self.device, self.dtype)
        predicted = self.module(pixel_values=values).predicted_depth
        # Back to the view's pixel grid, as transformers' post_process_depth_estimation does (bicubic).
        resized = torch.nn.functional.interpolate(
            predicted[:, None].float(), size=(view.size, view.size), mode="bicubic", align_corners=False
        )
        return resized[0, 0].cpu().numpy().astype(np.float64)


def _read_config(folder: Path) -> dict:
    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ModelInvalidError(
            f"{folder} has no config.json, so it is not a Depth Anything model folder. Choose the folder "
            "of a Depth Anything V2 model (for example Depth-Anything-V2-Small-hf)."
        ) from e
    except (OSError, ValueError) as e:
        raise ModelInvalidError(f"{config_path} cannot be read ({e}). Download the model again.") from e
    if not isinstance(config, dict):
        raise ModelInvalidError(f"{config_path} is not a JSON object. Download the model again.")
    if config.get("model_type") != MODEL_TYPE:
        raise ModelInvalidError(
            f"{folder} holds a {config.get('model_type') or 'unknown'} model, not Depth Anything "
            f"(config.json model_type {MODEL_TYPE!r}). Choose a Depth Anything V2 folder."
        )
    return config


def load_depth_model(folder: str | Path, *, device: str = "auto") -> DepthModel:
    """Load a Depth Anything V2 folder; every missing, unexpected or misfit weight is an error."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise ModelMissingError(f"The depth model {folder} does not exist.")
    if not folder.is_dir():
        raise ModelInvalidError(
            f"{folder} is a file; a depth model is a folder with config.json and model.safetensors."
        )
    config = _read_config(folder)
    if not check_weights_folder(folder):
        raise UnsafeFileError(f"{folder} holds no .safetensors weights; only safetensors models are loaded.")
    from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        module, info = DepthAnythingForDepthEstimation.from_pretrained(
            folder, use_safetensors=True, output_loading_info=True, local_files_only=True
        )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as e:
        raise ModelInvalidError(
            f"{folder} could not be loaded as Depth Anything V2 ({e}). Download it again or run 'Verify & "
            "repair'."
        ) from e
    problems = [
        f"{what} {', '.join(sorted(str(k) for k in keys)[:3])}"
        for what, keys in (
            ("missing", info.get("missing_keys", ())),
            ("unexpected", info.get("unexpected_keys", ())),
            ("mismatched", info.get("mismatched_keys", ())),
        )
        if keys
    ]
    if problems:
        raise ModelInvalidError(
            f"The weights in {folder} do not fit its config ({'; '.join(problems)}). Download the model "
            "again or run 'Verify & repair'."
        )
    try:
        processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelInvalidError(
            f"{folder} has no usable preprocessor_config.json ({e}). Download the model again."
        ) from e
    size = getattr(processor, "size", None) or {}
    view_size = int(
        size.get("height") or size.get("shortest_edge") or module.config.backbone_config.image_size
    )
    target = resolve_device(device)
    dtype = torch.float16 if target.type == "cuda" else torch.float32
    module = module.to(target, dtype).eval()
    metric = config.get("depth_estimation_type", "relative") == "metric"
    log.info("Loaded Depth Anything %s from %s on %s", "metric" if metric else "relative", folder, target)
    return DepthModel(
        module=module,
        processor=processor,
        path=folder,
        device=target,
        dtype=dtype,
        kind=Z_DEPTH if metric else DISPARITY,
        metric=metric,
        view_size=view_size,
    )
