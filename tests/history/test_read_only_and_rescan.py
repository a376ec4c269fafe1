"""A read-only library still lists, shows and exports; a rescan makes every missing thumbnail again."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from history_factory import make_result
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.history import files
from dit360_desktop.history.library import Library


def _library_with(folder: Path, count: int) -> list[int]:
    with Library.open(folder) as library:
        return [library.save(make_result(seed=i + 1)).id for i in range(count)]


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(writable library, the same folder bind-mounted read-only): a real EROFS, as on a read-only share."""
    source = tmp_path / "library"
    view = tmp_path / "ro-view"
    _library_with(source, 3)
    view.mkdir()
    try:
        subprocess.run(["mount", "--bind", str(source), str(view)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("bind mounts need root (and mount) on Linux")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True, capture_output=True)
        yield source, view
    finally:
        subprocess.run(["umount", str(view)], check=False, capture_output=True)


def test_read_only_library_lists_shows_and_exports(read_only_view, tmp_path, capsys) -> None:
    _source, view = read_only_view
    with pytest.raises(OSError):
        (view / "probe").write_bytes(b"")  # the mount really is read-only
    assert main(["history", "list", "--library", str(view)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("seed ") == 3 and "read-only" in captured.err
    assert main(["history", "show", "1", "--library", str(view)]) == 0
    assert "param.prompt" in capsys.readouterr().out
    out = tmp_path / "exported.png"
    assert main(["history", "export", "2", "--format", "png", "--out", str(out), "--library", str(view)]) == 0
    assert Image.open(out).size == (64, 32)
    # Changing it is refused with the reason, and exit 2 (a library that cannot be written).
    assert main(["history", "delete", "1", "--library", str(view)]) == 2
    assert "read-only" in capsys.readouterr().err


def test_rescan_makes_every_missing_thumbnail(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "library"
    _library_with(folder, 6)
    thumbnails = sorted(folder / t for t in files.list_thumbnails(folder))
    assert len(thumbnails) == 6
    for thumbnail in thumbnails[:4]:
        thumbnail.unlink()
    thumbnails[4].write_bytes(b"")  # an empty file, as a crash mid-write on an old version left
    assert main(["history", "rescan", "--library", str(folder)]) == 0
    assert "5 missing thumbnail(s) made" in capsys.readouterr().out
    for thumbnail in thumbnails:
        with Image.open(thumbnail) as image:
            assert image.size == (64, 32)
