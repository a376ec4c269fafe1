"""EXR cube faces are all or nothing, as the PNG faces: a full disk mid-way leaves nothing behind."""

from __future__ import annotations

import errno

import pytest
from history_factory import make_image

from dit360_desktop.history.errors import ExportDiskFullError
from dit360_desktop.history.export import ExportOptions, export_image
from dit360_desktop.panorama import hdr, projection

pytest.importorskip("OpenEXR")


def test_a_full_disk_on_the_fourth_exr_face_leaves_no_face_and_no_folder(tmp_path, monkeypatch) -> None:
    real = hdr.save_exr
    written = []

    def save_exr(linear, path):
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        return real(linear, path)

    monkeypatch.setattr(hdr, "save_exr", save_exr)
    out = tmp_path / "faces"
    options = ExportOptions(format="cubemap", face_format="exr", face_size=16)
    with pytest.raises(ExportDiskFullError):
        export_image(make_image(64, 32), None, out, options)
    assert len(written) == 3
    assert list(tmp_path.iterdir()) == []  # no faces, no folder, no staging folder


def test_exr_faces_land_together_in_their_folder(tmp_path) -> None:
    out = tmp_path / "faces"
    options = ExportOptions(format="cubemap", face_format="exr", face_size=16)
    written = export_image(make_image(64, 32), None, out, options)
    assert sorted(p.name for p in written) == sorted(f"{n}.exr" for n in projection.FACE_NAMES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces"]
