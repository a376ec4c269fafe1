"""Edit lineage in the library: parent links, the mask kept beside the edit, rebuilds and old libraries."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import numpy as np
from history_factory import make_result
from PIL import Image

from dit360_desktop.history import schema
from dit360_desktop.history.library import DB_NAME, Library
from dit360_desktop.panorama.result import Result

V1_FIXTURE = Path(__file__).parent / "fixtures" / "library_v1.sql"


def _mask_file(path: Path, width: int = 64, height: int = 32) -> Path:
    mask = np.zeros((height, width), np.uint8)
    mask[:, : width // 4] = 255
    mask[:, width // 4 : width // 2] = 128
    Image.fromarray(mask, mode="L").save(path)
    return path


def _edit_of(parent_path: Path | str, mask: Path, seed: int = 7) -> Result:
    base = make_result("This is a panorama image. The same beach, a boat added", seed=seed)
    request = base.request.replace(
        init_image=str(parent_path), mask_image=str(mask), edit_method="blend", strength=0.9, feather=4
    )
    return dataclasses.replace(base, request=request)


def test_an_edit_of_a_library_image_links_its_parent_and_keeps_its_mask(library, tmp_path):
    parent = library.save(make_result(seed=1))
    mask = _mask_file(tmp_path / "temp-mask.png")
    edit = library.save(_edit_of(parent.path, mask))

    assert edit.parent_id == parent.id
    assert parent.parent_id is None and parent.mask_path is None
    assert edit.mask_path is not None and edit.mask_path.parent == edit.path.parent
    assert edit.mask_path.name == edit.path.stem + ".mask.png"
    with Image.open(edit.mask_path) as stored:
        assert stored.mode == "L"
        assert np.array_equal(np.asarray(stored), np.asarray(Image.open(mask)))
    # The stored request points at the kept mask, not the temporary one: re-use gets it back.
    mask.unlink()
    assert edit.request().mask_image == str(edit.mask_path)
    assert edit.request().init_image == str(parent.path)
    assert [c.id for c in library.children(parent.id)] == [edit.id]
    # The mask is not a gallery entry of its own.
    assert library.count() == 2


def test_an_edit_of_an_outside_image_has_no_parent(library, tmp_path):
    outside = tmp_path / "photo-canvas.png"
    make_result(seed=3).image.save(outside)
    edit = library.save(_edit_of(outside, _mask_file(tmp_path / "m.png")))
    assert edit.parent_id is None
    assert edit.mask_path is not None and edit.mask_path.exists()


def test_an_unreadable_mask_still_saves_the_edit(library, tmp_path, caplog):
    parent = library.save(make_result(seed=1))
    broken = tmp_path / "gone.png"
    broken.write_bytes(b"not a png")
    edit = library.save(_edit_of(parent.path, broken))
    assert edit.path.exists() and edit.parent_id == parent.id
    assert edit.mask_path is None
    assert "could not be stored" in caplog.text


def test_rebuild_from_the_files_links_the_lineage_again(tmp_path):
    folder = tmp_path / "library"
    with Library.open(folder) as lib:
        parent = lib.save(make_result(seed=1))
        edit = lib.save(_edit_of(parent.path, _mask_file(tmp_path / "m.png")))
        again = lib.save(_edit_of(edit.path, _mask_file(tmp_path / "m2.png"), seed=9))
        parent_file = parent.path.name
    (folder / DB_NAME).unlink()
    for suffix in ("-wal", "-shm"):
        (folder / (DB_NAME + suffix)).unlink(missing_ok=True)
    with Library.open(folder) as lib:
        entries = {e.path.name: e for e in lib.search()}
        assert len(entries) == 3 and lib.open_report.unrecognised == []
        rebuilt_parent = entries[parent_file]
        rebuilt_edit = entries[edit.path.name]
        rebuilt_again = entries[again.path.name]
        assert rebuilt_edit.parent_id == rebuilt_parent.id
        assert rebuilt_again.parent_id == rebuilt_edit.id
        assert rebuilt_again.mask_path == again.mask_path


def test_deleting_a_parent_unlinks_its_edits_and_trashes_masks(tmp_path):
    trashed: list[Path] = []
    with Library.open(tmp_path / "library", trash=lambda p: (trashed.append(p), p.unlink())) as lib:
        parent = lib.save(make_result(seed=1))
        edit = lib.save(_edit_of(parent.path, _mask_file(tmp_path / "m.png")))
        lib.delete(parent.id)
        assert lib.get(edit.id).parent_id is None
        lib.delete(edit.id)
        assert edit.mask_path in trashed and not edit.mask_path.exists()


def test_a_v1_library_migrates_to_lineage_columns(tmp_path):
    folder = tmp_path / "library"
    folder.mkdir()
    conn = sqlite3.connect(folder / DB_NAME)
    conn.executescript(V1_FIXTURE.read_text(encoding="utf-8"))
    conn.close()
    with Library.open(folder) as lib:
        entries = lib.search(order="oldest")
        assert [e.seed for e in entries] == [11, 12, 13]
        assert all(e.parent_id is None and e.mask_path is None for e in entries)
        edit = lib.save(_edit_of(folder / "images" / "x.png", _mask_file(tmp_path / "m.png")))
        assert edit.mask_path is not None
    conn = sqlite3.connect(folder / DB_NAME)
    assert schema.schema_version(conn) == schema.CURRENT_VERSION >= 3
    columns = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
    assert {"parent_id", "parent_file", "mask"} <= columns
    conn.close()
