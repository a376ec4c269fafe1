"""The upscaler's allocator setting: freed activations kept between layers (core/upscale/memory.py)
against glibc's defaults, in the same run, each case in a fresh process (its own peak memory).

Run: python tests/benchmarks/upscale_memory.py [--size 1024] [--feat 64] [--conv 32] [--tile 512] [--repeat 2]

A ``size``×``size/2`` panorama is upscaled ×4 in tiles by a Real-ESRGAN Compact network in plain torch
(64 features and 32 hidden convolutions: the size of the catalog's realesr-general-x4v3; random
weights, the same arithmetic). ``--size 2048`` is the 8192×4096 case of issue 21, item 16. Cases
alternate (default, kept, default, kept …) so a machine's drifting load hits both. Prints one JSON line
per run and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def run_case(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from dit360_desktop.core.upscale.memory import freed_memory_kept
    from dit360_desktop.core.upscale.tiling import upscale_tiled

    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(3, args.feat, 3, padding=1), torch.nn.PReLU(args.feat)]
    for _ in range(args.conv):
        layers += [torch.nn.Conv2d(args.feat, args.feat, 3, padding=1), torch.nn.PReLU(args.feat)]
    layers += [torch.nn.Conv2d(args.feat, 48, 3, padding=1), torch.nn.PixelShuffle(4)]
    body = torch.nn.Sequential(*layers).eval()

    @torch.inference_mode()
    def network(x: torch.Tensor) -> torch.Tensor:
        return body(x) + torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")

    pixels = np.random.default_rng(0).integers(0, 256, (args.size // 2, args.size, 3), dtype=np.uint8)
    started = time.perf_counter()
    if args.case == "kept":
        with freed_memory_kept() as kept:
            out = upscale_tiled(pixels, network, 4, tile=args.tile, margin=34)
    else:
        kept = False
        out = upscale_tiled(pixels, network, 4, tile=args.tile, margin=34)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "case": args.case,
        "allocator_kept": kept,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "minor_faults": usage.ru_minflt,
        "output": list(out.shape),
        "torch_threads": torch.get_num_threads(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="input width (output is 4×)")
    parser.add_argument("--feat", type=int, default=64)
    parser.add_argument("--conv", type=int, default=32)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--case", choices=("default", "kept"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args)))
        return 0
    rows = []
    for _ in range(args.repeat):
        for case in ("default", "kept"):
            command = [sys.executable, __file__, "--case", case, "--size", str(args.size), "--feat",
                       str(args.feat), "--conv", str(args.conv), "--tile", str(args.tile)]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            rows.append(row)
    median = {c: statistics.median(r["seconds"] for r in rows if r["case"] == c) for c in ("default", "kept")}
    peak = {c: max(r["peak_rss_mb"] for r in rows if r["case"] == c) for c in ("default", "kept")}
    ratio = median["default"] / median["kept"]
    print(
        f"×4 to {4 * args.size}×{2 * args.size}: default {median['default']:.2f} s, "
        f"kept {median['kept']:.2f} s (×{ratio:.2f} faster); "
        f"peak RSS {peak['default']:.0f} / {peak['kept']:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
