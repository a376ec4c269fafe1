"""Our engine against the DiT360 reference algorithm, run through diffusers' own FluxPipeline.

The reference is diffusers' ``FluxPipeline`` with its ``prepare_latents`` wrapped to add DiT360's wrap
padding at the same point as DiT360's ``src/pipeline.py`` does (tokens and ids, last column left and
first column right). FluxPipeline then derives ``mu`` from the padded length, runs its own Euler loop and
true CFG, and we crop and decode its final latent exactly as DiT360 does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.panorama.request import GenerationRequest

WIDTH, HEIGHT, STEPS = 256, 128, 4


def reference_dit360(model_dir, prompt, *, seed, lora=None, negative=None, true_cfg=1.0, guidance=2.8):
    from diffusers import FluxPipeline

    pipe = FluxPipeline.from_pretrained(model_dir, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    if lora is not None:
        pipe.load_lora_weights(str(lora))
    original = pipe.prepare_latents
    rows, cols = HEIGHT // 16, WIDTH // 16

    def padded_prepare_latents(*args, **kwargs):
        latents, ids = original(*args, **kwargs)
        grid = latents.reshape(latents.shape[0], rows, cols, -1)
        latents = torch.cat([grid[:, :, -1:], grid, grid[:, :, :1]], dim=2).reshape(
            latents.shape[0], -1, grid.shape[-1]
        )
        id_grid = ids.reshape(rows, cols, 3)
        ids = torch.cat([id_grid[:, -1:], id_grid, id_grid[:, :1]], dim=1).reshape(-1, 3)
        return latents, ids

    pipe.prepare_latents = padded_prepare_latents
    packed = pipe(
        prompt,
        negative_prompt=negative,
        true_cfg_scale=true_cfg,
        width=WIDTH,
        height=HEIGHT,
        num_inference_steps=STEPS,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="latent",
    ).images
    grid = packed.reshape(1, rows, cols + 2, -1)[:, :, 1:-1].reshape(1, rows * cols, -1)
    latent = pipe._unpack_latents(grid, HEIGHT, WIDTH, pipe.vae_scale_factor)
    with torch.no_grad():
        decoded = pipe.vae.decode(
            latent / pipe.vae.config.scaling_factor + pipe.vae.config.shift_factor, return_dict=False
        )[0]
    image = pipe.image_processor.postprocess(decoded, output_type="np")[0]
    return latent, (image * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def engine(tiny_flux_dir):
    return PanoramaEngine(tiny_flux_dir)


@pytest.mark.parametrize(
    ("use_lora", "negative", "true_cfg"),
    [(False, "", 1.0), (True, "", 1.0), (True, "blurry, seam", 3.0)],
    ids=["base", "lora", "lora-true-cfg"],
)
def test_matches_reference_latent_and_pixels(
    engine, tiny_flux_dir, tiny_lora_dir, use_lora, negative, true_cfg
):
    prompt = "This is a panorama image. A castle on a hill at sunset."
    lora = tiny_lora_dir if use_lora else None
    request = GenerationRequest(
        prompt=prompt,
        negative_prompt=negative,
        true_cfg_scale=true_cfg,
        width=WIDTH,
        height=HEIGHT,
        steps=STEPS,
        seed=1234,
        lora_path=str(lora) if lora else None,
        dtype="fp32",
        device="cpu",
        seamless_decode=False,
    )
    result = engine.run(request)
    ref_latent, ref_pixels = reference_dit360(
        tiny_flux_dir, prompt, seed=1234, lora=lora, negative=negative or None, true_cfg=true_cfg
    )

    assert result.latent.shape == ref_latent.shape == (1, 16, HEIGHT // 8, WIDTH // 8)
    assert (result.latent - ref_latent).abs().max().item() < 1e-4
    ours = np.asarray(result.image)
    assert ours.shape == ref_pixels.shape == (HEIGHT, WIDTH, 3)
    within_one = np.abs(ours.astype(int) - ref_pixels.astype(int)) <= 1
    assert within_one.mean() >= 0.999


def test_lora_changes_the_output(engine, tiny_lora_dir):
    base = GenerationRequest(prompt="a beach", width=WIDTH, height=HEIGHT, steps=2, seed=5, device="cpu")
    plain = engine.run(base).latent
    with_lora = engine.run(base.replace(lora_path=str(tiny_lora_dir))).latent
    half = engine.run(base.replace(lora_path=str(tiny_lora_dir), lora_scale=0.5)).latent
    assert (plain - with_lora).abs().max() > 1e-3
    assert (half - with_lora).abs().max() > 1e-4
    # Removing the LoRA again restores the base model exactly.
    assert torch.equal(engine.run(base).latent, plain)
