"""A FLUX.1-dev-sized diffusers folder that takes no disk space, for tests of the folder check.

The tiny model's tokenizers and configs are kept; the transformer config gets FLUX.1-dev's values and
each weight folder gets one safetensors file whose header declares a tensor of the published size. The
data region is a sparse hole (``truncate``), so the files have the right length and a valid header but
cost nothing. Never loadable as a model: only the headers and sizes are real.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

from dit360_desktop.models.folder_check import FLUX1_DEV


def write_sparse_safetensors(path: Path, data_bytes: int) -> None:
    header = json.dumps({"weight": {"dtype": "U8", "shape": [data_bytes], "data_offsets": [0, data_bytes]}})
    raw = header.encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        handle.truncate(8 + len(raw) + data_bytes)


def build_sparse_flux_dev(tiny_flux: Path, folder: Path, *, share: float = 1.0) -> Path:
    """Copy ``tiny_flux`` to ``folder`` with FLUX.1-dev's transformer config and ``share`` of its sizes."""
    shutil.copytree(tiny_flux, folder)
    config_path = folder / "transformer" / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.update(FLUX1_DEV.transformer_config)
    config_path.write_text(json.dumps(config), encoding="utf-8")
    for name, size in FLUX1_DEV.published_bytes.items():
        sub = folder / name
        for old in [*sub.glob("*.safetensors"), *sub.glob("*.safetensors.index.json")]:
            old.unlink()
        write_sparse_safetensors(sub / "model.safetensors", int(size * share))
    return folder
