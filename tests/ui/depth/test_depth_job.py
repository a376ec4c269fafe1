"""A depth job on the generation worker: progress, a history entry linked to its source with the float map
beside it, and cancel leaving nothing behind."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dit360_desktop.history.files import depth_path_of
from dit360_desktop.history.library import Library
from dit360_desktop.panorama.depthmap import read_distance
from dit360_desktop.panorama.events import StepEvent
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.jobs import DepthJob


def test_a_depth_job_is_saved_as_an_entry_of_its_source_with_the_map_beside_it(
    qtbot, depth_worker, room_entry, tiny_depth_dir
) -> None:
    folder, source = room_entry
    steps, finished = [], []
    depth_worker.step_progress.connect(lambda job, event: steps.append((job, event)))
    depth_worker.job_finished.connect(finished.append)
    job_id = depth_worker.enqueue_depth(
        DepthJob(source.path, tiny_depth_dir), GenerationRequest(prompt="A room.")
    )
    qtbot.waitUntil(lambda: bool(finished), timeout=120_000)
    result = finished[0]
    assert result.job_id == job_id and result.save_error is None
    # One step per view and one for the merge, reported through the worker's progress signal.
    assert [e.step for j, e in steps if j == job_id] == list(range(9))
    assert all(isinstance(e, StepEvent) and e.total == 8 for _j, e in steps)
    entry = result.entry
    assert entry.parent_id == source.id
    depth_file = depth_path_of(entry.path)
    assert result.depth_path == str(depth_file) and depth_file.name.endswith(".depth.exr")
    assert depth_file.parent == entry.path.parent
    distance = read_distance(depth_file)
    assert distance.shape == (64, 128) and np.isfinite(distance).all() and (distance > 0).all()
    # The entry's picture is the map's preview: the nearest pixel is the brightest.
    preview = np.asarray(Image.open(entry.path).convert("L"))
    assert preview.flat[distance.argmin()] == 255 and preview.flat[distance.argmax()] == 0
    with Library.open(folder) as library:
        assert [child.id for child in library.children(source.id)] == [entry.id]
        assert library.get(entry.id).metadata["depth"]["source"] == str(source.path)
    # Deleting the depth entry takes its map along (to the trash, as the image).
    trashed = []
    with Library.open(folder, trash=lambda path: (trashed.append(path), path.unlink())) as library:
        library.delete(entry.id)
    assert depth_file in trashed and not depth_file.exists()


def test_cancelling_a_depth_job_leaves_no_entry_and_no_map(
    qtbot, depth_worker, room_entry, tiny_depth_dir
) -> None:
    folder, source = room_entry
    cancelled, finished = [], []
    depth_worker.job_cancelled.connect(cancelled.append)
    depth_worker.job_finished.connect(finished.append)

    def cancel_at_step_two(job, event) -> None:
        if event.step == 2:
            depth_worker.cancel_current()

    depth_worker.step_progress.connect(cancel_at_step_two)
    job_id = depth_worker.enqueue_depth(DepthJob(source.path, tiny_depth_dir), GenerationRequest(prompt="x"))
    qtbot.waitUntil(lambda: bool(cancelled or finished), timeout=120_000)
    assert cancelled == [job_id] and not finished
    with Library.open(folder) as library:
        assert library.children(source.id) == []
        assert library.count() == 1
    assert not list(folder.rglob("*.depth.exr"))


def test_a_stereo_job_is_saved_as_an_entry_of_its_source(qtbot, depth_worker, room_entry, tmp_path) -> None:
    from dit360_desktop.panorama.depthmap import save_distance_exr
    from dit360_desktop.ui.common.jobs import StereoJob
    from tests.core.depth.synthetic_room import room_panorama

    folder, source = room_entry
    truth = room_panorama(128, 64)[1]
    depth = save_distance_exr(truth, tmp_path / "room.exr")
    finished, failed = [], []
    depth_worker.job_finished.connect(finished.append)
    depth_worker.job_failed.connect(lambda job, report: failed.append(report.message))
    for ipd, metric in ((0.0, True), (0.064, True), (0.064, False)):
        depth_worker.enqueue_stereo(StereoJob(source.path, depth, metric, ipd), GenerationRequest(prompt="x"))
    qtbot.waitUntil(lambda: len(finished) + len(failed) == 3, timeout=120_000)
    assert not failed
    rgb = np.asarray(Image.open(source.path).convert("RGB"))
    pictures = [np.asarray(Image.open(f.entry.path).convert("RGB")) for f in finished]
    assert all(p.shape == (128, 128, 3) for p in pictures)
    # ipd 0: both eyes are the panorama; 6.4 cm: the eyes differ from each other and from the input.
    assert np.array_equal(pictures[0][:64], rgb) and np.array_equal(pictures[0][64:], rgb)
    assert not np.array_equal(pictures[1][:64], pictures[1][64:])
    # A relative map is taken at a 3 m median: not the metric result (the room's median is not 3 m).
    assert not np.array_equal(pictures[1], pictures[2])
    with Library.open(folder) as library:
        children = library.children(source.id)
    assert sorted(c.id for c in children) == sorted(f.entry.id for f in finished)
    assert finished[1].metadata["stereo"]["ipd_m"] == 0.064
    assert finished[1].metadata["stereo"]["layout"] == "top-bottom"
