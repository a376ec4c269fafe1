"""Regional prompts (core/guides/regions.py): the joint-attention mask and the loop, on the tiny FLUX."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.core.guides.regions import (
    joint_attention_mask,
    negative_attention_mask,
    pad_token_masks,
    token_masks,
)
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.regions import MAX_REGIONS, read_regions
from dit360_desktop.panorama.request import GenerationRequest

WIDTH, HEIGHT = 128, 64  # an 8 × 4 token grid, 10 columns with the wrap pads
PROMPT = "This is a panorama image. A castle on a hill at sunset."


def write_mask(path, columns=None, rows=None, value=255):
    pixels = np.zeros((HEIGHT, WIDTH), np.uint8)
    if columns is not None:
        pixels[:, columns] = value
    if rows is not None:
        pixels[rows, :] = value
    Image.fromarray(pixels).save(path)
    return path


def write_regions(folder, regions):
    path = folder / "regions.json"
    path.write_text(json.dumps(regions))
    return path


def test_mask_on_the_token_grid_with_wrap_columns():
    # A region over the first token column (pixels 0..15) and the top token row of the last column.
    pixels = np.zeros((HEIGHT, WIDTH), np.uint8)
    pixels[:, :16] = 255
    pixels[:16, -16:] = 255
    masks = pad_token_masks(token_masks([Image.fromarray(pixels)], 4, 8))
    assert masks.shape == (1, 4, 10)
    # Padded columns: [copy of col 7, col 0 … col 7, copy of col 0].
    assert masks[0, :, 1].all() and masks[0, :, 9].all()  # col 0 and the right pad that copies it
    assert masks[0, 0, 8] and masks[0, 0, 0]  # col 7's top token and the left pad that copies it
    assert not masks[0, 1:, 0].any() and masks[0, :, 2:8].sum() == 0

    mask = joint_attention_mask([2, 3], masks)
    text, tokens = 5, 40
    assert mask.shape == (text + tokens, text + tokens)
    assert torch.equal(mask, mask.T)
    assert mask[text:, text:].all()  # image ↔ image
    inside = torch.from_numpy(masks[0].reshape(-1))
    # Region tokens read the region prompt (text 2..4) and not the base (text 0..1); the others, the base.
    assert torch.equal(mask[text:, 2], inside) and torch.equal(mask[text:, 0], ~inside)
    # Prompts read their own text only, never each other.
    assert mask[:2, :2].all() and mask[2:5, 2:5].all() and not mask[:2, 2:5].any()
    # A pad token belongs where its column does: the right pad of row 2 (index 2·10 + 9) is in the region.
    assert mask[text + 2 * 10 + 9, 2] and not mask[text + 2 * 10 + 9, 0]


@pytest.fixture(scope="module")
def engine(tiny_flux_dir):
    return PanoramaEngine(tiny_flux_dir)


def request_for(**changes):
    fields = dict(
        prompt=PROMPT, width=WIDTH, height=HEIGHT, steps=3, seed=21, lora_path=None, dtype="fp32",
        device="cpu", regions_until=1.0,
    )  # fmt: skip
    fields.update(changes)
    return GenerationRequest(**fields)


@pytest.fixture(scope="module")
def plain(engine):
    return engine.run(request_for()).latent


def test_region_covering_nothing_is_bit_identical(engine, plain, tmp_path):
    mask = write_mask(tmp_path / "nothing.png")
    regions = write_regions(tmp_path, [{"prompt": "a red dragon", "mask": mask.name}])
    result = engine.run(request_for(regions_file=str(regions)))
    assert torch.equal(result.latent, plain)
    assert any("covers no part" in w for w in result.metadata["warnings"])


def test_one_region_everywhere_with_the_base_prompt_is_plain(engine, plain, tmp_path):
    mask = write_mask(tmp_path / "all.png", columns=slice(None))
    regions = write_regions(tmp_path, [{"prompt": PROMPT, "mask": mask.name}])
    result = engine.run(request_for(regions_file=str(regions)))
    assert (result.latent - plain).abs().max().item() < 1e-5


def test_regions_steer_their_tokens_for_their_steps(engine, plain, tmp_path):
    left = write_mask(tmp_path / "left.png", columns=slice(0, 64))
    regions = write_regions(tmp_path, [{"prompt": "a red dragon in the snow", "mask": left.name}])
    full = engine.run(request_for(regions_file=str(regions))).latent
    assert (full - plain).abs().max() > 1e-3
    early = engine.run(request_for(regions_file=str(regions), regions_until=0.34)).latent
    assert (early - full).abs().max() > 1e-4 and (early - plain).abs().max() > 1e-4


def test_overlapping_regions_read_both_prompts(tmp_path):
    both = np.zeros((2, 1, 3), bool)
    both[0, 0, :2] = True
    both[1, 0, 1:] = True
    mask = joint_attention_mask([1, 1, 1], both)
    # Token 1 is in both regions: it reads prompts 1 and 2, not the base.
    assert mask[3 + 1, 1] and mask[3 + 1, 2] and not mask[3 + 1, 0]


def test_too_many_regions_empty_prompt_and_bad_json(tmp_path):
    mask = write_mask(tmp_path / "m.png", columns=slice(0, 8))
    many = write_regions(tmp_path, [{"prompt": f"p{i}", "mask": mask.name} for i in range(MAX_REGIONS + 1)])
    with pytest.raises(RequestError) as raised:
        read_regions(many)
    assert raised.value.field == "regions" and "at most 8" in str(raised.value)
    empty = write_regions(tmp_path, [{"prompt": "a", "mask": mask.name}, {"prompt": "  ", "mask": mask.name}])
    with pytest.raises(RequestError) as raised:
        read_regions(empty)
    assert raised.value.field == "regions[1].prompt"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"prompt": "a", "mask": ')
    with pytest.raises(RequestError) as raised:
        read_regions(bad)
    assert raised.value.field == "regions" and "not valid JSON" in str(raised.value)


def test_a_mask_that_cannot_be_fitted_is_refused(engine, tmp_path):
    strip = tmp_path / "strip.png"
    Image.new("L", (1024, 16), 255).save(strip)
    regions = write_regions(tmp_path, [{"prompt": "sea", "mask": strip.name}])
    with pytest.raises(RequestError) as raised:
        engine.run(request_for(regions_file=str(regions)))
    assert raised.value.field == "regions[0].mask"


NEGATIVE = "blurry, low quality"


@pytest.fixture(scope="module")
def plain_cfg(engine):
    return engine.run(request_for(negative_prompt=NEGATIVE, true_cfg_scale=3.0)).latent


@pytest.mark.parametrize("batched", [True, False])
def test_regions_with_true_cfg_keep_the_negative_pass_plain(engine, plain_cfg, tmp_path, batched):
    """One region everywhere with the base prompt, under true CFG, equals plain true CFG: the conditional
    pass is the regional one (= plain by the rule above) and the negative pass reads only the negative
    prompt. Were the negative pass given the region masks, its tokens would read the region's (= base)
    prompt and the guidance would vanish."""
    mask = write_mask(tmp_path / "all.png", columns=slice(None))
    regions = write_regions(tmp_path, [{"prompt": PROMPT, "mask": mask.name}])
    request = request_for(negative_prompt=NEGATIVE, true_cfg_scale=3.0, regions_file=str(regions))
    engine.batched_cfg = batched
    try:
        result = engine.run(request)
    finally:
        engine.batched_cfg = True
    assert (result.latent - plain_cfg).abs().max().item() < 1e-5


def test_regions_with_true_cfg_steer_only_the_conditional_pass(engine, plain_cfg, tmp_path):
    left = write_mask(tmp_path / "left.png", columns=slice(0, 64))
    regions = write_regions(tmp_path, [{"prompt": "a red dragon in the snow", "mask": left.name}])
    request = request_for(negative_prompt=NEGATIVE, true_cfg_scale=3.0, regions_file=str(regions))
    result = engine.run(request)
    assert (result.latent - plain_cfg).abs().max().item() > 1e-3


def test_the_negative_mask_isolates_the_region_prompts():
    mask = negative_attention_mask([2, 3], 4)
    text = 5
    assert mask[text:, :2].all() and mask[:2, text:].all() and mask[text:, text:].all()
    # The region prompt's tokens read only themselves, and no image or negative token reads them.
    assert mask[2:5, 2:5].all() and not mask[2:5, :2].any() and not mask[2:5, text:].any()
    assert not mask[text:, 2:5].any() and not mask[:2, 2:5].any()


@pytest.mark.parametrize("negative", [(False,), (True,), (False, True)])
def test_grouped_attention_equals_the_masked_attention(negative):
    """The grouped attention (no dense mask) against scaled_dot_product_attention with the rule's mask,
    on random queries, keys and values, with overlapping regions, an uncovered part and wrap columns."""
    from dit360_desktop.core.guides.regional_attention import RegionalAttention, attention_groups

    regions = np.zeros((2, 4, 8), bool)
    regions[0, :, :5] = True
    regions[1, 1:3, 3:7] = True  # overlaps region 0 on columns 3-4
    regions = pad_token_masks(regions)
    lengths = [5, 3, 4]
    total = sum(lengths) + regions[0].size
    generator = torch.Generator().manual_seed(0)
    query, key, value = (torch.randn(len(negative), total, 2, 8, generator=generator) for _ in range(3))
    attention = RegionalAttention([attention_groups(lengths, regions, negative=item) for item in negative])
    grouped = attention.attend(query, key, value)
    masks = torch.stack(
        [negative_attention_mask(lengths, regions[0].size) if item else joint_attention_mask(lengths, regions)
         for item in negative]
    )[:, None]  # fmt: skip
    masked = torch.nn.functional.scaled_dot_product_attention(
        query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_mask=masks
    ).transpose(1, 2)
    assert grouped.shape == masked.shape
    assert (grouped - masked).abs().max().item() < 1e-5
