"""A cubemap export writes all six faces or none: a full disk half-way leaves nothing behind."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.history.errors import ExportDiskFullError, ExportError
from dit360_desktop.history.export import ExportOptions, export_image
from dit360_desktop.panorama import imageio

CUBEMAP = ExportOptions(format="cubemap", face_size=32)


def _panorama() -> Image.Image:
    x = np.linspace(0, 255, 256)[None, :]
    y = np.linspace(0, 255, 128)[:, None]
    return Image.fromarray(np.stack(np.broadcast_arrays(x, y, 255 - x), axis=-1).astype(np.uint8))


def _fill_disk_after(monkeypatch: pytest.MonkeyPatch, good_writes: int) -> None:
    real = imageio.write_atomic
    calls = []

    def write(path, data):
        calls.append(path)
        if len(calls) > good_writes:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(imageio, "write_atomic", write)


def test_disk_full_after_two_faces_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill_disk_after(monkeypatch, 2)
    out = tmp_path / "sky"
    with pytest.raises(ExportDiskFullError):
        export_image(_panorama(), None, out, CUBEMAP)
    assert list(tmp_path.iterdir()) == []


def test_into_an_existing_folder_the_old_faces_stay_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sky"
    first = export_image(_panorama(), None, out, CUBEMAP)
    before = {p.name: p.read_bytes() for p in first}
    (out / "notes.txt").write_text("mine")
    _fill_disk_after(monkeypatch, 4)
    with pytest.raises(ExportDiskFullError):
        export_image(_panorama().rotate(180), None, out, CUBEMAP)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.suffix == ".png"} == before
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sky"]


def test_a_complete_export_replaces_an_empty_folder_and_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "sky"
    out.mkdir()
    written = export_image(_panorama(), None, out, CUBEMAP)
    assert sorted(p.name for p in written) == sorted(f"{n}.png" for n in ("px", "nx", "py", "ny", "pz", "nz"))
    assert all(Image.open(p).size == (32, 32) for p in written)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="file"):
        export_image(_panorama(), None, blocker, CUBEMAP)
    assert blocker.read_text() == "x"
