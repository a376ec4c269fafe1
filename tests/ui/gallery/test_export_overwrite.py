"""Issue 21, item 3: exports ask before replacing files (the EXR export overwrote silently); declining
keeps the dialog open and the file as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")

from dit360_desktop.ui.gallery.export_dialog import ExportDialog


class FakeEntry:
    def __init__(self, path: Path) -> None:
        self.path, self.missing, self.width, self.height, self.id = path, False, 256, 128, 1
        self.metadata = {}


@pytest.mark.parametrize(
    ("fmt", "name", "existing"),
    [
        ("exr", "pano.exr", ["pano.exr"]),
        ("jpeg-gpano", "pano-360.jpg", ["pano-360.jpg"]),
        ("hdr", "pano.hdr", ["pano.hdr"]),
        ("cubemap", "cube", ["cube/px.png", "cube/nz.png"]),
    ],
)
def test_replacing_asks_first(qtbot, tmp_path: Path, fmt: str, name: str, existing: list[str]) -> None:
    for rel in existing:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"the artist's earlier export")
    dialog = ExportDialog(FakeEntry(tmp_path / "pano.png"), initial_format=fmt, folder=tmp_path, folders={})
    qtbot.addWidget(dialog)
    asked: list[list[Path]] = []
    answer = {"yes": False}
    dialog.confirm_overwrite = lambda paths: asked.append(paths) or answer["yes"]
    dialog.path.setText(str(tmp_path / name))
    dialog.accept()
    assert sorted(asked[0]) == sorted(tmp_path / rel for rel in existing)
    assert dialog.result() != ExportDialog.DialogCode.Accepted  # declined: still open, nothing written
    answer["yes"] = True
    dialog.accept()
    assert dialog.result() == ExportDialog.DialogCode.Accepted
    assert all((tmp_path / rel).read_bytes() == b"the artist's earlier export" for rel in existing)


def test_a_new_file_is_not_asked_about(qtbot, tmp_path: Path) -> None:
    dialog = ExportDialog(FakeEntry(tmp_path / "pano.png"), initial_format="exr", folder=tmp_path, folders={})
    qtbot.addWidget(dialog)
    dialog.confirm_overwrite = lambda paths: pytest.fail(f"asked about {paths}")
    dialog.path.setText(str(tmp_path / "missing" / "new.exr"))
    dialog.accept()
    assert dialog.result() == ExportDialog.DialogCode.Accepted
