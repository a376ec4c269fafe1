from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from history_factory import make_result
from PIL import Image

from dit360_desktop.history import files, scan
from dit360_desktop.history.errors import EntryNotFoundError, LibraryDiskFullError
from dit360_desktop.history.library import DB_NAME, Library
from dit360_desktop.panorama import imageio


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_save_writes_png_with_metadata_and_thumbnail_then_row(library: Library) -> None:
    result = make_result(
        "This is a panorama image. Misty forest", seed=42, negative_prompt="blurry", width=1024, height=512
    )
    entry = library.save(result)

    assert entry.path.is_file() and entry.path.parent.parent == library.root / "images"
    assert entry.prompt == "This is a panorama image. Misty forest"
    assert entry.negative_prompt == "blurry"
    assert entry.seed == 42
    assert (entry.width, entry.height) == (1024, 512)
    assert entry.params == result.request.to_dict()
    assert entry.models == result.metadata["models"]
    assert entry.timings == {"denoising": 1.25, "decoding": 0.5}
    assert entry.favorite is False and entry.tags == () and entry.missing is False
    assert entry.request() == result.request

    meta = imageio.read_metadata(entry.path)
    assert meta.dit360["request"]["prompt"] == "This is a panorama image. Misty forest"
    assert meta.dit360["created_at"] == entry.created_at.isoformat()
    assert meta.gpano["ProjectionType"] == "equirectangular"
    with Image.open(entry.path) as saved:
        assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(result.image))

    assert entry.thumbnail_path is not None
    with Image.open(entry.thumbnail_path) as thumb:
        assert thumb.size == (512, 256)
        assert thumb.format == "JPEG"
    assert library.get(entry.id) == entry


def test_search_matches_prompt_words_as_prefixes_and_tags(library: Library) -> None:
    beach = library.save(make_result("A quiet beach at sunset", seed=1))
    forest = library.save(make_result("Misty pine forest at dawn", seed=2))
    city = library.save(make_result("Neon city street at night", seed=3, negative_prompt="beach"))
    library.set_tags(city.id, ["cyberpunk", "Favourite set"])

    assert [e.id for e in library.search("sun")] == [beach.id]
    assert [e.id for e in library.search("MISTY dawn")] == [forest.id]
    assert [e.id for e in library.search("cyber")] == [city.id]
    # The negative prompt is indexed but a plain search looks at prompts and tags only.
    assert [e.id for e in library.search("beach")] == [beach.id]
    assert {e.id for e in library.search("at")} == {beach.id, forest.id, city.id}
    assert library.count("at") == 3 and library.count("forest") == 1
    # A bare number also finds that seed.
    assert [e.id for e in library.search("2")] == [forest.id]
    # FTS syntax typed by the user is plain text, never an error.
    assert library.search('"AND (NEAR* :') == []
    assert len(library.search("!!!")) == 3


def test_order_favourites_limit_offset(library: Library) -> None:
    entries = [library.save(make_result(f"Panorama number {i}", seed=i)) for i in range(5)]
    newest = [e.id for e in library.search()]
    assert newest == [e.id for e in reversed(entries)]
    assert [e.id for e in library.search(order="oldest")] == [e.id for e in entries]
    assert [e.id for e in library.search(limit=2, offset=1)] == newest[1:3]
    assert library.ids() == newest
    assert [e.id for e in library.get_many([entries[3].id, 99999, entries[0].id])] == [
        entries[3].id,
        entries[0].id,
    ]

    library.set_favorite(entries[1].id, True)
    library.set_favorite(entries[3].id, True)
    assert [e.id for e in library.search(favorites_only=True)] == [entries[3].id, entries[1].id]
    assert library.count(favorites_only=True) == 2
    assert library.set_favorite(entries[3].id, False).favorite is False
    assert library.count(favorites_only=True) == 1
    with pytest.raises(ValueError, match="order"):
        library.search(order="sideways")


def test_tags_are_normalised_and_unknown_ids_raise(library: Library) -> None:
    entry = library.save(make_result())
    updated = library.set_tags(entry.id, ["  Sky ", "sky", "", "night  time", "Beach"])
    assert updated.tags == ("Sky", "night time", "Beach")
    assert library.all_tags() == ["Beach", "night time", "Sky"]
    assert [e.id for e in library.search("night")] == [entry.id]
    assert library.set_tags(entry.id, []).tags == ()
    assert library.search("night") == []
    with pytest.raises(EntryNotFoundError):
        library.get(entry.id + 100)
    with pytest.raises(EntryNotFoundError):
        library.set_favorite(entry.id + 100, True)


def test_delete_moves_the_file_to_the_trash(library: Library, temp_trash: Path) -> None:
    keep = library.save(make_result("keep me", seed=1))
    gone = library.save(make_result("delete me", seed=2))
    digest = _sha(gone.path)

    library.delete(gone.id)

    assert not gone.path.exists()
    assert gone.thumbnail_path is not None and not gone.thumbnail_path.exists()
    trashed = temp_trash / "files" / gone.path.name
    assert trashed.is_file() and _sha(trashed) == digest
    info = (temp_trash / "info" / f"{gone.path.name}.trashinfo").read_text()
    assert "Path=" in info
    assert [e.id for e in library.search()] == [keep.id]
    with pytest.raises(EntryNotFoundError):
        library.get(gone.id)


def test_rescan_rebuilds_the_index_from_the_files_alone(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    with Library.open(folder) as lib:
        saved = [
            lib.save(make_result(f"Scene {word}", seed=i))
            for i, word in enumerate(["alpha", "beta", "gamma"])
        ]
    for suffix in ("", "-wal", "-shm"):
        (folder / (DB_NAME + suffix)).unlink(missing_ok=True)

    with Library.open(folder) as lib:
        assert lib.open_report.adopted == 3
        rebuilt = {e.path: e for e in lib.search()}
        assert set(rebuilt) == {e.path for e in saved}
        for old in saved:
            new = rebuilt[old.path]
            assert (new.prompt, new.seed, new.params, new.models, new.timings, new.created_at) == (
                old.prompt,
                old.seed,
                old.params,
                old.models,
                old.timings,
                old.created_at,
            )
            assert new.thumbnail_path == old.thumbnail_path
        assert [e.path for e in lib.search("beta")] == [saved[1].path]
        assert any("added to the gallery" in n for n in lib.notices)


def test_rescan_keeps_favourites_and_tags_and_drops_stray_thumbnails(library: Library) -> None:
    entry = library.save(make_result("Desert dunes", seed=5))
    library.set_favorite(entry.id, True)
    library.set_tags(entry.id, ["sand"])
    stray = library.root / "thumbnails" / "2000-01" / "nothing.jpg"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"x")

    report = library.rescan()

    assert (report.scanned, report.refreshed, report.adopted, report.removed_thumbnails) == (1, 1, 0, 1)
    again = library.get(entry.id)
    assert again.favorite is True and again.tags == ("sand",)
    assert not stray.exists()
    assert [e.id for e in library.search("sand")] == [entry.id]


def test_orphans_are_adopted_and_foreign_pngs_skipped_on_open(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    Library.open(folder).close()
    result = make_result("Adopted glacier", seed=9)
    orphan = folder / "images" / "2023-02" / "dropped-in.png"
    orphan.parent.mkdir(parents=True)
    imageio.save_png(result.image, orphan, result.file_metadata())
    foreign = folder / "images" / "2023-02" / "screenshot.png"
    Image.new("RGB", (8, 8)).save(foreign)

    with Library.open(folder) as lib:
        assert lib.open_report.adopted == 1
        assert lib.open_report.unrecognised == [foreign]
        (entry,) = lib.search()
        assert entry.path == orphan and entry.prompt == "Adopted glacier" and entry.seed == 9
        # Its thumbnail did not exist; the gallery asks for it and it is made from the image.
        assert entry.thumbnail_path is not None and not entry.thumbnail_path.exists()
        made = lib.ensure_thumbnail(entry)
        assert made == entry.thumbnail_path and made.is_file()


def test_missing_file_is_flagged_then_restored(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    with Library.open(folder) as lib:
        entry = lib.save(make_result("Volcano", seed=3))
    moved = tmp_path / "moved.png"
    os.replace(entry.path, moved)

    with Library.open(folder) as lib:
        assert lib.get(entry.id).missing is True
        assert lib.open_report.flagged_missing == 1
        assert any("missing" in n for n in lib.notices)
    os.replace(moved, entry.path)
    with Library.open(folder) as lib:
        assert lib.get(entry.id).missing is False
        assert lib.open_report.restored == 1


def test_missing_thumbnail_is_regenerated(library: Library) -> None:
    entry = library.save(make_result("Canyon", seed=4, width=1024, height=512))
    assert entry.thumbnail_path is not None
    original = np.asarray(Image.open(entry.thumbnail_path).convert("RGB"), dtype=np.int16)
    entry.thumbnail_path.unlink()

    path = library.ensure_thumbnail(entry)

    regenerated = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    assert regenerated.shape == (256, 512, 3)
    # The same pixels through the same resize; only JPEG noise may differ.
    assert np.abs(regenerated - original).mean() < 2.0


def test_disk_full_while_writing_the_png_leaves_nothing(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write

    def full_disk(fd: int, data) -> int:
        # Half the PNG lands on disk, then the device is full: the realistic partial write.
        if len(data) > 2000:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(LibraryDiskFullError, match="disk is full"):
        library.save(make_result("Too big", seed=1, width=512, height=256))
    monkeypatch.undo()

    assert library.count() == 0
    leftovers = [p for p in library.root.rglob("*") if p.is_file() and p.parent != library.root]
    assert leftovers == []
    entry = library.save(make_result("Fits now", seed=2))
    assert library.count() == 1 and entry.path.is_file()


def test_index_full_on_insert_removes_the_png(library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    def index_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(scan, "upsert", index_full)
    with pytest.raises(LibraryDiskFullError):
        library.save(make_result("No room in the index", seed=1))
    monkeypatch.undo()

    assert library.count() == 0
    assert files.list_images(library.root) == [] and files.list_thumbnails(library.root) == []
    assert library.save(make_result("Room again", seed=2)).path.is_file()


def test_threads_of_one_process_open_one_library_at_once(tmp_path: Path) -> None:
    """The app opens the library for its gallery on the thread pool while the generation worker opens it
    to save the first result: both must get it (a write probe named by the pid alone was removed by the
    other thread, and the result went to the recovery folder)."""
    import threading

    folder = tmp_path / "library"
    count = 8
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def open_once() -> None:
        barrier.wait()
        try:
            Library.open(folder).close()
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    for _ in range(5):
        threads = [threading.Thread(target=open_once) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
    assert not [p for p in folder.iterdir() if p.name.startswith(files.PARTIAL_PREFIX)]
