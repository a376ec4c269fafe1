"""A library with one room panorama, a tiny random-weight Depth Anything V2, and a worker that runs depth
jobs on a real engine (no FLUX needed: the depth task loads only the depth model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.testing.tiny_depth import build_tiny_depth
from tests.core.depth.synthetic_room import room_panorama


@pytest.fixture(scope="session")
def tiny_depth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_depth(tmp_path_factory.mktemp("tiny-depth") / "Depth-Anything-V2-Tiny")


@pytest.fixture
def room_entry(tmp_path):
    """(library folder, the entry of a 128×64 room panorama saved with a prompt)."""
    from dit360_desktop.history.library import Library
    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.panorama.result import Result

    pixels = np.ascontiguousarray(room_panorama(128, 64)[0])
    folder = tmp_path / "library"
    request = GenerationRequest(prompt="This is a panorama image. A room.", seed=3, width=128, height=64)
    with Library.open(folder) as library:
        entry = library.save(Result(image=Image.fromarray(pixels), request=request, metadata={}))
    return folder, entry


@pytest.fixture
def depth_worker(make_worker, room_entry):
    """A started worker that saves into the room's library."""
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.history.library import Library

    folder, _entry = room_entry
    engine = PanoramaEngine(None)
    worker = make_worker(engine, store_factory=lambda: Library.open(folder))
    worker.start()
    return worker
