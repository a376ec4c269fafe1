"""The Upscale… dialog's estimate, from a safetensors header alone."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from dit360_desktop.panorama.sr_estimate import conv_shapes, estimate_upscale


@pytest.fixture
def compact_like(tmp_path):
    # The tensors of a Compact ×4 network with 8 features and 2 hidden convolutions.
    tensors = {
        "body.0.weight": torch.zeros(8, 3, 3, 3),
        "body.0.bias": torch.zeros(8),
        "body.2.weight": torch.zeros(8, 8, 3, 3),
        "body.4.weight": torch.zeros(8, 8, 3, 3),
        "body.6.weight": torch.zeros(48, 8, 3, 3),
    }
    path = tmp_path / "compact.safetensors"
    save_file(tensors, str(path))
    return path


def test_conv_shapes_from_the_header(compact_like) -> None:
    assert conv_shapes(compact_like) == [(8, 3, 3, 3), (8, 8, 3, 3), (8, 8, 3, 3), (48, 8, 3, 3)]


def test_estimate_counts_work_tiles_and_memory(compact_like) -> None:
    per_pixel = 2 * 9 * (8 * 3 + 8 * 8 + 8 * 8 + 48 * 8)
    untiled = estimate_upscale(2048, 1024, 4, compact_like, tile=0, cores=2)
    assert untiled.output_size == (8192, 4096) and untiled.passes == 1 and untiled.tiles == 1
    seconds = per_pixel * 2048 * 1024 / (2 * 2.5e9)
    assert untiled.seconds_low == pytest.approx(seconds / 2) and untiled.seconds_high == pytest.approx(
        seconds * 2
    )
    assert untiled.ram_bytes == 8192 * 4096 * 3
    tiled = estimate_upscale(2048, 1024, 4, compact_like, tile=512, cores=2)
    assert tiled.tiles == 8
    assert tiled.seconds_low == pytest.approx(seconds / 2 * (576 / 512) ** 2)
    assert tiled.device_bytes < untiled.device_bytes / 10  # memory bounded by the tile
    half = estimate_upscale(2048, 1024, 2, compact_like, tile=512, cores=2)
    assert half.output_size == (4096, 2048) and half.ram_bytes == 4096 * 2048 * 3 + 8192 * 4096 * 3
    assert "4096×2048, 8 tiles" in half.describe()


def test_estimate_refuses_files_without_convolutions(tmp_path) -> None:
    path = tmp_path / "lora.safetensors"
    save_file({"a.weight": torch.zeros(4, 4)}, str(path))
    with pytest.raises(ValueError, match="no convolution"):
        estimate_upscale(256, 128, 2, path, tile=0)
