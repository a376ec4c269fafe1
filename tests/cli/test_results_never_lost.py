"""`dit360 generate` never loses a finished panorama and checks every path before the model loads."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
from pathlib import Path

import pytest
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.panorama.imageio import read_metadata


def args_for(tiny_flux_dir: Path, *extra: str) -> list[str]:
    return [
        "generate",
        "--prompt",
        "a quiet bay",
        "--model",
        str(tiny_flux_dir),
        "--width",
        "128",
        "--height",
        "64",
        "--steps",
        "2",
        "--seed",
        "5",
        "--device",
        "cpu",
        "--lora",
        "none",
        "--quiet",
        *extra,
    ]


@pytest.fixture
def no_model_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if a test that should stop at the pre-flight check reaches the engine."""
    from dit360_desktop.core import engine

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(engine.PanoramaEngine, "run", refuse)


def _run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


# --- pre-flight: bad paths exit 2 (or 6 for space) naming the path, before the model loads ------------


def test_output_that_is_a_folder_exits_2_before_loading(tiny_flux_dir, tmp_path, capsys, no_model_load):
    folder = tmp_path / "out.png"
    folder.mkdir()
    code, _, err = _run(capsys, args_for(tiny_flux_dir, "--output", str(folder), "--no-history"))
    assert code == 2 and "--output" in err and str(folder) in err and "folder" in err


def test_output_over_a_device_is_refused_and_the_device_kept(tiny_flux_dir, tmp_path, capsys, no_model_load):
    device = tmp_path / "full"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # what /dev/full is
    except (PermissionError, AttributeError):
        pytest.skip("creating a device node needs root on POSIX")
    code, _, err = _run(capsys, args_for(tiny_flux_dir, "--output", str(device), "--no-history"))
    assert code == 2 and str(device) in err and "device" in err
    assert stat.S_ISCHR(device.stat().st_mode)


def test_output_in_an_unwritable_folder_exits_2(tiny_flux_dir, capsys, no_model_load):
    if not Path("/sys/kernel").is_dir():
        pytest.skip("needs Linux /sys, which refuses new files even to root")
    code, _, err = _run(capsys, args_for(tiny_flux_dir, "--output", "/sys/pano.png", "--no-history"))
    assert code == 2 and "--output" in err and "/sys" in err


@pytest.mark.parametrize("option", ["--output", "--save-latent"])
def test_read_only_file_system_exits_2(option, tiny_flux_dir, tmp_path, capsys, monkeypatch, no_model_load):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    real_open = os.open

    # Keyword arguments too: shutil.rmtree opens folders with dir_fd=.
    def open_on_read_only_fs(path, flags, *rest, **kwargs):
        if str(path).startswith(str(read_only)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *rest, **kwargs)

    monkeypatch.setattr(os, "open", open_on_read_only_fs)
    name = "pano.png" if option == "--output" else "pano.safetensors"
    code, _, err = _run(capsys, args_for(tiny_flux_dir, option, str(read_only / name), "--no-history"))
    assert code == 2 and option in err and "read-only" in err and str(read_only) in err


def test_library_that_is_a_file_exits_2(tiny_flux_dir, tmp_path, capsys, no_model_load):
    not_a_folder = tmp_path / "library"
    not_a_folder.write_text("I am a file")
    code, _, err = _run(capsys, args_for(tiny_flux_dir, "--library", str(not_a_folder)))
    assert code == 2 and "--library" in err and str(not_a_folder) in err
    assert not_a_folder.read_text() == "I am a file"


def test_too_little_space_exits_6_before_loading(tiny_flux_dir, tmp_path, capsys, monkeypatch, no_model_load):
    import shutil

    from dit360_desktop.cli import preflight

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda _p: usage._replace(free=1000))
    out = tmp_path / "pano.png"
    code, _, err = _run(capsys, args_for(tiny_flux_dir, "--output", str(out), "--no-history"))
    assert code == 6 and str(tmp_path) in err and not out.exists()


def test_nul_in_the_prompt_is_refused(tiny_flux_dir, tmp_path, capsys, no_model_load):
    args = args_for(tiny_flux_dir, "--no-history")
    args[args.index("--prompt") + 1] = "a bay\x00at night"
    code, _, err = _run(capsys, args)
    assert code == 2 and "--prompt" in err and "NUL" in err


# --- after generating: the picture survives every failure -------------------------------------------


def _disk_full(*_args: object, **_kwargs: object):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_library_full_after_generating_still_writes_output(tiny_flux_dir, tmp_path, capsys, monkeypatch):
    from dit360_desktop.history.library import Library

    monkeypatch.setattr(Library, "save", _disk_full)
    out = tmp_path / "pano.png"
    library = tmp_path / "lib"
    code, stdout, err = _run(capsys, args_for(tiny_flux_dir, "--output", str(out), "--library", str(library)))
    assert code == 6
    assert Image.open(out).size == (128, 64)
    assert f"saved to {out}" in err and str(out) in stdout


def test_library_failure_without_output_writes_a_recovery_copy(
    tiny_flux_dir, tmp_path, capsys, monkeypatch, isolated_home
):
    from dit360_desktop.history.errors import LibraryReadOnlyError
    from dit360_desktop.history.library import Library
    from dit360_desktop.history.recovery import recovery_dir

    def read_only(*_args: object, **_kwargs: object):
        raise LibraryReadOnlyError("The library folder became read-only.")

    monkeypatch.setattr(Library, "save", read_only)
    code, stdout, err = _run(capsys, args_for(tiny_flux_dir, "--library", str(tmp_path / "lib")))
    assert code == 2 and "read-only" in err
    saved = list(recovery_dir().glob("*.png"))
    assert len(saved) == 1 and saved[0].is_relative_to(isolated_home)
    assert str(saved[0]) in err and str(saved[0]) in stdout
    assert read_metadata(saved[0]).dit360["request"]["seed"] == 5


def test_disk_full_on_the_latent_keeps_the_picture(tiny_flux_dir, tmp_path, capsys, monkeypatch):
    from dit360_desktop.core import latents

    monkeypatch.setattr(latents, "write_atomic", _disk_full)
    out = tmp_path / "pano.png"
    latent = tmp_path / "pano.safetensors"
    args = args_for(tiny_flux_dir, "--output", str(out), "--save-latent", str(latent), "--no-history")
    code, _, err = _run(capsys, args)
    assert code == 6 and "disk is full" in err
    assert out.is_file() and not latent.exists()


def test_ctrl_c_during_the_save_finishes_it(tiny_flux_dir, tmp_path, capsys, monkeypatch):
    from dit360_desktop.history.library import Library

    original = Library.save

    def interrupted_save(self, result):
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C while the library writes
        return original(self, result)

    monkeypatch.setattr(Library, "save", interrupted_save)
    out = tmp_path / "pano.png"
    library = tmp_path / "lib"
    code, _, err = _run(capsys, args_for(tiny_flux_dir, "--output", str(out), "--library", str(library)))
    assert code == 130 and "saved first" in err
    assert out.is_file() and len(list(library.rglob("images/**/*.png"))) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_read_only_library_exits_2_before_loading(tiny_flux_dir, tmp_path, capsys, no_model_load):
    import subprocess

    library = tmp_path / "lib"
    library.mkdir()
    try:
        subprocess.run(["mount", "--bind", str(library), str(library)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("a read-only bind mount needs root (and mount) on Linux")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(library)], check=True, capture_output=True)
        code, _, err = _run(capsys, args_for(tiny_flux_dir, "--library", str(library)))
    finally:
        subprocess.run(["umount", str(library)], check=False, capture_output=True)
    assert code == 2 and str(library) in err and "read-only" in err


def test_a_really_full_library_drive_sends_the_picture_to_the_recovery_folder(
    tiny_flux_dir, tmp_path, capsys, monkeypatch, isolated_home
):
    """A real ENOSPC: the library is on a 4 MB tmpfs that fills up while the panorama is generated."""
    import subprocess

    from dit360_desktop.core import engine
    from dit360_desktop.history.recovery import recovery_dir

    drive = tmp_path / "small-drive"
    drive.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(drive)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("mounting a tmpfs needs root (and mount) on Linux")
    original = engine.PanoramaEngine.run

    def run_then_fill_the_drive(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        # Another program takes the last free space while the model runs.
        with (drive / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 65536)
        return result

    monkeypatch.setattr(engine.PanoramaEngine, "run", run_then_fill_the_drive)
    try:
        code, _, err = _run(capsys, args_for(tiny_flux_dir, "--library", str(drive / "lib")))
        in_library = list((drive / "lib").rglob("images/**/*.png"))
    finally:
        subprocess.run(["umount", str(drive)], check=False, capture_output=True)
    assert code == 6 and "full" in err
    assert in_library == []
    saved = list(recovery_dir().glob("*.png"))
    assert len(saved) == 1 and str(saved[0]) in err
    assert Image.open(saved[0]).size == (128, 64)
