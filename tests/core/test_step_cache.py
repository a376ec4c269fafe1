"""The "fast draft" step caches (diffusers' hooks): how many passes run, and off is exact."""

from __future__ import annotations

import math

import pytest
import torch

from dit360_desktop.core import step_cache
from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import GenerationRequest


def request(**changes) -> GenerationRequest:
    values = dict(prompt="a lake", width=128, height=64, steps=12, seed=1, device="cpu", dtype="fp32")
    return GenerationRequest(**{**values, **changes})


@pytest.fixture(scope="module")
def engine(tiny_flux_dir) -> PanoramaEngine:
    return PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))


@pytest.fixture
def passes(engine):
    """Counts full passes: the last block's output projection runs only when the blocks are not skipped."""
    engine.run(request(steps=1))
    calls: list[int] = []
    layer = engine.model.components.transformer.single_transformer_blocks[-1].proj_out
    handle = layer.register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


@pytest.mark.parametrize("steps", [12, 28])
def test_taylorseer_runs_the_warm_up_then_every_interval(engine, passes, steps):
    result = engine.run(request(steps=steps, step_cache="taylorseer"))
    warm = step_cache.TAYLORSEER_WARMUP
    assert len(passes) == warm + math.ceil((steps - warm) / step_cache.TAYLORSEER_INTERVAL)
    assert any("Fast draft: TaylorSeer" in w for w in result.metadata["warnings"])


def test_magcache_keeps_the_first_fifth_and_skips_at_most_three_in_a_row(engine, passes):
    steps = 28
    engine.run(request(steps=steps, step_cache="magcache"))
    first = len(passes)
    assert int(0.2 * steps) <= first < steps and first >= steps / 4
    passes.clear()
    engine.run(request(steps=steps, step_cache="magcache"))
    assert len(passes) == first, "the state is reset between runs"


def test_first_block_cache_skips_below_its_threshold(engine, passes, monkeypatch):
    # Every step runs the first block; the rest run only when its residual moved more than the threshold.
    monkeypatch.setattr(step_cache, "FBC_THRESHOLD", 1e9)
    engine.run(request(step_cache="fbc"))
    assert len(passes) == 1, "only the first step computes the whole model"
    passes.clear()
    monkeypatch.setattr(step_cache, "FBC_THRESHOLD", 0.0)
    engine.run(request(step_cache="fbc"))
    assert len(passes) == 12


def test_off_is_exact_before_and_after_a_cached_run(tiny_flux_dir, engine):
    exact = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False)).run(request())
    for method in ("taylorseer", "magcache"):
        draft = engine.run(request(step_cache=method))
        assert (draft.latent - exact.latent).abs().max() > 1e-6
        again = engine.run(request())
        assert torch.equal(again.latent, exact.latent), f"switching {method} off restores the exact result"
        assert not engine.model.components.transformer.is_cache_enabled
        assert all("Fast draft" not in w for w in again.metadata["warnings"])


def test_the_draft_is_recorded_in_the_request_and_the_a1111_text(engine):
    from dit360_desktop.panorama.parameters import format_a1111_parameters

    result = engine.run(request(step_cache="magcache", steps=4))
    assert result.file_metadata()["request"]["step_cache"] == "magcache"
    assert "Step cache: magcache" in format_a1111_parameters(result.file_metadata())
