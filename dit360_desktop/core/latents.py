"""The ``--save-latent`` file: the final unpacked latent under the key ``latent``, in safetensors."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from dit360_desktop.panorama.errors import RequestError

LATENT_KEY = "latent"


def save_latent(latent: torch.Tensor, path: Path, metadata: dict | None = None) -> None:
    from safetensors.torch import save_file

    header = {"dit360": json.dumps(metadata, default=str)} if metadata else None
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    try:
        save_file({LATENT_KEY: latent.detach().float().cpu().contiguous()}, temp, metadata=header)
        with open(temp, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


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
