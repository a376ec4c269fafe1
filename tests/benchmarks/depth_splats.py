"""Time and peak memory of writing Gaussian splats (one per pixel) against writing the same bytes raw.

    .venv/bin/python tests/benchmarks/depth_splats.py [--width 2048]

The panorama is W×W/2 random colours with a smooth random distance map; the splat PLY (17 float32 per
splat, the reference 3DGS layout) goes to a temp folder. Baseline, in the same run: the same number of
bytes written from one ready numpy buffer with the same atomic writer (fileio.write_atomic), so the ratio
is the cost of computing the splats. Peak memory: the peak of Python/numpy allocations (tracemalloc)
during the call. Issue 23's budget at 2048×1024, stride 1: ≤ 3 s and ≤ 1 GB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from dit360_desktop.panorama.fileio import write_atomic
from dit360_desktop.panorama.pointcloud import write_splat_ply


def measure(function) -> tuple[float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    function()
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = args.width, args.width // 2
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    y = np.linspace(0, 3, height)[:, None]
    x = np.linspace(0, 6 * np.pi, width)[None, :]
    distance = (2.5 + np.sin(x) * np.cos(y)).astype(np.float32)
    raw = np.zeros(width * height * 17, dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "splats.ply"
        runs = []
        for _ in range(args.repeats):
            splats = measure(lambda: write_splat_ply(target, rgb, distance, metric=True))
            baseline = measure(lambda: write_atomic(Path(folder) / "raw.bin", raw.tobytes()))
            runs.append((splats, baseline))
        size = target.stat().st_size
    (seconds, peak), (base_seconds, base_peak) = min(runs, key=lambda r: r[0][0])
    report = {
        "size": f"{width}x{height}",
        "splats": width * height,
        "file_mb": round(size / 2**20, 1),
        "splats_s": round(seconds, 3),
        "splats_peak_mb": round(peak, 1),
        "raw_write_s": round(base_seconds, 3),
        "raw_write_peak_mb": round(base_peak, 1),
        "time_ratio": round(seconds / base_seconds, 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
