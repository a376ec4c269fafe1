"""The ``--save-latent`` file: the final unpacked latent under the key ``latent``, in safetensors."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.fileio import write_atomic

LATENT_KEY = "latent"


def save_latent(latent: torch.Tensor, path: Path, metadata: dict | None = None) -> None:
    from safetensors.torch import save

    header = {"dit360": json.dumps(metadata, default=str)} if metadata else None
    # Serialised in memory (a 2048x1024 latent is 2 MB) and written by our writer: safetensors' own file
    # writer turns a full disk into a SafetensorError that no longer says ENOSPC.
    data = save({LATENT_KEY: latent.detach().float().cpu().contiguous()}, metadata=header)
    write_atomic(Path(path), data)


def load_latent(path: Path) -> torch.Tensor:
    from safetensors import safe_open

    from dit360_desktop.core.loading import check_weight_file

    path = Path(path)
    if not path.is_file():
        raise RequestError("latent", f"{path} does not exist")
    check_weight_file(path)
    with safe_open(str(path), framework="pt") as handle:
        if LATENT_KEY not in handle.keys():  # noqa: SIM118 - safe_open supports keys(), not "in"
            raise RequestError("latent", f"{path.name} has no tensor named '{LATENT_KEY}'")
        return handle.get_tensor(LATENT_KEY)
