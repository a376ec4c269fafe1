"""Issue 21, item 16: the tile margin comes from the network's receptive field (the catalog's Compact
network reads 34 px, the fixed margin was 32), and freed activations stay in the process between layers
while an upscale runs (glibc's allocator otherwise hands them back and faults them in again each layer)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dit360_desktop.core.upscale import memory
from dit360_desktop.core.upscale.model import MAX_MARGIN, SuperResolution, receptive_radius
from dit360_desktop.core.upscale.pipeline import upscale_pixels


class Compact(torch.nn.Module):
    """Real-ESRGAN Compact's layout (SRVGGNetCompact, as spandrel builds it) in plain torch: a 3×3
    convolution in, ``num_conv`` hidden ones, one out, a pixel shuffle, plus the nearest upscale."""

    def __init__(self, num_conv: int, scale: int = 4, feat: int = 8) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.scale = scale
        layers: list[torch.nn.Module] = [torch.nn.Conv2d(3, feat, 3, padding=1), torch.nn.PReLU(feat)]
        for _ in range(num_conv):
            layers += [torch.nn.Conv2d(feat, feat, 3, padding=1), torch.nn.PReLU(feat)]
        layers += [torch.nn.Conv2d(feat, 3 * scale * scale, 3, padding=1), torch.nn.PixelShuffle(scale)]
        self.body = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + torch.nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")


def as_sr(module: torch.nn.Module, scale: int = 4) -> SuperResolution:
    return SuperResolution(module.eval(), scale, "Compact (test)", Path("c.safetensors"), torch.device("cpu"),
                           torch.float32)  # fmt: skip


@pytest.mark.parametrize(("num_conv", "radius"), [(0, 2), (2, 4), (32, 34)])
def test_receptive_radius_of_compact_networks(num_conv: int, radius: int) -> None:
    assert receptive_radius(Compact(num_conv), 4) == radius
    assert as_sr(Compact(num_conv)).context_margin() == radius


def test_a_network_that_reads_further_gets_the_cap() -> None:
    deep = torch.nn.Sequential(*[torch.nn.Conv2d(3, 3, 5, padding=2) for _ in range(60)])
    assert receptive_radius(deep, 1, limit=40) == 40
    assert MAX_MARGIN >= 34


def shifting(module: Compact) -> Compact:
    """Every convolution moves its input one pixel right and every PReLU passes it on: the output at x
    is the input at x − 34, at full strength, so a margin that falls short shows at once."""
    with torch.no_grad():
        for layer in module.body:
            if isinstance(layer, torch.nn.Conv2d):
                layer.weight.zero_()
                layer.bias.zero_()
                for out in range(layer.out_channels):
                    layer.weight[out, out % layer.in_channels, 1, 0] = 1.0
            elif isinstance(layer, torch.nn.PReLU):
                layer.weight.fill_(1.0)
    return module


def test_tiles_join_exactly_with_the_measured_margin() -> None:
    """With the old fixed 32 px margin the catalog-sized network (34 px) shows where tiles meet."""
    sr = as_sr(shifting(Compact(32, feat=3)))
    assert sr.context_margin() == 34
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (96, 192, 3), dtype=np.uint8)
    untiled, _ = upscale_pixels(image, sr, 4, tile=0)
    tiled, report = upscale_pixels(image, sr, 4, tile=48)
    assert report.tiles == 8
    assert np.abs(untiled.astype(int) - tiled).max() <= 1
    old, _ = upscale_pixels(image, sr, 4, tile=48, margin=32)
    assert np.abs(untiled.astype(int) - old).max() > 1


# Run in a fresh interpreter: a heap that earlier tests in this process left with a large free chunk
# serves a 64 MiB block from that chunk, without asking the kernel, and the "default" count read 0
# (seen once in three runs of this file).
FAULTS = """
import ctypes, json, resource, sys
from dit360_desktop.core.upscale import memory

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]


def faults_for_a_large_block(blocks=3, size=64 << 20):
    # Minor page faults for allocating (malloc, as torch's CPU allocator does), touching and freeing
    # ``blocks`` large buffers in turn.
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(blocks):
        block = libc.malloc(size)
        assert block
        ctypes.memset(block, 1, size)
        libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start


out = {}
if sys.argv[1] == "kept":
    faults_for_a_large_block(1)  # warm up
    out["default"] = faults_for_a_large_block()
    with memory.freed_memory_kept() as kept:
        out["kept"] = kept
        faults_for_a_large_block(1)  # the first block faults in once ...
        out["reused"] = faults_for_a_large_block()  # ... and is reused
    out["after"] = faults_for_a_large_block()
else:
    with memory.freed_memory_kept(), memory.freed_memory_kept():
        faults_for_a_large_block(1)
    out["default"] = faults_for_a_large_block()
    with memory.freed_memory_kept():
        faults_for_a_large_block(1)
        out["reused"] = faults_for_a_large_block()
print(json.dumps(out))
"""


def _faults(scenario: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS, scenario], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not memory.available(), reason="glibc's malloc switches are Linux/glibc only")
def test_freed_memory_is_reused_while_kept_and_returned_after() -> None:
    counts = _faults("kept")
    assert counts["kept"] is True
    # By default every block comes from the kernel again (one fault per page, or per huge page where
    # transparent huge pages are on); kept, the same pages serve the next block.
    assert counts["default"] >= 3 * (64 << 20) // (2 << 20)
    assert counts["reused"] * 10 < counts["default"]
    assert counts["after"] * 2 > counts["default"]  # the defaults are back: nothing is held after an upscale


@pytest.mark.skipif(not memory.available(), reason="glibc's malloc switches are Linux/glibc only")
def test_nested_uses_share_one_setting() -> None:
    counts = _faults("nested")
    # The outer use ended after the inner one: the defaults are back, and a later use keeps memory again.
    assert counts["default"] >= 3 * (64 << 20) // (2 << 20)
    assert counts["reused"] * 10 < counts["default"]
