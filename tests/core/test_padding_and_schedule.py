"""Packing, DiT360 wrap padding of tokens and ids, and the schedule numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dit360_desktop.core.padding import (
    crop_pad_tokens,
    latent_image_ids,
    pack_latents,
    unpack_latents,
    wrap_pad_ids,
    wrap_pad_tokens,
)
from dit360_desktop.core.sampler import calculate_shift, make_scheduler

FLUX_SCHEDULER = {
    "_class_name": "FlowMatchEulerDiscreteScheduler",
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
}


def test_pack_unpack_roundtrip_and_feature_order():
    latents = torch.randn(1, 16, 8, 12)
    tokens = pack_latents(latents)
    assert tokens.shape == (1, 4 * 6, 64)
    assert torch.equal(unpack_latents(tokens, 8, 12), latents)
    # Token (i, j) holds channel c's 2×2 patch at features 4c..4c+3 in row-major (dy, dx) order.
    i, j, c = 2, 3, 5
    patch = latents[0, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].reshape(-1)
    assert torch.equal(tokens[0, i * 6 + j, 4 * c : 4 * c + 4], patch)


def test_wrap_padding_puts_last_column_left_and_first_right():
    rows, cols = 3, 5
    tokens = torch.arange(rows * cols, dtype=torch.float32).reshape(1, rows * cols, 1)
    padded = wrap_pad_tokens(tokens, rows, cols).reshape(rows, cols + 2)
    grid = tokens.reshape(rows, cols)
    assert torch.equal(padded[:, 0], grid[:, -1])
    assert torch.equal(padded[:, -1], grid[:, 0])
    assert torch.equal(padded[:, 1:-1], grid)
    assert torch.equal(crop_pad_tokens(wrap_pad_tokens(tokens, rows, cols), rows, cols), tokens)


def test_position_ids_are_padded_with_the_ids_they_copy():
    rows, cols = 4, 6
    ids = latent_image_ids(rows, cols)
    assert ids.shape == (rows * cols, 3)
    assert ids[cols + 2].tolist() == [0.0, 1.0, 2.0]
    padded = wrap_pad_ids(ids, rows, cols).reshape(rows, cols + 2, 3)
    assert padded[2, 0].tolist() == [0.0, 2.0, cols - 1]
    assert padded[2, -1].tolist() == [0.0, 2.0, 0.0]
    assert padded[2, 1].tolist() == [0.0, 2.0, 0.0]


def test_mu_for_the_trained_size_uses_the_padded_length():
    # 2048×1024 → latent 128×256 → token grid 64×128 → padded 64×130 = 8320 tokens.
    padded = 64 * 130
    slope = (1.15 - 0.5) / (4096 - 256)
    assert calculate_shift(padded, FLUX_SCHEDULER) == pytest.approx(padded * slope + 0.5 - 256 * slope)
    assert calculate_shift(padded, FLUX_SCHEDULER) == pytest.approx(1.865, abs=1e-6)


def test_schedule_sigmas_and_timesteps():
    steps = 28
    scheduler, timesteps, start = make_scheduler(FLUX_SCHEDULER, steps, 64 * 130, torch.device("cpu"))
    assert start == 0 and len(timesteps) == steps
    mu = calculate_shift(64 * 130, FLUX_SCHEDULER)
    base = np.linspace(1.0, 1 / steps, steps)
    shifted = np.exp(mu) / (np.exp(mu) + (1 / base - 1))
    assert np.allclose(scheduler.sigmas[:-1].numpy(), shifted, atol=1e-6)
    assert scheduler.sigmas[-1].item() == 0.0
    assert np.allclose(timesteps.numpy(), shifted * 1000, atol=1e-3)


@pytest.mark.parametrize(("strength", "remaining"), [(1.0, 28), (0.3, 9), (0.5, 14)])
def test_img2img_starts_part_way(strength, remaining):
    _, timesteps, start = make_scheduler(FLUX_SCHEDULER, 28, 64 * 130, torch.device("cpu"), strength)
    assert len(timesteps) == remaining
    assert start == 28 - remaining
