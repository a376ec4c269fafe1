"""`models import` checks every tensor's shape against the config, in place too (not only at Generate)."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from dit360_desktop.cli import main
from dit360_desktop.models.registry import read_registry

WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


def test_in_place_import_refuses_a_wrong_shaped_tensor(tiny_flux_dir: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "FLUX.1-dev"
    shutil.copytree(tiny_flux_dir, folder)
    tensors = load_file(str(folder / WEIGHTS))
    key = "x_embedder.weight"
    rows, columns = tensors[key].shape
    tensors[key] = torch.zeros(rows, columns * 2)  # a sound header, the wrong shape for the config
    save_file(tensors, str(folder / WEIGHTS))
    models = tmp_path / "models"
    code = main(["models", "import", str(folder), "--in-place", "--models-dir", str(models)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert key in err and str([rows, columns * 2]) in err and str([rows, columns]) in err
    assert "flux1-dev" not in read_registry(models)


def test_in_place_import_of_a_good_folder_still_works(tiny_flux_dir: Path, tmp_path: Path, capsys) -> None:
    models = tmp_path / "models"
    code = main(["models", "import", str(tiny_flux_dir), "--in-place", "--models-dir", str(models)])
    assert code == 0, capsys.readouterr().err
    assert read_registry(models)["flux1-dev"].path == tiny_flux_dir
