"""Seamless VAE: horizontal circular padding makes decode and encode equivariant to horizontal rolls."""

from __future__ import annotations

import pytest
import torch

from dit360_desktop.core.codecs import decode_latents, encode_image, horizontal_wrap


@pytest.fixture(scope="module")
def vae(tiny_flux_dir):
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(tiny_flux_dir / "vae").eval()


@pytest.mark.parametrize("shift", [1, 5, 16])
def test_seamless_decode_is_roll_equivariant(vae, shift):
    z = torch.randn(1, 16, 8, 32, generator=torch.Generator().manual_seed(shift))
    rolled_first = decode_latents(vae, torch.roll(z, shift, dims=3), seamless=True)
    rolled_after = torch.roll(decode_latents(vae, z, seamless=True), 8 * shift, dims=3)
    assert rolled_first.shape == (1, 3, 64, 256)
    assert torch.allclose(rolled_first, rolled_after, atol=1e-4)


def test_plain_decode_is_not_roll_equivariant(vae):
    """The control: without wrapping the edges differ, so the test above can fail."""
    z = torch.randn(1, 16, 8, 32, generator=torch.Generator().manual_seed(0))
    rolled_first = decode_latents(vae, torch.roll(z, 5, dims=3), seamless=False)
    rolled_after = torch.roll(decode_latents(vae, z, seamless=False), 40, dims=3)
    assert (rolled_first - rolled_after).abs().max() > 1e-2


def test_seamless_encode_is_roll_equivariant(vae):
    pixels = torch.rand(1, 3, 64, 256, generator=torch.Generator().manual_seed(1)) * 2 - 1
    rolled_first = encode_image(vae, torch.roll(pixels, 24, dims=3), seamless=True)
    rolled_after = torch.roll(encode_image(vae, pixels, seamless=True), 3, dims=3)
    assert torch.allclose(rolled_first, rolled_after, atol=1e-4)


def test_wrap_context_restores_the_vae(vae):
    z = torch.randn(1, 16, 8, 32, generator=torch.Generator().manual_seed(2))
    before = decode_latents(vae, z, seamless=False)
    paddings = [m.padding for m in vae.modules() if isinstance(m, torch.nn.Conv2d)]
    with horizontal_wrap(vae.decoder):
        pass
    assert [m.padding for m in vae.modules() if isinstance(m, torch.nn.Conv2d)] == paddings
    assert torch.equal(decode_latents(vae, z, seamless=False), before)


def test_seamless_decode_closes_the_seam(vae):
    """Columns 0 and W-1 are neighbours on the sphere: seamless decode makes them as similar as any
    adjacent interior pair, while the plain decode leaves a jump."""
    from dit360_desktop.core.codecs import to_uint8_image

    # A latent that is smooth and periodic across the 0/360° edge, like a real panorama's.
    x = torch.arange(32) / 32 * 2 * torch.pi
    phases = torch.rand(16, 1, 1, generator=torch.Generator().manual_seed(3)) * 2 * torch.pi
    z = torch.sin(x[None, None, :] + phases).expand(16, 8, 32)[None] * 1.5

    def seam_ratio(image) -> float:
        a = image.astype(float)
        seam = abs(a[:, 0] - a[:, -1]).mean()
        interior = abs(a[:, 1:] - a[:, :-1]).mean()
        return seam / interior

    seamless = seam_ratio(to_uint8_image(decode_latents(vae, z, seamless=True)))
    plain = seam_ratio(to_uint8_image(decode_latents(vae, z, seamless=False)))
    assert seamless < 2.0
    assert seamless < plain
