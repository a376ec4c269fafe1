"""The metadata of a run: the seed, the models (with the LoRA's hash), timings, device, tier, library
versions and warnings. It goes into the PNG's JSON chunk and the history library, after the request."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import dit360_desktop
from dit360_desktop.core.loading import LoraInfo
from dit360_desktop.core.lora_stack import AppliedLora
from dit360_desktop.panorama.request import GenerationRequest


def run_metadata(
    request: GenerationRequest,
    *,
    folder: Path,
    lora: LoraInfo | None,
    extra_loras: Sequence[AppliedLora] = (),
    device: str,
    dtype: str,
    memory_tier: dict[str, Any],
    timings: dict[str, float],
    warnings: list[str],
) -> dict[str, Any]:
    import diffusers
    import transformers

    models: dict[str, Any] = {"base": {"name": _model_name(folder), "path": str(folder)}}
    if lora is not None:
        models["lora"] = {
            "name": lora.path.name,
            "path": str(lora.path),
            "sha256": lora.sha256,
            "rank": lora.rank,
            "scale": request.lora_scale,
        }
    if extra_loras:
        models["extra_loras"] = [
            {
                "name": applied.info.path.name,
                "path": str(applied.info.path),
                "sha256": applied.info.sha256,
                "rank": applied.info.rank,
                "scale": applied.scale,
            }
            for applied in extra_loras
        ]
    # The request itself is Result.request; the files record it from there (panorama/result.py).
    return {
        "seed": request.seed,
        "models": models,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "device": device,
        "dtype": dtype,
        "memory_tier": memory_tier,
        "versions": {
            "app": dit360_desktop.__version__,
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "transformers": transformers.__version__,
        },
        "warnings": warnings,
    }


def _model_name(folder: Path) -> str:
    # An HF cache snapshot lives at models--org--name/snapshots/<rev>: report it as org/name@rev.
    parts = folder.parts
    for i, part in enumerate(parts):
        if part.startswith("models--") and i + 2 < len(parts) and parts[i + 1] == "snapshots":
            return f"{part[len('models--') :].replace('--', '/')}@{parts[i + 2][:12]}"
    return folder.name
