"""The depth task through the engine's task table: progress, a preview Result, cancel leaves nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.core.tasks import depth as depth_task
from dit360_desktop.core.tasks import table
from dit360_desktop.panorama.depth_requests import DEPTH_FILE_NAME, DepthRequest
from dit360_desktop.panorama.depthmap import read_distance
from dit360_desktop.panorama.errors import GenerationCancelled, RequestError
from dit360_desktop.panorama.events import CancelToken, StepEvent
from dit360_desktop.panorama.request import GenerationRequest
from tests.core.depth.synthetic_room import room_panorama


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "room.png"
    Image.fromarray(room_panorama(128, 64)[0]).save(path)
    return path


def _request(source: Path, model: Path, work: Path, **changes) -> DepthRequest:
    return DepthRequest(source, model, GenerationRequest(prompt="a room"), work, device="cpu", **changes)


def test_the_table_runs_depth_and_keeps_the_model_loaded(
    source, tiny_depth_dir, tmp_path, monkeypatch
) -> None:
    assert "depth" in table.TASKS and "depth" in table.MODELS
    loads = []
    real_load = depth_task.load_depth_model
    monkeypatch.setattr(depth_task, "load_depth_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    engine = PanoramaEngine(None)
    events = []
    result = engine.run(_request(source, tiny_depth_dir, tmp_path / "w1", size=(64, 32)), events.append)
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert [e.step for e in steps] == list(range(9)) and steps[-1].total == 8
    assert result.image.mode == "L" and result.image.size == (64, 32)
    record = result.metadata["depth"]
    distance = read_distance(record["exr"])
    assert distance.shape == (32, 64) and record["views"] == 6 and record["metric"] is False
    # The preview is the map: its brightest pixel is the nearest.
    preview = np.asarray(result.image)
    assert preview.flat[distance.argmin()] == 255 and preview.flat[distance.argmax()] == 0
    assert result.request.prompt == "a room"
    engine.run(_request(source, tiny_depth_dir, tmp_path / "w2"))
    assert len(loads) == 1  # the second run found the model loaded


def test_cancel_between_views_leaves_nothing(source, tiny_depth_dir, tmp_path) -> None:
    cancel = CancelToken()

    def stop_at_view_three(event) -> None:
        if isinstance(event, StepEvent) and event.step == 3:
            cancel.cancel()

    work = tmp_path / "work"
    with pytest.raises(GenerationCancelled):
        PanoramaEngine(None).run(_request(source, tiny_depth_dir, work), stop_at_view_three, cancel)
    assert not (work / DEPTH_FILE_NAME).exists()


def test_a_size_that_is_not_two_to_one_is_refused(source, tiny_depth_dir, tmp_path) -> None:
    with pytest.raises(RequestError, match="twice as wide"):
        PanoramaEngine(None).run(_request(source, tiny_depth_dir, tmp_path, size=(60, 32)))


def test_the_table_runs_export_3d_into_the_work_folder(source, tmp_path) -> None:
    from plyfile import PlyData

    from dit360_desktop.panorama.depth_requests import EXPORT_3D_FILES, Export3DRequest
    from dit360_desktop.panorama.depthmap import save_distance_exr

    exr = save_distance_exr(room_panorama(128, 64)[1], tmp_path / "d.exr")
    request = Export3DRequest(
        source,
        exr,
        True,
        GenerationRequest(prompt="a room"),
        tmp_path / "out",
        ("glb", "ply", "splats"),
        stride=2,
    )
    result = PanoramaEngine(None).run(request)
    record = result.metadata["export_3d"]
    assert sorted(Path(p).name for p in record["files"].values()) == sorted(EXPORT_3D_FILES.values())
    assert record["mesh"]["faces"] > 0 and result.image.size == (128, 64)
    assert PlyData.read(record["files"]["splats"])["vertex"].count == 64 * 32
    with pytest.raises(RequestError, match="at least one"):
        PanoramaEngine(None).run(
            Export3DRequest(source, exr, True, GenerationRequest(prompt="x"), tmp_path / "o2", ())
        )
