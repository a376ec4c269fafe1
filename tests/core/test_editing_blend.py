"""``--method blend``: kept pixels stay exact, seams stay seamless, and the edit behaves like a generation
(events, previews, cancel, seeds, clear errors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dit360_desktop.core.editing.blend import BAND_STRENGTH, KnownRegionPin, plan_blend
from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.panorama.errors import GenerationCancelled, ImageLoadError, RequestError
from dit360_desktop.panorama.events import CancelToken, StageEvent, StepEvent
from dit360_desktop.panorama.mask import feather_alpha
from dit360_desktop.panorama.projection import discontinuity_score
from dit360_desktop.panorama.request import GenerationRequest

WIDTH, HEIGHT, FEATHER = 256, 128, 6


@pytest.fixture(scope="module")
def engine(tiny_flux_dir):
    return PanoramaEngine(tiny_flux_dir)


def seamless_panorama() -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    turn = 2 * np.pi * xx / WIDTH
    channels = [128 + 90 * np.sin(3 * turn), 128 + 90 * np.cos(yy / 13), 128 + 40 * np.sin(turn + yy / 20)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def seam_mask(half_width: int = 40) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[30:100, WIDTH - half_width :] = 255
    mask[30:100, :half_width] = 255
    return mask


def edit_request(tmp_path, mask: np.ndarray, **changes) -> GenerationRequest:
    Image.fromarray(seamless_panorama()).save(tmp_path / "pano.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    fields = dict(
        prompt="This is a panorama image. A lake.",
        init_image=str(tmp_path / "pano.png"),
        mask_image=str(tmp_path / "mask.png"),
        width=WIDTH,
        height=HEIGHT,
        steps=3,
        seed=7,
        device="cpu",
        feather=FEATHER,
    )
    return GenerationRequest(**{**fields, **changes})


def sphere_chebyshev_distance(mask: np.ndarray) -> np.ndarray:
    """Brute force, written independently of panorama.mask: columns wrap, rows do not (the mask is far
    from the poles, where the two agree)."""
    rows, cols = np.nonzero(mask)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    best = np.full((HEIGHT, WIDTH), 10**9)
    for r, c in zip(rows[::7], cols[::7], strict=True):
        dx = np.abs(xx - c)
        dx = np.minimum(dx, WIDTH - dx)
        best = np.minimum(best, np.maximum(dx, np.abs(yy - r)))
    # The subsample can only over-estimate by the sampling gap; fill it exactly for the mask's bounding rows.
    support = mask > 0
    best[support] = 0
    return best


def test_pixels_outside_the_feather_band_equal_the_input(engine, tmp_path) -> None:
    mask = seam_mask()
    result = engine.run(edit_request(tmp_path, mask))
    out, pano = np.asarray(result.image), seamless_panorama()
    distance = sphere_chebyshev_distance(mask)
    # 7 px sampling of the mask pixels over-estimates distances by at most 7; keep a margin beyond it.
    far = distance > FEATHER + 8
    assert far.mean() > 0.5
    assert np.array_equal(out[far], pano[far])
    # The edit did change the masked region.
    assert np.abs(out[mask > 0].astype(int) - pano[mask > 0].astype(int)).mean() > 5
    assert result.metadata["edit"]["outpaint"] is False
    assert result.request.edit_method == "blend" == result.file_metadata()["request"]["edit_method"]


def test_exactness_uses_the_same_band_as_the_alpha(engine, tmp_path) -> None:
    mask = seam_mask()
    result = engine.run(edit_request(tmp_path, mask, strength=0.6))
    alpha = feather_alpha(mask.astype(np.float32) / 255.0, FEATHER)
    out, pano = np.asarray(result.image), seamless_panorama()
    assert np.array_equal(out[alpha == 0], pano[alpha == 0])
    assert (alpha > 0).sum() > (mask > 0).sum()  # the feather band really is there


def test_a_mask_across_the_seam_leaves_no_seam(engine, tmp_path) -> None:
    result = engine.run(edit_request(tmp_path, seam_mask(), strength=1.0))
    band = np.asarray(result.image)[30:100]
    seam = discontinuity_score(band)
    # Interior columns inside the regenerated region, on the same 8-pixel latent grid as the seam.
    interior = [discontinuity_score(np.roll(band, -shift, axis=1)) for shift in range(8, 40, 8)]
    interior += [discontinuity_score(np.roll(band, shift, axis=1)) for shift in range(8, 40, 8)]
    assert seam <= max(interior), (seam, interior)
    assert seam < 1.6


def test_large_masks_outpaint_from_noise(engine, tmp_path) -> None:
    mask = np.full((HEIGHT, WIDTH), 255, np.uint8)
    mask[50:80, 100:160] = 0
    result = engine.run(edit_request(tmp_path, mask, strength=0.5))
    edit = result.metadata["edit"]
    assert edit["outpaint"] is True and edit["start_strength"] == 1.0
    assert any("outpainting from noise" in warning for warning in result.metadata["warnings"])
    out, pano = np.asarray(result.image), seamless_panorama()
    kept = feather_alpha(mask.astype(np.float32) / 255.0, FEATHER) == 0
    assert kept.any() and np.array_equal(out[kept], pano[kept])


def test_grey_values_are_partial_strengths() -> None:
    mask = np.zeros((HEIGHT, WIDTH), np.float32)
    mask[:, 0:64] = 1.0
    mask[:, 128:192] = 0.4
    plan = plan_blend(mask, feather_alpha(mask, 0), 0.8)
    latent = plan.strength_map
    assert latent.shape == (HEIGHT // 8, WIDTH // 8)
    assert latent[8, 4] == pytest.approx(0.8)
    assert latent[8, 20] == pytest.approx(0.32)
    # The harmonisation band around the white block wraps across the seam to the last latent columns.
    assert latent[8, -2] == pytest.approx(BAND_STRENGTH * 0.8)
    assert latent[8, 12] == 0.0


def test_pin_releases_a_latent_once_sigma_falls_below_its_strength() -> None:
    class Schedule:
        sigmas = torch.tensor([1.0, 0.6, 0.2, 0.0])

    strength = np.zeros((2, 4), np.float32)
    strength[:, 0:2] = 0.5
    plan = type("Plan", (), {"strength_map": strength})()
    clean, noise = torch.zeros(1, 1 * 4, 4), torch.ones(1, 1 * 4, 4)
    pin = KnownRegionPin(clean, noise, plan, Schedule(), 0, rows=1, cols=2)
    state = torch.full((1, 4, 4), 9.0)
    after_first = pin(0, state)  # sigma 0.6: nothing released yet, every token is the known 0.6 mix
    assert torch.allclose(after_first, torch.full_like(state, 0.6))
    after_second = pin(1, state)  # sigma 0.2: the strength-0.5 latents follow the model
    released = pin.strength > 0.2
    assert released.any() and not released.all()
    assert torch.all(after_second[released] == 9.0) and torch.allclose(
        after_second[~released], torch.tensor(0.2)
    )


def test_events_previews_seed_and_no_global_rng(engine, tmp_path) -> None:
    events = []
    state = torch.random.get_rng_state()
    request = edit_request(tmp_path, seam_mask())
    first = engine.run(request, on_event=events.append)
    assert torch.equal(torch.random.get_rng_state(), state)
    stages = [event.stage.value for event in events if isinstance(event, StageEvent)]
    assert stages[-1] == "decoding" and "denoising" in stages
    steps = [event for event in events if isinstance(event, StepEvent)]
    # int(3 - 0.8·3) = 0 steps skipped: all three run.
    assert [event.step for event in steps] == [1, 2, 3] and steps[0].total == 3
    assert steps[-1].preview is not None and steps[-1].preview.shape[2] == 3
    again = engine.run(request)
    assert torch.equal(first.latent, again.latent)
    other = engine.run(request.replace(seed=8))
    assert not torch.equal(first.latent, other.latent)


def test_cancel_stops_between_steps(engine, tmp_path) -> None:
    token = CancelToken()

    def on_event(event) -> None:
        if isinstance(event, StepEvent):
            token.cancel()

    with pytest.raises(GenerationCancelled):
        engine.run(edit_request(tmp_path, seam_mask()), on_event=on_event, cancel=token)


def test_bad_masks_are_refused_before_any_denoising(engine, tmp_path) -> None:
    with pytest.raises(RequestError, match="nothing to regenerate"):
        engine.run(edit_request(tmp_path, np.zeros((HEIGHT, WIDTH), np.uint8)))
    with pytest.raises(RequestError, match="same aspect ratio"):
        engine.run(edit_request(tmp_path, np.full((100, 100), 255, np.uint8)))
    request = edit_request(tmp_path, seam_mask())
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageLoadError):
        engine.run(request.replace(mask_image=str(tmp_path / "broken.png")))
