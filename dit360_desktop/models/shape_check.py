"""Do a diffusers folder's weights have the shapes its configs describe? Checked at import, not at Generate.

Each weight folder's model is built from its config.json on PyTorch's "meta" device (no memory, no
weights read: a fraction of a second even for the 12-billion-parameter transformer) and its parameter
shapes are compared with the shapes in the safetensors headers. Only the four FLUX component classes (or,
for a FLUX.1 Redux folder, its two) are ever built, whatever model_index.json says.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path

from dit360_desktop.panorama.flux_layout import FLUX_WEIGHT_CLASSES
from dit360_desktop.panorama.safetensors_check import safetensors_tensor_shapes

log = logging.getLogger(__name__)


def shape_problems(folder: Path, classes: Mapping[str, tuple[str, str]] = FLUX_WEIGHT_CLASSES) -> list[str]:
    """Sentences naming each tensor whose shape differs from what the config needs (and unusable configs).

    ``classes``: each weight sub-folder with the (library, class) that loads it.
    """
    problems: list[str] = []
    for name, (library, class_name) in classes.items():
        sub = folder / name
        if not (sub / "config.json").is_file():
            continue
        try:
            expected = _expected_shapes(sub, library, class_name)
        except (OSError, ValueError, TypeError, KeyError) as e:
            problems.append(f"{name}/config.json does not describe a usable model ({type(e).__name__}: {e})")
            continue
        for file in sorted(sub.glob("*.safetensors")):
            for key, shape in safetensors_tensor_shapes(file).items():
                wanted = expected.get(key)
                if wanted is not None and wanted != shape:
                    problems.append(
                        f"{name}/{file.name}: {key} has shape {list(shape)}, the config needs {list(wanted)}"
                    )
    return problems


def _expected_shapes(sub: Path, library: str, class_name: str) -> dict[str, tuple[int, ...]]:
    import torch

    cls = getattr(importlib.import_module(library), class_name)
    if library == "diffusers":
        config = cls.load_config(sub)
        with torch.device("meta"):
            model = cls.from_config(config)
    else:
        config = cls.config_class.from_dict(json.loads((sub / "config.json").read_text(encoding="utf-8")))
        with torch.device("meta"):
            model = cls(config)
    return {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
