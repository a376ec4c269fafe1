"""Loading Depth Anything V2 through transformers, strictly: the tiny model runs, broken ones are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dit360_desktop.core.depth.estimate import estimate_distance
from dit360_desktop.core.depth.merge import DISPARITY, Z_DEPTH
from dit360_desktop.core.depth.model import load_depth_model
from dit360_desktop.core.depth.views import cube_views
from dit360_desktop.panorama.errors import ModelInvalidError, ModelMissingError, UnsafeFileError
from dit360_desktop.panorama.qa import seam_score
from dit360_desktop.testing.tiny_depth import build_tiny_depth
from tests.core.depth.synthetic_room import room_panorama


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(folder, target)
    return target


def test_the_tiny_model_loads_and_matches_transformers_own_forward(tiny_depth_dir: Path) -> None:
    from transformers import DepthAnythingForDepthEstimation

    model = load_depth_model(tiny_depth_dir, device="cpu")
    assert model.kind == DISPARITY and not model.metric and model.view_size == 56
    view = cube_views(56)[0]
    pixels = view.render(room_panorama(128, 64)[0])
    ours = model(pixels, view)
    # The same weights through transformers directly, with the processor's normalisation written out.
    reference = DepthAnythingForDepthEstimation.from_pretrained(tiny_depth_dir).eval()
    x = torch.from_numpy(pixels.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.no_grad():
        expected = reference(pixel_values=(x - mean) / std).predicted_depth[0].numpy()
    assert ours.shape == (56, 56)
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-4 * float(np.abs(expected).max()))


def test_the_whole_panorama_runs_and_is_seamless(tiny_depth_dir: Path) -> None:
    model = load_depth_model(tiny_depth_dir, device="cpu")
    rgb, _truth = room_panorama(128, 64)
    result = estimate_distance(rgb, model, views=cube_views(model.view_size))
    assert result.distance.shape == (64, 128) and np.all(np.isfinite(result.distance))
    assert np.all(result.distance > 0)
    # Random weights give distances spanning the whole allowed range (×200 either way), where a linear
    # score is decided by the few rows with the steepest values; the blend's own domain, log distance,
    # shows whether the seam is an ordinary place. (The synthetic room checks the linear score.)
    assert seam_score(np.log(result.distance)) <= 1.2


def test_a_metric_model_is_read_as_z_depth(tmp_path: Path) -> None:
    model = load_depth_model(build_tiny_depth(tmp_path / "metric", metric=True), device="cpu")
    assert model.kind == Z_DEPTH and model.metric


def test_another_architecture_is_refused(tiny_depth_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_depth_dir, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "dpt"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelInvalidError, match="holds a dpt model, not Depth Anything") as caught:
        load_depth_model(folder)
    assert caught.value.exit_code == 3


def test_truncated_weights_are_refused(tiny_depth_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_depth_dir, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelInvalidError, match=r"damaged or incomplete|truncated") as caught:
        load_depth_model(folder)
    assert caught.value.exit_code == 3


def test_weights_that_do_not_fit_the_config_are_refused(tiny_depth_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_depth_dir, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["fusion_hidden_size"] = 24
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelInvalidError, match=r"do not fit|could not be loaded"):
        load_depth_model(folder)


def test_pickle_only_and_missing_folders(tiny_depth_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_depth_dir, tmp_path)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(UnsafeFileError):
        load_depth_model(folder)
    with pytest.raises(ModelMissingError):
        load_depth_model(tmp_path / "nowhere")


def test_a_missing_tensor_is_an_error_not_a_random_init(tiny_depth_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    folder = _copy(tiny_depth_dir, tmp_path)
    state = load_file(str(folder / "model.safetensors"))
    dropped = sorted(k for k in state if k.startswith("head."))[0]
    del state[dropped]
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelInvalidError, match=f"do not fit its config \\(missing {dropped}"):
        load_depth_model(folder)
