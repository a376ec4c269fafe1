"""Control from the depth of the panorama on screen: a depth job on the real worker (a tiny random-weight
Depth Anything V2, found where the app looks for it: the Hugging Face cache), whose 8-bit preview (near =
bright) becomes the control image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop import paths


@pytest.mark.gl
def test_the_depth_of_the_selected_panorama_becomes_the_control_image(
    qtbot, make_window, make_worker, tmp_path, monkeypatch
) -> None:
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.history.files import depth_path_of
    from dit360_desktop.history.library import Library
    from dit360_desktop.models.layouts import hf_cache_repo_folder
    from dit360_desktop.panorama.depthmap import read_distance
    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.panorama.result import Result
    from dit360_desktop.testing.tiny_depth import build_tiny_depth
    from tests.core.depth.synthetic_room import room_panorama

    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    snapshot = hf_cache_repo_folder(hub, "depth-anything/Depth-Anything-V2-Small-hf") / "snapshots" / "0"
    build_tiny_depth(snapshot)
    library_dir = paths.default_library_dir()
    with Library.open(library_dir) as library:
        pixels = np.ascontiguousarray(room_panorama(128, 64)[0])
        request = GenerationRequest(prompt="This is a panorama image. A room.", width=128, height=64)
        entry = library.save(Result(image=Image.fromarray(pixels), request=request, metadata={}))

    worker = make_worker(PanoramaEngine(None), store_factory=lambda: Library.open(library_dir))
    window = make_window(worker)
    window.show_panorama(pixels)
    window.context.history.entry_selected.emit(entry)  # as the gallery does when it is clicked
    window.guides.needs.refresh()
    assert window.guides.panel.depth_need.label.text().startswith(
        "Depth Anything V2 (for From depth): installed"
    )

    window.guides.panel.depth_button.click()
    assert "Estimating the depth of" in window.guides.panel.notice.text()
    qtbot.waitUntil(lambda: window.form["control_image"] is not None, timeout=180_000)
    control = Path(window.form["control_image"])
    assert control.parent.is_relative_to(library_dir)
    distance = read_distance(depth_path_of(control))
    with Image.open(control) as picture:
        preview = np.asarray(picture.convert("L"))
    assert preview.shape == (64, 128)
    assert preview.flat[distance.argmin()] == 255 and preview.flat[distance.argmax()] == 0  # near = bright
    assert "use a Depth LoRA" in window.guides.panel.notice.text()
