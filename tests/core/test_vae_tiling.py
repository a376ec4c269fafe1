"""The tiled VAE equals the untiled (seamless) VAE, wraps across 0/360°, and bounds its tile size."""

from __future__ import annotations

import copy

import pytest
import torch

from dit360_desktop.core.codecs import decode_latents, encode_image, horizontal_wrap
from dit360_desktop.core.vae_tiling import (
    TiledRunner,
    TilingConfig,
    TilingUnsupportedError,
    check_tileable,
    tiled_decode,
    tiled_encode,
)

SMALL_TILES = TilingConfig(region_elements=1 << 15)  # ~64×64 px at 8 channels: 8+ tiles per full-size layer
# fp32 on CPU: the only difference is the order of GroupNorm sums; measured max |Δ| ≈ 6e-6 on outputs ~3.
EXACT = 5e-5


@pytest.fixture(scope="module")
def vae(tiny_flux_dir):
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(tiny_flux_dir / "vae", dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def latents() -> torch.Tensor:
    return torch.randn(1, 16, 16, 32, generator=torch.Generator().manual_seed(3))


@pytest.fixture(scope="module")
def pixels() -> torch.Tensor:
    return torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(4)) * 2 - 1


def untiled_decode(vae, z, *, seamless: bool) -> torch.Tensor:
    with torch.no_grad():
        if not seamless:
            return vae.decode(z, return_dict=False)[0]
        with horizontal_wrap(vae.decoder):
            return vae.decode(z, return_dict=False)[0]


def untiled_encode(vae, x, *, seamless: bool) -> torch.Tensor:
    with torch.no_grad():
        if not seamless:
            return vae.encode(x, return_dict=False)[0].mode()
        with horizontal_wrap(vae.encoder):
            return vae.encode(x, return_dict=False)[0].mode()


@pytest.fixture(scope="module")
def seamless_reference(vae, latents) -> torch.Tensor:
    return untiled_decode(vae, latents, seamless=True)


@pytest.fixture(scope="module")
def seamless_tiled(vae, latents) -> tuple[torch.Tensor, int]:
    runner = TiledRunner(vae, wrap=True, config=SMALL_TILES)
    with torch.no_grad():
        decoded = runner.decoder(vae.decoder, latents)
    return decoded, runner.largest_region


def test_tiled_decode_equals_untiled_seamless_decode(seamless_tiled, seamless_reference):
    tiled, _ = seamless_tiled
    assert tiled.shape == seamless_reference.shape == (1, 3, 128, 256)
    assert seamless_reference.abs().max() > 1.0
    assert (tiled - seamless_reference).abs().max().item() < EXACT


def test_memory_per_tile_is_bounded_by_the_budget(seamless_tiled):
    _, largest = seamless_tiled
    # The biggest layer input is 8 channels × 130 × 258 (with its halo); tiles stay within the budget.
    assert largest <= SMALL_TILES.region_elements
    assert largest > SMALL_TILES.region_elements // 4, "tiles use most of the budget, not needlessly small"


def test_plain_tiled_decode_with_maps_in_ram_equals_the_plain_decode(vae, latents, seamless_reference):
    config = TilingConfig(region_elements=1 << 16, store="cpu")
    tiled = tiled_decode(vae, latents, seamless=False, config=config)
    expected = untiled_decode(vae, latents, seamless=False)
    assert (tiled - expected).abs().max().item() < EXACT
    # The seamless and plain decodes differ at the edges, so both comparisons mean something.
    assert (seamless_reference[..., :8] - expected[..., :8]).abs().max() > 1e-2


def test_tiled_decode_is_roll_equivariant(vae, latents, seamless_tiled):
    shift = 13  # not a multiple of any tile width
    rolled = tiled_decode(vae, torch.roll(latents, shift, dims=-1), seamless=True, config=SMALL_TILES)
    expected = torch.roll(seamless_tiled[0], 8 * shift, dims=-1)
    assert (rolled - expected).abs().max().item() < EXACT


@pytest.mark.parametrize("seamless", [True, False], ids=["seamless", "plain"])
def test_tiled_encode_equals_untiled(vae, pixels, seamless):
    tiled = tiled_encode(vae, pixels, seamless=seamless, config=SMALL_TILES)
    expected = untiled_encode(vae, pixels, seamless=seamless)
    assert tiled.shape == expected.shape == (1, 16, 8, 16)
    assert (tiled - expected).abs().max().item() < EXACT


def test_codec_entry_points_accept_tiling(vae, latents, pixels, seamless_reference):
    scaled = (latents - vae.config.shift_factor) * vae.config.scaling_factor
    tiled = decode_latents(vae, scaled, seamless=True, tiling=TilingConfig(region_elements=1 << 16))
    assert (tiled - seamless_reference).abs().max().item() < EXACT
    encoded = encode_image(vae, pixels, seamless=True, tiling=TilingConfig(region_elements=1 << 16))
    assert (encoded - encode_image(vae, pixels, seamless=True)).abs().max().item() < EXACT


def test_whole_map_fits_in_one_tile_with_a_large_budget(vae, latents, seamless_reference):
    runner = TiledRunner(vae, wrap=True, config=TilingConfig())
    with torch.no_grad():
        decoded = runner.decoder(vae.decoder, latents)
    assert runner.largest_region >= 8 * 128 * 256
    assert (decoded - seamless_reference).abs().max().item() < EXACT


def test_unknown_vae_layers_are_refused_up_front(vae):
    odd = copy.deepcopy(vae)
    odd.decoder.up_blocks[1].resnets[0].nonlinearity = torch.nn.GELU()
    with pytest.raises(TilingUnsupportedError, match="decode it untiled"):
        check_tileable(odd)
    check_tileable(vae)


def test_tiled_plan_with_an_untileable_vae_decodes_untiled_with_a_note(vae, latents):
    from dit360_desktop.core.tiers import decode_with_fallback, plan_tier

    odd = copy.deepcopy(vae)
    odd.decoder.up_blocks[1].resnets[0].nonlinearity = torch.nn.GELU()
    plan = plan_tier("24gb", torch.device("cpu"), dtype="fp32")
    decoded, notes = decode_with_fallback(odd, latents, seamless=True, plan=plan)
    assert decoded.shape == (1, 3, 128, 256)
    assert len(notes) == 1 and "cannot be decoded in tiles" in notes[0]


def test_config_validation():
    with pytest.raises(ValueError, match="store"):
        TilingConfig(store="gpu")
    with pytest.raises(ValueError, match="region_elements"):
        TilingConfig(region_elements=10)
