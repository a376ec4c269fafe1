"""The Depth & 3D exports report determinate progress (a fraction per step), and a cancel at any step
leaves nothing half-written: no file, no temp file, and an existing file as it was."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.fileio import TEMP_PREFIX
from dit360_desktop.ui.depth.exports import Export, write_export
from tests.core.depth.synthetic_room import room_panorama

KINDS = ("depth-exr", "depth-png", "glb", "points", "splats", "stereo")


class Stop(Exception):
    """What a cancel raises from the progress callback (the app's is OpCancelled)."""


@pytest.fixture(scope="module")
def room() -> tuple[np.ndarray, np.ndarray]:
    rgb, distance = room_panorama(512, 256)
    return rgb, distance


def _export(kind: str, folder) -> Export:
    suffix = {"depth-exr": ".exr", "glb": ".glb", "points": ".ply", "splats": ".ply"}.get(kind, ".png")
    return Export(kind, folder / f"out{suffix}", stride=1, ipd=0.064, metric=True)


def _steps(kind, room, tmp_path) -> list[float]:
    seen: list[float] = []
    write_export(_export(kind, tmp_path), *room, lambda fraction, _what: seen.append(fraction))
    return seen


@pytest.mark.parametrize("kind", KINDS)
def test_progress_runs_from_zero_to_one(kind, room, tmp_path, monkeypatch) -> None:
    from dit360_desktop.panorama import fileio

    monkeypatch.setattr(fileio, "WRITE_CHUNK_BYTES", 256 << 10)  # several chunks at this size
    seen = _steps(kind, room, tmp_path)
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in itertools.pairwise(seen))
    if kind not in ("depth-exr", "depth-png"):  # one encoder call each: start and end only
        assert len({round(f, 6) for f in seen}) >= 4, seen  # the steps, and the chunks written


@pytest.mark.parametrize("kind", KINDS)
def test_a_cancel_at_any_step_leaves_nothing(kind, room, tmp_path, monkeypatch) -> None:
    from dit360_desktop.panorama import fileio

    monkeypatch.setattr(fileio, "WRITE_CHUNK_BYTES", 256 << 10)
    (tmp_path / "count").mkdir()
    steps = len(_steps(kind, room, tmp_path / "count"))
    assert steps >= 2
    for existing in (False, True):
        for stop_at in range(steps - 1 if kind.startswith("depth") else steps):
            folder = tmp_path / f"{existing}-{stop_at}"
            folder.mkdir()
            export = _export(kind, folder)
            if existing:
                export.path.write_bytes(b"the file from before")
            calls = []

            def progress(fraction: float, _what: str, calls=calls, stop_at=stop_at) -> None:
                calls.append(fraction)
                if len(calls) > stop_at:
                    raise Stop

            with pytest.raises(Stop):
                write_export(export, *room, progress)
            names = sorted(p.name for p in folder.iterdir())
            assert not any(name.startswith(TEMP_PREFIX) for name in names), names
            if existing:
                assert export.path.read_bytes() == b"the file from before"
            else:
                assert names == [], (stop_at, names)


def test_a_writer_refusal_is_a_sentence_not_an_unexpected_error(tmp_path) -> None:
    rgb = np.zeros((32, 64, 3), np.uint8)
    distance = np.ones((32, 64), np.float32)
    # Columns alternate near and far in pairs: every triangle spans a depth edge and is cut.
    distance[:, (np.arange(64) // 2) % 2 == 0] = 50.0
    with pytest.raises(RequestError) as caught:
        write_export(Export("glb", tmp_path / "cut.glb", stride=1, metric=True), rgb, distance)
    assert caught.value.field == "glb" and "cut edges off" in str(caught.value)
    assert not any(tmp_path.iterdir())


def test_a_preview_mesh_with_every_triangle_cut_is_a_sentence() -> None:
    from dit360_desktop.ui.depth.parallax import build_preview_mesh

    rgb = np.zeros((32, 64, 3), np.uint8)
    distance = np.ones((32, 64), np.float32)
    distance[:, (np.arange(64) // 2) % 2 == 0] = 50.0
    with pytest.raises(RequestError) as caught:
        build_preview_mesh(rgb, distance, metric=True, stride=1)
    assert caught.value.field == "parallax preview" and "cut" in str(caught.value)
