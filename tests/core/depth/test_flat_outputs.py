"""Flat or blank input must never give NaN/inf (issue 23): the tiny model on a black and a grey panorama
through the real depth task, and the alignment with a constant view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.core.depth.merge import DISPARITY, Z_DEPTH, NoDepthError, align_views, view_distances
from dit360_desktop.core.depth.views import cube_views
from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.panorama.depth_requests import DepthRequest
from dit360_desktop.panorama.depthmap import read_distance
from dit360_desktop.panorama.request import GenerationRequest
from tests.core.depth.synthetic_room import ExactZDepthSource, room_distance


@pytest.mark.parametrize("grey", [0, 128], ids=["black", "grey"])
def test_a_flat_panorama_gives_a_finite_positive_map(grey, tiny_depth_dir, tmp_path: Path) -> None:
    source = tmp_path / "flat.png"
    Image.fromarray(np.full((64, 128, 3), grey, np.uint8)).save(source)
    request = DepthRequest(
        source, tiny_depth_dir, GenerationRequest(prompt="flat"), tmp_path / "w", device="cpu", size=(128, 64)
    )
    result = PanoramaEngine(None).run(request)
    # Read back through the real EXR reader, which itself refuses NaN/inf/negative values.
    distance = read_distance(result.metadata["depth"]["exr"])
    assert distance.shape == (64, 128)
    assert np.all(np.isfinite(distance)) and float(distance.min()) > 0.0
    assert np.median(distance) == pytest.approx(1.0, rel=1e-3)
    # Before the fix the fit fell to scales of ~1e-29 (black) or to disparities ≤ 0 everywhere (grey).
    assert float(distance.max() / distance.min()) < 200.0


def _room_views(kind: str):
    views = cube_views(64)
    maps = [ExactZDepthSource(seed=3 + i, kind=kind)(np.zeros((1, 1, 3)), v) for i, v in enumerate(views)]
    return views, maps


@pytest.mark.parametrize("kind", [DISPARITY, Z_DEPTH])
@pytest.mark.parametrize("value", [0.0, 0.5])
def test_alignment_with_a_constant_view_stays_finite(kind, value) -> None:
    views, maps = _room_views(kind)
    maps[2] = np.full_like(maps[2], value)  # one view with no variance (zero included)
    alignment = align_views(views, maps, kind)
    assert all(np.isfinite(alignment.scales)) and all(np.isfinite(alignment.shifts))
    # The five honest views are still brought to the room's true distances (up to one global scale).
    ratios = []
    for index, view in enumerate(views):
        if index == 2:
            continue
        d = view_distances(view, maps[index], alignment.scales[index], alignment.shifts[index], kind)
        ratios.append(d / room_distance(view.world_rays()))
    ratios = np.concatenate([r.ravel() for r in ratios])
    assert np.all(np.isfinite(ratios)) and float(ratios.min()) > 0.0
    assert float(ratios.max() / ratios.min()) < 1.05


def test_every_view_constant_is_refused_with_a_sentence() -> None:
    views, maps = _room_views(DISPARITY)
    flat = [np.full_like(m, 0.25) for m in maps]
    with pytest.raises(NoDepthError, match="found no depth in this panorama"):
        align_views(views, flat, DISPARITY)
    with pytest.raises(NoDepthError, match="found no depth"):
        align_views(views, [np.zeros_like(m) for m in maps], DISPARITY)


def test_the_tiny_models_black_views_keep_a_real_scale(tiny_depth_dir) -> None:
    from dit360_desktop.core.depth.model import load_depth_model

    model = load_depth_model(tiny_depth_dir, device="cpu")
    views = cube_views(model.view_size)
    black = np.zeros((64, 128, 3), np.uint8)
    maps = [model(view.render(black), view) for view in views]
    assert max(float(m.max()) for m in maps) < 1e-5  # ReLU'd disparity: ~0 almost everywhere
    alignment = align_views(views, maps, DISPARITY)
    corrected = [
        s * np.median(m) + b for m, s, b in zip(maps, alignment.scales, alignment.shifts, strict=True)
    ]
    # The gauge keeps the views' corrected medians near 1; the old fit collapsed them to ~1e-36.
    assert 0.1 < float(np.mean(corrected)) < 10.0


def test_the_blend_cannot_overflow_float32() -> None:
    from dit360_desktop.core.depth.merge import blend_on_sphere

    views = cube_views(32)
    huge = [1e38 * room_distance(v.world_rays()) for v in views]
    huge[0][:, :20] = np.inf  # a disparity that ran out: infinitely far
    out = blend_on_sphere(views, huge, 64, 32)
    assert np.all(np.isfinite(out)) and float(out.min()) > 0.0


def test_a_model_that_sees_nothing_is_refused_by_the_cli_with_exit_2(
    tiny_depth_dir, tmp_path: Path, monkeypatch, capsys
) -> None:
    from dit360_desktop.cli import main
    from dit360_desktop.core.depth.model import DepthModel

    pano = tmp_path / "black.png"
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(pano)
    # A model whose output is exactly zero in every view (nothing to infer), through the real CLI.
    monkeypatch.setattr(DepthModel, "__call__", lambda self, pixels, view: np.zeros((view.size, view.size)))
    output = tmp_path / "d.exr"
    argv = ["depth", str(pano), "--depth-model", str(tiny_depth_dir), "--device", "cpu", "--quiet"]
    assert main([*argv, "--output", str(output)]) == 2
    assert "found no depth in this panorama" in capsys.readouterr().err
    assert not output.exists()
