"""A damaged registry.json is kept aside and rebuilt from the folders; download then moves only bad files.

Before: a damaged file read as "nothing installed", `download` fetched everything again (34 GB for real)
and overwrote the damaged file. Bytes are counted at the emulator.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from hub_emulator import TOKEN, HubEmulator

from dit360_desktop.cli import main
from dit360_desktop.models.registry import (
    REGISTRY_FILE,
    SOURCE_IN_PLACE,
    RegistryEntry,
    installed_model_paths,
    read_registry,
    update_registry,
)
from dit360_desktop.models.selection import resolve_base_model
from dit360_desktop.panorama.errors import ModelInvalidError

WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"
VAE_WEIGHTS = "vae/diffusion_pytorch_model.safetensors"
GARBAGE = b'{"format": 1, "components": {"flux1-dev": {"path": "/mo\x00\xff'


def _download(hub: HubEmulator, models: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    args = ["--models-dir", str(models), "--endpoint", hub.url, "--token", TOKEN, "--retries", "1"]
    code = main(["models", "download", *args])
    return code, capsys.readouterr().err


@pytest.fixture
def installed(hub: HubEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    models = tmp_path / "m"
    code, err = _download(hub, models, capsys)
    assert code == 0, err
    hub.bytes_sent.clear()
    return models


def test_damaged_registry_is_kept_aside_and_rebuilt(
    installed: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    (installed / REGISTRY_FILE).write_bytes(GARBAGE)
    with caplog.at_level(logging.WARNING, logger="dit360_desktop.models.registry"):
        entries = read_registry(installed)
    assert entries["flux1-dev"].complete and entries["dit360-lora"].complete
    aside = list(installed.glob(f"{REGISTRY_FILE}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == GARBAGE
    assert "was damaged" in caplog.text and aside[0].name in caplog.text
    assert installed_model_paths(installed).base == installed / "flux1-dev"
    code = main(["models", "list", "--models-dir", str(installed)])
    assert code == 0 and capsys.readouterr().out.count("ready") >= 2


def test_download_after_a_damaged_registry_fetches_nothing_that_is_good(
    hub: HubEmulator, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (installed / REGISTRY_FILE).write_bytes(GARBAGE)
    code, err = _download(hub, installed, capsys)
    assert code == 0, err
    assert hub.bytes_sent == {}
    # The files are hashed against the hub once, so the registry knows them again.
    entry = read_registry(installed)["flux1-dev"]
    assert entry.complete and entry.files[WEIGHTS].sha256 is not None


def test_download_after_a_damaged_registry_fetches_only_missing_and_bad_files(
    hub: HubEmulator, installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = installed / "flux1-dev"
    (base / VAE_WEIGHTS).unlink()
    weights = base / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF  # the header still checks out; only the hub's sha256 can tell
    weights.write_bytes(bytes(data))
    (installed / REGISTRY_FILE).write_bytes(GARBAGE)
    code, err = _download(hub, installed, capsys)
    assert code == 0, err
    sizes = {VAE_WEIGHTS: (base / VAE_WEIGHTS).stat().st_size, WEIGHTS: weights.stat().st_size}
    assert hub.bytes_sent == sizes
    assert read_registry(installed)["flux1-dev"].complete


def test_wrong_typed_entry_is_named_not_reported_as_missing(tmp_path: Path, capsys) -> None:
    models = Path(os.environ["DIT360_HOME"]) / "data" / "models"
    models.mkdir(parents=True)
    registry = {
        "format": 1,
        "components": {"flux1-dev": {"path": "/x", "source": "download", "complete": "yes"}},
    }
    (models / REGISTRY_FILE).write_text(json.dumps(registry))
    with pytest.raises(ModelInvalidError, match='"complete"') as caught:
        resolve_base_model(None)
    assert str(models / REGISTRY_FILE) in str(caught.value)
    code = main(
        ["generate", "--prompt", "x", "--width", "128", "--height", "64", "--lora", "none", "--quiet"]
    )
    err = capsys.readouterr().err
    assert code == 3 and "damaged" in err and "not installed" not in err


def test_transformer_linked_to_a_pickle_is_named(tmp_path: Path, tiny_flux_dir: Path) -> None:
    import shutil

    models = Path(os.environ["DIT360_HOME"]) / "data" / "models"
    folder = tmp_path / "FLUX.1-dev"
    shutil.copytree(tiny_flux_dir, folder)
    pickle = tmp_path / "elsewhere" / "diffusion_pytorch_model.bin"
    pickle.parent.mkdir()
    pickle.write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    (folder / WEIGHTS).unlink()
    (folder / "transformer" / "diffusion_pytorch_model.bin").symlink_to(pickle)
    update_registry(models, RegistryEntry("flux1-dev", folder, SOURCE_IN_PLACE, True, None, None, {}))
    with pytest.raises(ModelInvalidError, match="pickle") as caught:
        resolve_base_model(None)
    assert str(folder) in str(caught.value)


def test_models_list_names_a_damaged_entry(tmp_path: Path, capsys) -> None:
    models = tmp_path / "m"
    models.mkdir()
    entry = {"path": "/x", "source": "download", "complete": True, "files": {"a": {"size": "big"}}}
    (models / REGISTRY_FILE).write_text(json.dumps({"format": 1, "components": {"flux1-dev": entry}}))
    assert main(["models", "list", "--models-dir", str(models)]) == 0
    out = capsys.readouterr().out
    assert "damaged registry entry" in out and 'files["a"].size' in out
