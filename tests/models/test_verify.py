"""Verify & repair: a flipped byte is found, the file is removed and only it is fetched again."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

from hub_emulator import TOKEN, HubEmulator

from dit360_desktop.models.downloads import DownloadManager
from dit360_desktop.models.importer import IN_PLACE, import_model
from dit360_desktop.models.registry import FileRecord, installed_model_paths, modify_entry, read_registry
from dit360_desktop.models.transfer import TransferSettings
from dit360_desktop.models.verify import CORRUPT, MISSING, OK, repair, verify_installed

WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_corrupt_byte_found_and_repaired(
    hub: HubEmulator, tmp_path: Path, tiny_flux_dir: Path, fast_settings: TransferSettings
) -> None:
    models = tmp_path / "models"
    manager = DownloadManager(models, endpoint=hub.url, token=TOKEN, settings=fast_settings)
    assert manager.download(["flux1-dev"]).ok
    target = models / "flux1-dev" / WEIGHTS
    _flip(target, target.stat().st_size // 2)

    checks = verify_installed(["flux1-dev"], models)
    bad = [c for c in checks if c.status != OK]
    assert [(c.path, c.status) for c in bad] == [(WEIGHTS, CORRUPT)]
    assert len(checks) == sum(1 for p in tiny_flux_dir.rglob("*") if p.is_file())
    # A component with a bad file is no longer handed to the engine.
    assert installed_model_paths(models) is None

    hub.bytes_sent.clear()
    report = repair(checks, models, manager=manager)
    assert report.ok and report.completed == ["flux1-dev"]
    assert set(hub.bytes_sent) == {WEIGHTS}
    assert hub.bytes_sent[WEIGHTS] == (tiny_flux_dir / WEIGHTS).stat().st_size
    assert (
        hashlib.sha256(target.read_bytes()).digest()
        == hashlib.sha256((tiny_flux_dir / WEIGHTS).read_bytes()).digest()
    )
    assert all(c.status == OK for c in verify_installed(["flux1-dev"], models))
    assert installed_model_paths(models).base == models / "flux1-dev"


def test_missing_file_reported(tmp_path: Path, tiny_flux_dir: Path) -> None:
    folder = tmp_path / "flux"
    shutil.copytree(tiny_flux_dir, folder)
    models = tmp_path / "models"
    import_model(folder, mode=IN_PLACE, models_dir=models)
    (folder / "vae" / "config.json").unlink()
    checks = verify_installed(None, models)
    assert [(c.path, c.status) for c in checks if c.status != OK] == [("vae/config.json", MISSING)]
    assert read_registry(models)["flux1-dev"].complete is False


def test_truncated_but_unhashed_file_caught_by_header(tmp_path: Path, tiny_lora_dir: Path) -> None:
    folder = tmp_path / "lora"
    shutil.copytree(tiny_lora_dir, folder)
    models = tmp_path / "models"
    import_model(folder, mode=IN_PLACE, models_dir=models)
    # Records without a hash (e.g. from a mirror that gave none) still get the header check.
    weights = folder / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:9] + b"\xff" + data[10:])
    modify_entry(
        models,
        "dit360-lora",
        lambda old: replace(old, files={"adapter_model.safetensors": FileRecord(len(data), None)}),
    )
    checks = verify_installed(["dit360-lora"], models)
    assert checks[0].status == CORRUPT and "not valid JSON" in checks[0].detail


def test_hf_cache_copy_verified_by_blob_names(tmp_path: Path, tiny_flux_dir: Path, capsys) -> None:
    from hub_emulator import make_hf_cache

    from dit360_desktop.cli import main

    snapshot = make_hf_cache(tiny_flux_dir, tmp_path / "hf-home" / "hub", "black-forest-labs/FLUX.1-dev")
    models = tmp_path / "models"
    checks = verify_installed(None, models)
    assert len(checks) == sum(1 for p in tiny_flux_dir.rglob("*") if p.is_file())
    assert all(c.status == OK for c in checks)
    blob = (snapshot / WEIGHTS).resolve()
    _flip(blob, 100)
    bad = [c for c in verify_installed(None, models) if c.status != OK]
    assert [(c.component_id, c.path, c.status) for c in bad] == [("flux1-dev", WEIGHTS, CORRUPT)]
    assert "hf cache delete" in bad[0].detail
    # Repair never rewrites huggingface_hub's cache: the CLI says what to do and fails verification.
    code = main(["models", "verify", "--repair", "--models-dir", str(models)])
    assert code == 4 and "hf cache delete" in capsys.readouterr().err
    assert blob.read_bytes() != (tiny_flux_dir / WEIGHTS).read_bytes()
