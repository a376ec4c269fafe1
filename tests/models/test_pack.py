"""Offline model packs: `dit360 models pack` on one machine, `dit360 models import` on another, and faults.

The faults use the real thing where this machine allows it: a read-only bind mount for the USB stick and a
small tmpfs for the full disk (both need root and mount; they skip elsewhere, saying so).
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dit360_desktop import __version__
from dit360_desktop.cli import main
from dit360_desktop.models import pack as pack_module
from dit360_desktop.models import registry as registry_module
from dit360_desktop.models.hashing import Stopped
from dit360_desktop.models.importer import COPY, import_model
from dit360_desktop.models.pack import STAGING_DIR, import_pack
from dit360_desktop.models.pack_manifest import MANIFEST_NAME
from dit360_desktop.models.registry import (
    SOURCE_DOWNLOAD,
    installed_model_paths,
    modify_entry,
    read_registry,
    registry_path,
)

WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): _sha(p) for p in sorted(root.rglob("*")) if p.is_file()}


def _run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def studio(tmp_path: Path, tiny_flux_dir: Path, tiny_lora_dir: Path) -> Path:
    """Machine A's models folder: FLUX imported by copy, the LoRA registered as a hub download."""
    models = tmp_path / "machine-a"
    import_model(tiny_flux_dir, mode=COPY, models_dir=models)
    import_model(tiny_lora_dir, mode=COPY, models_dir=models)

    def as_download(old):
        return registry_module.RegistryEntry(
            old.component_id, old.path, SOURCE_DOWNLOAD, True, "fenghora/DiT360-Panorama-Image-Generation",
            COMMIT, old.files,
        )  # fmt: skip

    modify_entry(models, "dit360-lora", as_download)
    return models


@pytest.fixture
def pack(studio: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    output = tmp_path / "usb" / "dit360-pack"
    code, out, err = _run(capsys, "models", "pack", "--output", output, "--models-dir", studio)
    assert code == 0, err
    assert "flux1-dev" in out and "dit360-lora" in out
    return output


def _mount(args: list[str]) -> None:
    try:
        subprocess.run(["mount", *args], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"this test needs root and mount on Linux ({e})")


@pytest.fixture
def small_drive(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB tmpfs: smaller than the tiny model (about 930 KB)."""
    drive = tmp_path / "small-drive"
    drive.mkdir()
    _mount(["-t", "tmpfs", "-o", "size=512k", "tmpfs", str(drive)])
    try:
        yield drive
    finally:
        subprocess.run(["umount", "-l", str(drive)], check=False, capture_output=True)


def _nothing_registered(models: Path) -> None:
    assert not registry_path(models).exists() or read_registry(models) == {}
    assert not (models / "flux1-dev").exists() and not (models / "dit360-lora").exists()


# --- the round trip -------------------------------------------------------------------------------------
def test_pack_manifest_names_repos_revisions_sizes_hashes_licences_and_version(
    pack: Path, studio: Path, tiny_flux_dir: Path
) -> None:
    manifest = json.loads((pack / MANIFEST_NAME).read_text())
    assert manifest["format"] == "dit360-model-pack" and manifest["app_version"] == __version__
    flux, lora = manifest["components"]["flux1-dev"], manifest["components"]["dit360-lora"]
    assert flux["repo_id"] == "black-forest-labs/FLUX.1-dev" and flux["revision"] is None
    assert lora["repo_id"] == "fenghora/DiT360-Panorama-Image-Generation" and lora["revision"] == COMMIT
    assert flux["licence"] == "FLUX.1 [dev] Non-Commercial License"
    assert flux["licence_url"].startswith("https://huggingface.co/black-forest-labs/")
    expected = _files(tiny_flux_dir)
    assert {rel: f["sha256"] for rel, f in flux["files"].items()} == expected
    assert flux["files"][WEIGHTS]["size"] == (tiny_flux_dir / WEIGHTS).stat().st_size
    assert _files(pack / "flux1-dev") == expected
    assert "dit360 models import" in (pack / "README.txt").read_text()


def test_a_pack_imports_on_another_machine_without_network(
    pack: Path, tmp_path: Path, tiny_flux_dir: Path, tiny_lora_dir: Path, capsys, monkeypatch
) -> None:
    def no_network(*_args, **_kwargs):
        raise AssertionError("the import tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    machine_b = tmp_path / "machine-b"
    code, out, err = _run(capsys, "models", "import", pack, "--models-dir", machine_b)
    assert code == 0, err
    assert "Imported flux1-dev from the pack" in out and "Imported dit360-lora from the pack" in out
    paths = installed_model_paths(machine_b)
    assert paths.base == machine_b / "flux1-dev"
    assert _files(machine_b / "flux1-dev") == _files(tiny_flux_dir)
    assert _files(machine_b / "dit360-lora") == _files(tiny_lora_dir)
    entries = read_registry(machine_b)
    assert entries["flux1-dev"].complete and entries["flux1-dev"].files[WEIGHTS].sha256 == _sha(
        tiny_flux_dir / WEIGHTS
    )
    # The downloaded LoRA keeps its repository and commit, so a later repair can fetch the same files.
    assert (entries["dit360-lora"].source, entries["dit360-lora"].commit) == (SOURCE_DOWNLOAD, COMMIT)
    assert not (machine_b / STAGING_DIR).exists()
    code, out, _ = _run(capsys, "models", "verify", "--models-dir", machine_b)
    assert code == 0 and "verified" in out


def test_every_pack_file_is_read_once(pack: Path, tmp_path: Path, monkeypatch) -> None:
    listed = [f"{cid}/{rel}" for cid in ("flux1-dev", "dit360-lora") for rel in _files(pack / cid)]
    opened: list[str] = []
    original = pathlib.Path.open

    def counting_open(self, mode="r", *args, **kwargs):
        if self.is_relative_to(pack) and self.name != MANIFEST_NAME:
            opened.append(self.relative_to(pack).as_posix())
        return original(self, mode, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", counting_open)
    import_pack(pack, models_dir=tmp_path / "machine-b")
    monkeypatch.undo()
    assert sorted(opened) == sorted(listed)


def test_an_interrupted_import_resumes_mid_file(pack: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    machine_b = tmp_path / "machine-b"
    monkeypatch.setattr(pack_module, "CHUNK", 4096)
    total = sum(c.total_bytes for c in pack_module.read_manifest(pack).components)
    seen = []

    def stop_inside_the_transformer(event) -> None:
        seen.append(event)

    def should_stop() -> bool:
        last = seen[-1] if seen else None
        return (
            last is not None
            and last.path == WEIGHTS
            and last.done_bytes > 0
            and len([e for e in seen if e.path == WEIGHTS]) == 3
        )

    with pytest.raises(Stopped):
        import_pack(
            pack, models_dir=machine_b, on_progress=stop_inside_the_transformer, should_stop=should_stop
        )
    _nothing_registered(machine_b)
    staging = machine_b / STAGING_DIR / "flux1-dev"
    part = staging / (WEIGHTS + ".part")
    assert part.stat().st_size == 3 * 4096
    staged = sum(
        p.stat().st_size
        for p in (machine_b / STAGING_DIR).rglob("*")
        if p.is_file() and p.parent.name != STAGING_DIR  # not the journals
    )

    result = import_pack(pack, models_dir=machine_b)
    assert result.copied_bytes == total - staged
    assert _files(machine_b / "flux1-dev") == _files(pack / "flux1-dev")
    assert not (machine_b / STAGING_DIR).exists()


# --- damaged and incomplete packs -------------------------------------------------------------------------
def test_a_file_replaced_by_another_of_the_same_size_is_caught_by_its_hash(
    pack: Path, tmp_path: Path, capsys
) -> None:
    target = pack / "flux1-dev" / WEIGHTS
    data = bytearray(target.read_bytes())
    data[-100] ^= 0xFF
    target.write_bytes(bytes(data))
    machine_b = tmp_path / "machine-b"
    code, _, err = _run(capsys, "models", "import", pack, "--models-dir", machine_b)
    assert code == 4
    assert f"flux1-dev/{WEIGHTS}" in err and "SHA-256" in err
    _nothing_registered(machine_b)
    # The files that matched are kept: a good copy of the pack then copies only the damaged one.
    shutil.copyfile(pack.parent.parent / "machine-a" / "flux1-dev" / WEIGHTS, target)
    result = import_pack(pack, models_dir=machine_b)
    assert result.copied_bytes == target.stat().st_size
    assert {e.component_id for e in result.entries} == {"flux1-dev", "dit360-lora"}


def test_an_incomplete_pack_is_refused_naming_the_files_before_copying(
    pack: Path, tmp_path: Path, capsys
) -> None:
    (pack / "flux1-dev" / "vae" / "config.json").unlink()
    truncated = pack / "dit360-lora" / "adapter_model.safetensors"
    truncated.write_bytes(truncated.read_bytes()[:1000])
    machine_b = tmp_path / "machine-b"
    code, _, err = _run(capsys, "models", "import", pack, "--models-dir", machine_b)
    assert code == 4
    assert "missing: flux1-dev/vae/config.json" in err
    assert "wrong size: dit360-lora/adapter_model.safetensors" in err
    assert not machine_b.exists() or not any(machine_b.iterdir())


def test_a_damaged_manifest_and_a_path_outside_the_pack_are_refused(
    pack: Path, tmp_path: Path, capsys
) -> None:
    manifest = json.loads((pack / MANIFEST_NAME).read_text())
    files = manifest["components"]["dit360-lora"]["files"]
    files["../../escape.safetensors"] = files.pop("adapter_model.safetensors")
    (pack / MANIFEST_NAME).write_text(json.dumps(manifest))
    code, _, err = _run(capsys, "models", "import", pack, "--models-dir", tmp_path / "b")
    assert code == 4 and "escape.safetensors" in err and "not a path inside the pack" in err
    (pack / MANIFEST_NAME).write_text("{ torn")
    code, _, err = _run(capsys, "models", "import", pack, "--models-dir", tmp_path / "b")
    assert code == 4 and MANIFEST_NAME in err
    _nothing_registered(tmp_path / "b")


# --- a pack from a newer app ----------------------------------------------------------------------------
def test_unknown_fields_from_a_newer_version_are_imported_with_a_notice(
    pack: Path, tmp_path: Path, capsys
) -> None:
    manifest = json.loads((pack / MANIFEST_NAME).read_text())
    manifest["format_version"] = 2
    manifest["app_version"] = "9.0.0"
    manifest["signed_by"] = "studio key"
    manifest["components"]["flux1-dev"]["files"]["model_index.json"]["blake3"] = "ab" * 32
    (pack / MANIFEST_NAME).write_text(json.dumps(manifest))
    code, _, err = _run(capsys, "models", "import", pack, "--models-dir", tmp_path / "b")
    assert code == 0, err
    assert "notice:" in err and "9.0.0" in err and "pack format 2" in err
    assert "signed_by" in err and 'components["flux1-dev"].files["model_index.json"].blake3' in err
    assert set(read_registry(tmp_path / "b")) == {"flux1-dev", "dit360-lora"}


def test_a_critical_field_this_version_does_not_know_is_refused_naming_it(
    pack: Path, tmp_path: Path, capsys
) -> None:
    manifest = json.loads((pack / MANIFEST_NAME).read_text())
    manifest.update(format_version=2, critical=["encryption"], encryption={"scheme": "age"})
    (pack / MANIFEST_NAME).write_text(json.dumps(manifest))
    code, _, err = _run(capsys, "models", "import", pack, "--models-dir", tmp_path / "b")
    assert code == 2 and "'encryption'" in err and "Update DiT360 Desktop" in err
    _nothing_registered(tmp_path / "b")


# --- drives: read-only and full ----------------------------------------------------------------------------
def test_a_pack_on_a_read_only_drive_imports(pack: Path, tmp_path: Path, capsys) -> None:
    stick = tmp_path / "read-only-stick"
    stick.mkdir()
    _mount(["--bind", str(pack), str(stick)])
    try:
        _mount(["-o", "remount,ro,bind", str(stick)])
        with pytest.raises(OSError, match="Read-only"):
            (stick / "probe").write_text("x")
        code, _, err = _run(capsys, "models", "import", stick, "--models-dir", tmp_path / "b")
    finally:
        subprocess.run(["umount", str(stick)], check=False, capture_output=True)
    assert code == 0, err
    assert set(read_registry(tmp_path / "b")) == {"flux1-dev", "dit360-lora"}


def test_import_onto_a_drive_too_small_is_refused_before_copying(
    pack: Path, small_drive: Path, capsys
) -> None:
    models = small_drive / "models"
    code, _, err = _run(capsys, "models", "import", pack, "--models-dir", models)
    assert code == 6 and "free" in err
    _nothing_registered(models)
    assert not (models / STAGING_DIR).exists()


def test_a_disk_that_fills_during_the_import_registers_nothing_and_resumes(
    pack: Path, small_drive: Path, capsys, monkeypatch
) -> None:
    """The free-space check passes (another program fills the disk after it): a real ENOSPC mid-copy."""
    monkeypatch.setattr(pack_module, "free_bytes", lambda _folder: 1 << 40)
    models = small_drive / "models"
    code, _, err = _run(capsys, "models", "import", pack, "--models-dir", models)
    assert code == 6 and "full" in err and "resume" in err
    _nothing_registered(models)
    staged = sum(p.stat().st_size for p in (models / STAGING_DIR).rglob("*") if p.is_file())
    assert staged > 0
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_drive)], check=True)
    result = import_pack(pack, models_dir=models)
    assert {e.component_id for e in result.entries} == {"flux1-dev", "dit360-lora"}
    assert result.copied_bytes < sum(c.total_bytes for c in pack_module.read_manifest(pack).components)
    assert _files(models / "flux1-dev") == _files(pack / "flux1-dev")


def test_a_full_disk_while_registering_undoes_the_move(
    pack: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    import errno

    def full(_path, _data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(registry_module, "atomic_write_json", full)
    models = tmp_path / "b"
    code, _, err = _run(capsys, "models", "import", pack, "--models-dir", models)
    assert code == 6 and "was not registered" in err
    assert not (models / "flux1-dev").exists() and not registry_path(models).exists()
    monkeypatch.undo()
    result = import_pack(pack, models_dir=models)
    assert result.copied_bytes == 0  # everything was staged and verified already
    assert set(read_registry(models)) == {"flux1-dev", "dit360-lora"}


def test_packing_onto_a_full_drive_leaves_no_pack(
    studio: Path, small_drive: Path, capsys, monkeypatch
) -> None:
    output = small_drive / "pack"
    code, _, err = _run(capsys, "models", "pack", "--output", output, "--models-dir", studio)
    assert code == 6 and "free" in err
    assert not output.exists()
    monkeypatch.setattr(pack_module, "free_bytes", lambda _folder: 1 << 40)
    code, _, err = _run(capsys, "models", "pack", "--output", output, "--models-dir", studio)
    assert code == 6 and "full" in err
    assert not output.exists() and list(small_drive.iterdir()) == []


# --- refusals when packing ------------------------------------------------------------------------------
def test_pack_refuses_an_installed_copy_that_no_longer_matches(studio: Path, tmp_path: Path, capsys) -> None:
    target = studio / "flux1-dev" / WEIGHTS
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01
    target.write_bytes(bytes(data))
    output = tmp_path / "pack"
    code, _, err = _run(capsys, "models", "pack", "--output", output, "--models-dir", studio)
    assert code == 4 and f"flux1-dev/{WEIGHTS}" in err and "verify --repair" in err
    assert not output.exists()


def test_pack_refuses_a_folder_that_is_not_empty_and_import_refuses_in_place(
    pack: Path, studio: Path, tmp_path: Path, capsys
) -> None:
    code, _, err = _run(capsys, "models", "pack", "--output", pack, "--models-dir", studio)
    assert code == 2 and "not an empty folder" in err
    code, _, err = _run(capsys, "models", "import", pack, "--in-place", "--models-dir", tmp_path / "b")
    assert code == 2 and "always copied" in err
    code, _, err = _run(
        capsys, "models", "pack", "--output", tmp_path / "p", "--models-dir", tmp_path / "empty"
    )
    assert code == 3 and "Nothing complete is installed" in err


def test_files_left_by_an_import_of_another_pack_do_not_land_in_the_model(pack: Path, tmp_path: Path) -> None:
    machine_b = tmp_path / "machine-b"
    stale = (
        machine_b
        / STAGING_DIR
        / "flux1-dev"
        / "transformer"
        / "diffusion_pytorch_model-00002-of-00002.safetensors"
    )
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left over")
    import_pack(pack, models_dir=machine_b)
    assert _files(machine_b / "flux1-dev") == _files(pack / "flux1-dev")


def test_a_single_file_lora_round_trips_as_a_file(tmp_path: Path, tiny_lora_dir: Path, capsys) -> None:
    machine_a = tmp_path / "a"
    import_model(tiny_lora_dir / "adapter_model.safetensors", mode=COPY, models_dir=machine_a)
    assert read_registry(machine_a)["dit360-lora"].path.is_file()
    code, _, err = _run(capsys, "models", "pack", "--output", tmp_path / "pack", "--models-dir", machine_a)
    assert code == 0, err
    manifest = json.loads((tmp_path / "pack" / MANIFEST_NAME).read_text())
    assert manifest["components"]["dit360-lora"]["entry"] == "file"
    code, _, err = _run(capsys, "models", "import", tmp_path / "pack", "--models-dir", tmp_path / "b")
    assert code == 0, err
    lora = tmp_path / "b" / "dit360-lora" / "adapter_model.safetensors"
    assert read_registry(tmp_path / "b")["dit360-lora"].path == lora
    assert installed_model_paths(tmp_path / "b").lora == lora
    assert _sha(lora) == _sha(tiny_lora_dir / "adapter_model.safetensors")


def test_packing_onto_a_read_only_drive_exits_2_naming_it(studio: Path, tmp_path: Path, capsys) -> None:
    drive = tmp_path / "read-only-drive"
    drive.mkdir()
    _mount(["--bind", str(drive), str(drive)])
    try:
        _mount(["-o", "remount,ro,bind", str(drive)])
        code, _, err = _run(capsys, "models", "pack", "--output", drive / "pack", "--models-dir", studio)
    finally:
        subprocess.run(["umount", str(drive)], check=False, capture_output=True)
    assert code == 2 and str(drive) in err and "Traceback" not in err
    assert list(drive.iterdir()) == []
