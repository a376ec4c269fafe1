"""Structure control (core/guides/control.py) against diffusers' FluxControlPipeline, on tiny weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.panorama.errors import LoraMismatchError, RequestError
from dit360_desktop.panorama.request import GenerationRequest

WIDTH, HEIGHT, STEPS = 256, 128, 4
PROMPT = "This is a panorama image. A castle on a hill at sunset."


@pytest.fixture(scope="module")
def control_lora(tiny_flux_dir, tmp_path_factory):
    from dit360_desktop.testing.tiny_control import build_tiny_control_lora

    return build_tiny_control_lora(
        tmp_path_factory.mktemp("control") / "control.safetensors", tiny_flux_dir / "transformer"
    )


@pytest.fixture(scope="module")
def control_png(tmp_path_factory):
    rng = np.random.default_rng(3)
    # Smooth structure (a gradient and a few blocks) rather than noise, so the VAE sees an image.
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[..., 0] = np.linspace(0, 255, WIDTH)[None, :]
    pixels[..., 1] = np.linspace(0, 255, HEIGHT)[:, None]
    pixels[32:80, 40:120] = rng.integers(0, 255, 3)
    path = tmp_path_factory.mktemp("control-image") / "depth.png"
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def engine(tiny_flux_dir):
    return PanoramaEngine(tiny_flux_dir)


def request_for(control_png, control_lora, **changes) -> GenerationRequest:
    fields = dict(
        prompt=PROMPT,
        width=WIDTH,
        height=HEIGHT,
        steps=STEPS,
        seed=1234,
        lora_path=None,
        dtype="fp32",
        device="cpu",
        seamless_decode=False,
        control_image=str(control_png),
        control_lora=str(control_lora),
    )
    fields.update(changes)
    return GenerationRequest(**fields)


def reference_control(model_dir, control_lora, control_png, *, seed):
    """diffusers' FluxControlPipeline with DiT360's wrap padding added where DiT360 adds it.

    Every packed latent (the noise and the control image's) gets the wrapped columns, and the ids too,
    so the pipeline's own mu, loop and concatenation run on the padded grid. diffusers samples the VAE
    posterior for the control image; we encode with its mean (deterministic, the generator untouched),
    so the reference is made to take the mean as well.
    """
    from diffusers import FluxControlPipeline
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    pipe = FluxControlPipeline.from_pretrained(model_dir, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(str(control_lora))
    rows, cols = HEIGHT // 16, WIDTH // 16
    pack = pipe._pack_latents
    prepare = pipe.prepare_latents

    def padded_pack(*args, **kwargs):
        tokens = pack(*args, **kwargs)
        grid = tokens.reshape(tokens.shape[0], rows, cols, -1)
        return torch.cat([grid[:, :, -1:], grid, grid[:, :, :1]], dim=2).reshape(
            tokens.shape[0], -1, grid.shape[-1]
        )

    def padded_prepare(*args, **kwargs):
        latents, ids = prepare(*args, **kwargs)
        id_grid = ids.reshape(rows, cols, 3)
        return latents, torch.cat([id_grid[:, -1:], id_grid, id_grid[:, :1]], dim=1).reshape(-1, 3)

    pipe._pack_latents = padded_pack
    pipe.prepare_latents = padded_prepare
    sample = DiagonalGaussianDistribution.sample
    DiagonalGaussianDistribution.sample = lambda self, generator=None: self.mode()
    try:
        packed = pipe(
            PROMPT,
            control_image=Image.open(control_png),
            width=WIDTH,
            height=HEIGHT,
            num_inference_steps=STEPS,
            guidance_scale=2.8,
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="latent",
        ).images
    finally:
        DiagonalGaussianDistribution.sample = sample
    grid = packed.reshape(1, rows, cols + 2, -1)[:, :, 1:-1].reshape(1, rows * cols, -1)
    return pipe._unpack_latents(grid, HEIGHT, WIDTH, pipe.vae_scale_factor)


def test_matches_flux_control_pipeline(engine, tiny_flux_dir, control_lora, control_png):
    result = engine.run(request_for(control_png, control_lora))
    reference = reference_control(tiny_flux_dir, control_lora, control_png, seed=1234)
    assert result.latent.shape == reference.shape == (1, 16, HEIGHT // 8, WIDTH // 8)
    assert (result.latent - reference).abs().max().item() < 1e-4
    transformer = engine.model.components.transformer
    assert transformer.config.in_channels == 128


def test_control_changes_the_result_and_unloads(engine, control_lora, control_png):
    plain_request = request_for(control_png, control_lora).replace(control_image=None, control_lora=None)
    plain = engine.run(plain_request).latent
    controlled = engine.run(request_for(control_png, control_lora)).latent
    half = engine.run(request_for(control_png, control_lora, control_scale=0.5)).latent
    assert (plain - controlled).abs().max() > 1e-3
    assert (half - controlled).abs().max() > 1e-4
    # Dropping the Control LoRA restores x_embedder, the norms and the plain result exactly.
    assert torch.equal(engine.run(plain_request).latent, plain)
    assert engine.model.components.transformer.config.in_channels == 64


def test_control_range_switches_the_control_off(engine, control_lora, control_png, tiny_lora_dir):
    # Stacked with the DiT360 LoRA: the range that covers every step is the full control …
    full = engine.run(request_for(control_png, control_lora, lora_path=str(tiny_lora_dir))).latent
    ranged = engine.run(
        request_for(control_png, control_lora, lora_path=str(tiny_lora_dir), control_end=0.5)
    ).latent
    assert (full - ranged).abs().max() > 1e-4
    # … and the adapter's scale is restored after a run that ended outside the range.
    again = engine.run(request_for(control_png, control_lora, lora_path=str(tiny_lora_dir))).latent
    assert torch.equal(again, full)


def test_roll_equivariance_with_padding(engine, control_lora, control_png):
    """Rolling the control image and the noise by k tokens rolls the denoised latent by k tokens, as
    closely as the plain model rolls at all.

    The control's padded tokens roll exactly (the seamless encoder is roll-equivariant and the pads are
    made from the rolled columns). The denoised result cannot roll exactly, with or without control: the
    padded grid is a line of cols + 2 columns, not a circle, so the two pad columns (copies of the first
    and last column) sit at the seam of whatever content is there; rolled content meets its copies at
    another place, which rolled position ids cannot undo. So the test measures the plain model's own roll
    error (noise rolled, no control) and requires the controlled one to be no larger than it (plus 20 %):
    the control adds no seam dependence of its own; with the control left unrolled it is far larger.
    """
    from dit360_desktop.core.guides.control import ControlHook
    from dit360_desktop.core.padding import crop_pad_tokens, unpack_latents, wrap_pad_tokens
    from dit360_desktop.core.sampler import DenoiseInputs
    from dit360_desktop.panorama.events import CancelToken

    request = request_for(control_png, control_lora)
    engine.run(request)  # loads the model with the Control LoRA
    model = engine.model
    geometry = model.geometry(request)
    rows, cols = geometry.rows, geometry.cols
    k = 3  # tokens = 2 latent columns = 16 pixels each
    picture = np.asarray(Image.open(control_png).convert("RGB"))

    def control_tokens(shift: int) -> torch.Tensor:
        rolled = Image.fromarray(np.roll(picture, shift * 16, axis=1))
        return model.padded_tokens(model.encode_image(rolled, seamless=True), geometry)

    def roll_tokens(tokens: torch.Tensor, shift: int) -> torch.Tensor:
        grid = crop_pad_tokens(tokens, rows, cols).reshape(1, rows, cols, -1)
        return wrap_pad_tokens(torch.roll(grid, shift, dims=2).reshape(1, rows * cols, -1), rows, cols)

    assert (roll_tokens(control_tokens(0), k) - control_tokens(k)).abs().max().item() < 1e-4

    def denoise(noise_shift: int, control_shift: int | None) -> torch.Tensor:
        noise = torch.roll(model.seeded_noise(1234, geometry, torch.float32), noise_shift * 2, dims=3)
        if control_shift is None:
            # The plain model (no Control LoRA) through the same loop.
            engine.run(request.replace(control_image=None, control_lora=None, steps=1))
            hooks = []
        else:
            hooks = [ControlHook(control_tokens(control_shift), request, lambda scale: None)]
        cond, _ = model.encode(request)
        inputs = DenoiseInputs.for_request(
            model.padded_tokens(noise, geometry),
            model.padded_ids(geometry, torch.float32),
            cond,
            None,
            request,
            geometry,
        )
        schedule = model.schedule(request, geometry)
        tokens = model.denoise(inputs, schedule, lambda e: None, CancelToken(), geometry, hooks=hooks)
        return unpack_latents(crop_pad_tokens(tokens, rows, cols), geometry.height, geometry.width)

    expected = torch.roll(denoise(0, 0), 2 * k, dims=3)
    aligned = (expected - denoise(k, k)).abs().max().item()
    misaligned = (expected - denoise(k, 0)).abs().max().item()
    plain = (torch.roll(denoise(0, None), 2 * k, dims=3) - denoise(k, None)).abs().max().item()
    assert plain > 0 and aligned < 1.2 * plain
    assert misaligned > 5 * aligned


def test_control_lora_for_another_base_is_refused(engine, control_png, tmp_path):
    from dit360_desktop.testing.tiny_control import build_bfl_control_lora

    bfl = build_bfl_control_lora(tmp_path / "flux1-depth-dev-lora.safetensors")
    with pytest.raises(LoraMismatchError, match="another base model"):
        engine.run(request_for(control_png, bfl))


def test_control_image_of_another_aspect(engine, control_lora, tmp_path):
    square = tmp_path / "square.png"
    Image.new("RGB", (128, 128), (90, 40, 200)).save(square)
    result = engine.run(request_for(square, control_lora))
    assert any("not 256:128" in w and "fitted" in w for w in result.metadata["warnings"])
    strip = tmp_path / "strip.png"
    Image.new("RGB", (1024, 32), (90, 40, 200)).save(strip)
    with pytest.raises(RequestError, match="control_image"):
        engine.run(request_for(strip, control_lora))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"control_lora": None}, "control_lora"),
        ({"control_image": None}, "control_image"),
        ({"control_scale": 3.0}, "control_scale"),
        ({"control_start": 0.6, "control_end": 0.4}, "control_end"),
    ],
)
def test_bad_control_fields_name_the_field(control_png, control_lora, changes, field):
    with pytest.raises(RequestError) as raised:
        request_for(control_png, control_lora).replace(**changes).validate()
    assert raised.value.field == field
