"""Moving a library folder (Settings → Library folder → move the files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from history_factory import make_result

from dit360_desktop.history.errors import LibraryError
from dit360_desktop.history.library import Library
from dit360_desktop.history.move import library_parts, move_library


def test_move_keeps_every_entry_and_file(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "elsewhere" / "new"
    with Library.open(old) as library:
        saved = [library.save(make_result(seed=seed)) for seed in (1, 2, 3)]
        (old / "notes.txt").write_text("not the library's")
    before = {entry.id: entry.path.read_bytes() for entry in saved}
    assert move_library(old, new) >= 3
    assert (old / "notes.txt").is_file() and not library_parts(old)
    with Library.open(new) as moved:
        assert moved.count() == 3
        for entry in saved:
            again = moved.get(entry.id)
            assert again.path == new / entry.path.relative_to(old)
            assert again.path.read_bytes() == before[entry.id] and not again.missing


def test_move_refuses_a_folder_with_a_library(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    Library.open(old).close()
    Library.open(new).close()
    with pytest.raises(LibraryError, match="already holds a library"):
        move_library(old, new)
    with pytest.raises(LibraryError, match="inside the old one"):
        move_library(old, old / "sub")
    assert move_library(old, old) == 0
