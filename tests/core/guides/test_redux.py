"""A reference image (core/guides/redux.py) against diffusers' FluxPriorReduxPipeline, on tiny weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.panorama.errors import ModelInvalidError, RequestError
from dit360_desktop.panorama.request import GenerationRequest

PROMPT = "This is a panorama image. A beach with palm trees."


@pytest.fixture(scope="module")
def redux_dir(tmp_path_factory):
    from dit360_desktop.testing.tiny_redux import build_tiny_redux

    return build_tiny_redux(tmp_path_factory.mktemp("redux") / "FLUX.1-Redux-dev")


@pytest.fixture(scope="module")
def reference_png(tmp_path_factory):
    rng = np.random.default_rng(5)
    path = tmp_path_factory.mktemp("reference") / "photo.png"
    Image.fromarray(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def engine(tiny_flux_dir):
    return PanoramaEngine(tiny_flux_dir)


def request_for(reference_png, redux_dir, **changes) -> GenerationRequest:
    fields = dict(
        prompt=PROMPT, width=128, height=64, steps=2, seed=9, lora_path=None, dtype="fp32", device="cpu",
        reference_image=str(reference_png), reference_model=str(redux_dir),
    )  # fmt: skip
    fields.update(changes)
    return GenerationRequest(**fields)


def test_prompt_embeddings_match_flux_prior_redux(engine, tiny_flux_dir, redux_dir, reference_png):
    from diffusers import FluxPriorReduxPipeline
    from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder
    from transformers import (
        CLIPTextModel,
        CLIPTokenizer,
        SiglipImageProcessor,
        SiglipVisionModel,
        T5EncoderModel,
        T5TokenizerFast,
    )

    request = request_for(reference_png, redux_dir)
    engine.load(device="cpu", dtype="fp32")
    cond, uncond = engine.model.encode(request)
    assert uncond is None

    pipe = FluxPriorReduxPipeline(
        image_encoder=SiglipVisionModel.from_pretrained(redux_dir / "image_encoder"),
        feature_extractor=SiglipImageProcessor.from_pretrained(redux_dir / "feature_extractor"),
        image_embedder=ReduxImageEncoder.from_pretrained(redux_dir / "image_embedder"),
        text_encoder=CLIPTextModel.from_pretrained(tiny_flux_dir / "text_encoder"),
        tokenizer=CLIPTokenizer.from_pretrained(tiny_flux_dir / "tokenizer"),
        text_encoder_2=T5EncoderModel.from_pretrained(tiny_flux_dir / "text_encoder_2"),
        tokenizer_2=T5TokenizerFast.from_pretrained(tiny_flux_dir / "tokenizer_2"),
    )
    reference = pipe(Image.open(reference_png).convert("RGB"), prompt=PROMPT, prompt_2=PROMPT)
    assert cond.t5.shape == reference.prompt_embeds.shape == (1, 512 + 16, 32)
    assert (cond.t5 - reference.prompt_embeds).abs().max().item() < 1e-4
    assert (cond.pooled - reference.pooled_prompt_embeds).abs().max().item() < 1e-4
    assert cond.text_ids.shape == (512 + 16, 3) and not cond.text_ids.any()


def test_strength_zero_is_bit_identical_and_strength_steers(engine, redux_dir, reference_png):
    plain = engine.run(request_for(reference_png, redux_dir, reference_image=None, reference_model=None))
    zero = engine.run(request_for(reference_png, redux_dir, reference_strength=0.0))
    assert torch.equal(zero.latent, plain.latent)
    full = engine.run(request_for(reference_png, redux_dir))
    half = engine.run(request_for(reference_png, redux_dir, reference_strength=0.5))
    assert (full.latent - plain.latent).abs().max() > 1e-3
    assert (half.latent - full.latent).abs().max() > 1e-4


def test_reference_with_true_cfg_runs_batched(engine, redux_dir, reference_png):
    request = request_for(reference_png, redux_dir, negative_prompt="blurry", true_cfg_scale=2.0)
    result = engine.run(request)
    assert result.latent.shape == (1, 16, 8, 16)
    cond, uncond = engine.model.encode(request)
    assert cond.t5.shape == uncond.t5.shape == (1, 528, 32)


def test_redux_for_another_base_is_refused(engine, reference_png, tmp_path):
    from dit360_desktop.testing.tiny_redux import build_tiny_redux

    other = build_tiny_redux(tmp_path / "redux-other", text_dim=48)
    with pytest.raises(ModelInvalidError, match="another base model"):
        engine.run(request_for(reference_png, other))


def test_reference_fields_are_checked(reference_png, redux_dir):
    with pytest.raises(RequestError) as raised:
        request_for(reference_png, redux_dir, reference_model=None).validate()
    assert raised.value.field == "reference_model"
    with pytest.raises(RequestError) as raised:
        request_for(reference_png, redux_dir, reference_strength=2.5).validate()
    assert raised.value.field == "reference_strength"
