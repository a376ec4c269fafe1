"""A rough time and memory estimate of an upscale before it starts, from the SR file's header alone (no
torch, no weights read), for the app's Upscale… dialog.

- Work: every 4-D weight is taken as a convolution run at the input resolution, 2·out·in·kh·kw operations
  per pixel (an ESRGAN's upsampling convolutions run at 2× and 4× and are underestimated), times the pixels
  of every pass, times the tile margins' overhead ((tile + 2·margin)² / tile²).
- Throughput: ``CPU_FLOPS_PER_CORE`` per core on the CPU (measured with tests/benchmarks/upscale.py on the
  development VM: about 5 GFLOP/s on 2 cores for a small Compact network) and ``GPU_FLOPS`` on a GPU; the
  estimate is a range from half to twice that.
- Memory: one tile window's activations on the device (the widest layer's channels, three tensors alive at
  once, float32) and the uint8 output canvas in RAM (plus the ×4 canvas when a ×4 model is reduced to ×2).
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

CPU_FLOPS_PER_CORE = 2.5e9
GPU_FLOPS = 1.0e13
ASSUMED_MODEL_SCALE = 4


@dataclass(frozen=True)
class UpscaleEstimate:
    output_size: tuple[int, int]
    passes: int
    tiles: int
    seconds_low: float
    seconds_high: float
    device_bytes: int
    ram_bytes: int

    def describe(self) -> str:
        def clock(seconds: float) -> str:
            return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{max(1.0, seconds):.0f} s"

        width, height = self.output_size
        low, high = clock(self.seconds_low), clock(self.seconds_high)
        span = high if low == high else f"{low}–{high}"
        return (
            f"{width}×{height}, {self.tiles} tiles; about {span}; "
            f"memory about {self.device_bytes / 2**20:.0f} MB for a tile and {self.ram_bytes / 2**20:.0f} MB "
            "for the picture"
        )


def conv_shapes(path: str | os.PathLike[str]) -> list[tuple[int, ...]]:
    """Shapes of the 4-D tensors in a safetensors file, read from its header."""
    with Path(path).open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > 100_000_000:
            raise ValueError(f"{Path(path).name} has an implausible safetensors header ({length} bytes)")
        header = json.loads(handle.read(length))
    return [
        tuple(v["shape"]) for k, v in header.items() if k != "__metadata__" and len(v.get("shape", ())) == 4
    ]


def estimate_upscale(
    width: int,
    height: int,
    scale: int,
    model_file: str | os.PathLike[str],
    *,
    tile: int,
    margin: int = 32,
    gpu: bool = False,
    cores: int | None = None,
    model_scale: int = ASSUMED_MODEL_SCALE,
) -> UpscaleEstimate:
    shapes = conv_shapes(model_file)
    if not shapes:
        raise ValueError(f"{Path(model_file).name} has no convolution weights to estimate from")
    per_pixel = sum(2 * o * i * kh * kw for o, i, kh, kw in shapes)
    widest = max(max(o, i) for o, i, _, _ in shapes)
    passes, reached, pixels, tiles = 0, 1, 0, 0
    w, h = width, height
    while reached < scale:
        side = tile if tile > 0 else max(w, h)
        pixels += w * h
        tiles += math.ceil(h / side) * math.ceil(w / side)
        w, h = w * model_scale, h * model_scale
        reached *= model_scale
        passes += 1
    core = tile if tile > 0 else max(width, height)
    window = min(core, max(width, height)) + 2 * margin
    overhead = (window / core) ** 2 if tile > 0 else 1.0
    flops = per_pixel * pixels * overhead
    throughput = GPU_FLOPS if gpu else CPU_FLOPS_PER_CORE * (cores or os.cpu_count() or 1)
    seconds = flops / throughput
    device = window * window * widest * 4 * 3 + (window * model_scale) ** 2 * 3 * 4 * 2
    canvas = width * scale * height * scale * 3
    if reached > scale:
        canvas += width * reached * height * reached * 3
    return UpscaleEstimate(
        output_size=(width * scale, height * scale),
        passes=passes,
        tiles=tiles,
        seconds_low=seconds / 2,
        seconds_high=seconds * 2,
        device_bytes=int(device),
        ram_bytes=int(canvas),
    )
