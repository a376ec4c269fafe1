"""Every writer, every bad place to write: the documented exit code, a sentence naming the person's path
(never the temp file), and nothing left behind. Through the real commands (``dit360_desktop.cli.main``).

Rows: the writers (``history export`` in each format, ``place --canvas-only``) × the targets (a missing
folder, a folder, a FIFO, ``/dev/full``, a read-only folder, a full drive, and a 250-byte name that must
work). Read-only and full drives are small tmpfs mounts when running as root (as CI does), and permissions
otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.history.library import Library
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX FIFOs, devices and mounts")

WIDTH, HEIGHT = 256, 128


def _run(*command: str) -> bool:
    return subprocess.run(command, capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("library")
    rng = np.random.default_rng(5)
    image = Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8), "RGB")
    request = GenerationRequest(prompt="a harbour", seed=3, width=WIDTH, height=HEIGHT)
    with Library.open(folder) as lib:
        entry = lib.save(Result(image=image, request=request, metadata={}))
    return folder, entry.id


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.fromarray(np.full((90, 120, 3), 180, np.uint8)).save(path)
    return path


@pytest.fixture
def small_drive() -> Iterator[Path]:
    """A 192 KiB tmpfs (root), so that a write really ends in ENOSPC; skipped where none can be mounted."""
    base = Path(tempfile.mkdtemp(prefix="dit360-full-"))
    if os.geteuid() != 0 or not _run("mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(base)):
        base.rmdir()
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield base
    finally:
        _run("umount", str(base))
        base.rmdir()


@pytest.fixture
def read_only_folder() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="dit360-ro-"))
    mounted = False
    if os.geteuid() == 0:
        if not _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(base)):
            base.rmdir()
            pytest.skip("running as root and cannot mount a tmpfs to make a read-only folder")
        mounted = _run("mount", "-o", "remount,ro", str(base))
        assert mounted
    else:
        base.chmod(0o555)
    try:
        yield base
    finally:
        if mounted:
            _run("umount", str(base))
        base.chmod(0o755)
        base.rmdir()


def export(fmt: str, *extra: str):
    def argv(lib, photo, out):
        return ["history", "export", str(lib[1]), "--library", str(lib[0]), "--format", fmt, *extra]

    return lambda lib, photo, out: [*argv(lib, photo, out), "--out", str(out)]


WRITERS = {
    "png": export("png"),
    "jpeg-gpano": export("jpeg-gpano"),
    "perspective": export("perspective", "--size", "200x100"),
    "exr": export("exr"),
    "cubemap": export("cubemap"),
    "canvas-only": lambda lib, photo, out: [
        *("place", "--photo", str(photo), "--height", "128", "--canvas-only", str(out))
    ],
}
SUFFIX = {"png": ".png", "jpeg-gpano": ".jpg", "perspective": ".jpg", "exr": ".exr", "cubemap": ""}
SUFFIX["canvas-only"] = ".png"


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".partial-"))


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_file_in_the_folder_path_exits_2_naming_the_path(writer, library, photo, tmp_path, capsys):
    # Exports create a missing folder (a fresh account has no ~/Pictures); a file in the way cannot be.
    (tmp_path / "not-a-folder").write_text("a file where a folder should be")
    out = tmp_path / "not-a-folder" / "deeper" / f"out{SUFFIX[writer]}"
    code, err = run_cli(WRITERS[writer](library, photo, out), capsys)
    assert code == 2, err
    assert "not-a-folder" in err and ".partial-" not in err and "unexpected" not in err
    assert leftovers(tmp_path) == []


def test_canvas_only_into_a_missing_folder_exits_2(photo, tmp_path, capsys):
    out = tmp_path / "missing" / "canvas.png"
    code, err = run_cli(WRITERS["canvas-only"](None, photo, out), capsys)
    assert code == 2 and str(out) in err and "does not exist" in err
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("writer", [w for w in WRITERS if w != "cubemap"])
@pytest.mark.parametrize("target", ["folder", "fifo", "dev-full"])
def test_a_folder_fifo_or_device_is_refused_with_exit_2(writer, target, library, photo, tmp_path, capsys):
    if target == "folder":
        out = tmp_path / f"a-folder{SUFFIX[writer]}"
        out.mkdir()
    elif target == "fifo":
        out = tmp_path / f"pipe{SUFFIX[writer]}"
        os.mkfifo(out)
    else:
        out = Path("/dev/full")
    code, err = run_cli(WRITERS[writer](library, photo, out), capsys)
    assert code == 2, err
    assert str(out) in err and ".partial-" not in err
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("writer", list(WRITERS))
def test_read_only_folder_exits_2(writer, library, photo, read_only_folder, capsys):
    out = read_only_folder / f"out{SUFFIX[writer]}"
    code, err = run_cli(WRITERS[writer](library, photo, out), capsys)
    assert code == 2, err
    assert str(read_only_folder) in err and ".partial-" not in err
    assert list(read_only_folder.iterdir()) == []


@pytest.mark.parametrize("writer", list(WRITERS))
def test_full_drive_exits_6_and_leaves_nothing(writer, library, photo, small_drive, capsys):
    # Fill the drive to the last page: a temp file can still be created (an inode), not written.
    with (small_drive / "filler").open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    out = small_drive / f"out{SUFFIX[writer]}"
    code, err = run_cli(WRITERS[writer](library, photo, out), capsys)
    assert code == 6, err
    assert str(small_drive) in err and ".partial-" not in err and "unexpected" not in err
    assert sorted(p.name for p in small_drive.iterdir()) == ["filler"]


@pytest.mark.parametrize("writer", [w for w in WRITERS if w != "cubemap"])
def test_a_long_legal_name_is_written(writer, library, photo, tmp_path, capsys):
    suffix = SUFFIX[writer]
    # 250 bytes with the suffix (and the canvas's ".mask.png" sibling still under 255 for canvas-only).
    length = (245 if writer == "canvas-only" else 250) - len(suffix)
    out = tmp_path / ("n" * length + suffix)
    code, err = run_cli(WRITERS[writer](library, photo, out), capsys)
    assert code == 0, err
    assert out.is_file() and out.stat().st_size > 0
    assert leftovers(tmp_path) == []


def test_cubemap_over_an_older_export_replaces_the_whole_set(library, photo, tmp_path, capsys):
    out = tmp_path / "faces"
    base = WRITERS["cubemap"](library, photo, out)
    assert run_cli([*base, "--face-format", "jpeg"], capsys)[0] == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n}.jpg" for n in ("px", "nx", "py", "ny", "pz", "nz")
    )
    (out / "notes.txt").write_text("mine")
    assert run_cli(base, capsys)[0] == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*(f"{n}.png" for n in ("px", "nx", "py", "ny", "pz", "nz")), "notes.txt"])
    assert leftovers(tmp_path) == []


def test_cubemap_on_a_full_drive_keeps_the_older_export_whole(library, photo, small_drive, capsys):
    out = small_drive / "faces"
    base = WRITERS["cubemap"](library, photo, out)
    assert run_cli([*base, "--face-format", "jpeg", "--face-size", "16"], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with (small_drive / "filler").open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    code, err = run_cli(base, capsys)
    assert code == 6, err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in small_drive.iterdir()) == ["faces", "filler"]
