"""The mask's red tint in the GL viewer matches the CPU renderer, across the seam and at the poles."""

from __future__ import annotations

import numpy as np
import pytest

from dit360_desktop.panorama.projection import equirect_directions
from dit360_desktop.ui.common.camera import CameraView, ViewMode, view_rays
from dit360_desktop.ui.painting.brush import Brush, lonlat_to_direction
from dit360_desktop.ui.painting.mask_model import MaskModel
from dit360_desktop.ui.viewer.cpu_render import render_view
from dit360_desktop.ui.viewer.gl_support import opengl_problem
from dit360_desktop.ui.viewer.mask_tint import apply_mask_tint
from dit360_desktop.ui.viewer.render_settings import draw_settings

pytestmark = pytest.mark.gl

W, H = 512, 256


@pytest.fixture(scope="module")
def analytic() -> np.ndarray:
    return np.clip(np.rint((equirect_directions(W, H) * 0.5 + 0.5) * 255.0), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def mask() -> np.ndarray:
    model = MaskModel(W, H)
    model.begin_stroke(lonlat_to_direction(160.0, 10.0), Brush(12.0, 1.0))
    model.continue_stroke(lonlat_to_direction(-150.0, 0.0))  # over the seam
    model.end_stroke()
    model.begin_stroke(lonlat_to_direction(0.0, 90.0), Brush(20.0, 1.0))  # the north pole
    model.end_stroke()
    return model.array.copy()


@pytest.fixture
def viewer(qtbot, qapp):
    from dit360_desktop.ui.viewer import create_viewer
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    problem = opengl_problem()
    if problem is not None:
        pytest.fail(f"GL tests need OpenGL 3.3 core under Xvfb: {problem}")
    widget = create_viewer()
    assert isinstance(widget, PanoramaViewer)
    qtbot.addWidget(widget)
    widget.resize(320, 180)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.renderer is not None and widget.renderer.initialized, timeout=10_000)
    return widget


def _render(viewer, view: CameraView, width: int, height: int, *, mask: bool) -> np.ndarray:
    surface = viewer.gl_window()
    surface.makeCurrent()
    try:
        return viewer.renderer.render_offscreen(
            draw_settings(view), width, height, surface.defaultFramebufferObject(), mask=mask
        )
    finally:
        surface.doneCurrent()


@pytest.mark.parametrize(
    "view",
    [
        CameraView(180.0, 5.0, 100.0, ViewMode.PERSPECTIVE),
        CameraView(0.0, 80.0, 110.0, ViewMode.PERSPECTIVE),
        CameraView(0.0, 0.0, 360.0, ViewMode.FLAT),
        CameraView(30.0, -90.0, 260.0, ViewMode.LITTLE_PLANET),
    ],
)
def test_gl_mask_tint_equals_the_cpu_renderer(viewer, analytic, mask, view):
    viewer.set_panorama(analytic)
    viewer.renderer.mask.set(mask)
    width, height = 192, 96
    got = _render(viewer, view, width, height, mask=True).astype(int)
    expected = render_view(analytic, view, width, height, mask=mask).astype(int)
    plain = render_view(analytic, view, width, height).astype(int)
    # Compare away from the mask's edges, where one pixel of sampling difference changes the tint a lot.
    from dit360_desktop.panorama.projection import sample_equirect

    rays, valid = view_rays(view, width, height)
    coverage = sample_equirect(mask[..., None], rays)[..., 0]
    solid = valid & ((coverage == 0) | (coverage == 255))
    assert (valid & (coverage == 255)).sum() > 100  # the view does show tinted pixels
    assert np.abs(got - expected)[solid].max() <= 5
    tinted = valid & (coverage == 255)
    assert (got[tinted, 0] - plain[tinted, 0]).mean() > 20  # red went up where the mask is
    # Without the mask flag (exports), no tint.
    untinted = _render(viewer, view, width, height, mask=False).astype(int)
    assert np.abs(untinted - plain)[valid].max() <= 5


def test_mask_rows_upload_only_the_changed_band(viewer, analytic):
    viewer.set_panorama(analytic)
    model = MaskModel(W, H)
    textures = viewer.renderer.mask
    textures.set(model.array)
    view = CameraView(0.0, 0.0, 90.0, ViewMode.PERSPECTIVE)
    _render(viewer, view, 64, 32, mask=True)
    uploads, rows = textures.uploads, textures.rows_uploaded
    assert rows - 0 >= H  # the first frame uploads it whole
    bands = []
    model.add_listener(bands.append)
    model.begin_stroke(lonlat_to_direction(0.0, 0.0), Brush(5.0, 1.0))
    model.end_stroke()
    for band in bands:
        textures.mark_rows(band.top, band.bottom)
    got = _render(viewer, view, 64, 32, mask=True).astype(int)
    assert textures.uploads == uploads + 1
    assert textures.rows_uploaded - rows == bands[0].bottom - bands[0].top < H // 8
    centre = got[16, 32]
    plain = render_view(analytic, view, 64, 32)[16, 32].astype(int)
    expected = apply_mask_tint(plain[None, None].astype(np.uint8), np.array([[255]]))[0, 0]
    assert np.abs(centre - expected).max() <= 4


def test_mask_larger_than_the_texture_limit_is_reduced(viewer, analytic, monkeypatch):
    monkeypatch.setattr(type(viewer.renderer), "texture_size_limit", 256)
    viewer.set_panorama(analytic)
    full = np.zeros((H, W), np.uint8)
    full[:, W // 2 :] = 255
    viewer.renderer.mask.set(full)
    view = CameraView(90.0, 0.0, 60.0, ViewMode.PERSPECTIVE)  # looking into the masked half
    got = _render(viewer, view, 32, 16, mask=True).astype(int)
    assert viewer.renderer.mask._size == (256, 128)
    expected = render_view(analytic, view, 32, 16, mask=full).astype(int)
    plain = render_view(analytic, view, 32, 16).astype(int)
    assert np.abs(got - expected).max() <= 5
    assert np.abs(got - plain).mean() > 20
