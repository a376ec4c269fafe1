"""Time and peak memory of the seam-aware upscale at the product size, against baselines in the same run.

Run: python tests/benchmarks/upscale.py [--size 2048] [--feat 16] [--conv 8] [--tile 256] [--device cpu]

A 2048×1024 panorama is upscaled ×2 (4096×2048) and ×4 (8192×4096) by a Real-ESRGAN Compact network
built from spandrel's own class with random weights (``--feat``/``--conv``: 16/8 is a small model;
64/32 is the size of realesr-general-x4v3, the catalog's model). Each case runs in a fresh process, so
its peak resident memory (ru_maxrss) and, on CUDA, its peak allocated GPU memory are its own. Baselines:
Pillow's bicubic resize to the same size (time), and the same network untiled (``--tile 0``; memory).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def panorama(height: int) -> np.ndarray:
    width = 2 * height
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = 2 * np.pi * x / width
    rng = np.random.default_rng(0)
    image = np.stack(
        [128 + 60 * np.sin(t + y / 90), 110 + 50 * np.cos(3 * t) + y / 20, 128 + 45 * np.sin(2 * t + y / 60)],
        -1,
    )
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def build_model(path: Path, feat: int, conv: int) -> Path:
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    model = Compact(num_in_ch=3, num_out_ch=3, num_feat=feat, num_conv=conv, upscale=4)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def run_case(args: argparse.Namespace) -> dict:
    import torch

    from dit360_desktop.core.upscale.model import load_sr_model
    from dit360_desktop.core.upscale.pipeline import upscale_pixels

    pixels = panorama(args.size // 2)
    if args.case == "bicubic":
        from PIL import Image

        start = time.perf_counter()
        out = Image.fromarray(pixels).resize(
            (args.size * args.scale, args.size // 2 * args.scale), Image.BICUBIC
        )
        seconds = time.perf_counter() - start
        shape = (out.height, out.width)
    else:
        sr = load_sr_model(args.model, device=args.device)
        if sr.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        out, _ = upscale_pixels(pixels, sr, args.scale, tile=args.tile, margin=args.margin)
        if sr.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        shape = out.shape[:2]
    gpu = torch.cuda.max_memory_allocated() if torch.cuda.is_available() and args.device != "cpu" else 0
    return {
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": gpu / 2**20,
        "shape": list(shape),
    }


def child(args: argparse.Namespace, case: str, scale: int, tile: int, model: Path) -> dict:
    command = [sys.executable, __file__, "--child", case, "--scale", str(scale), "--tile", str(tile)]
    command += [
        "--model",
        str(model),
        "--size",
        str(args.size),
        "--device",
        args.device,
        "--margin",
        str(args.margin),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{case} ×{scale} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="panorama width (height = width / 2)")
    parser.add_argument("--feat", type=int, default=16)
    parser.add_argument("--conv", type=int, default=8)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--margin", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-untiled", action="store_true", help="skip the untiled memory baseline")
    args = parser.parse_args()
    if args.child:
        args.case = args.child
        print(json.dumps(run_case(args)))
        return

    with tempfile.TemporaryDirectory() as folder:
        model = build_model(Path(folder) / "compact.safetensors", args.feat, args.conv)
        print(
            f"{args.size}×{args.size // 2} panorama, Compact {args.feat} features × {args.conv} convs, "
            f"tile {args.tile} + margin {args.margin}, device {args.device}"
        )
        print(f"{'case':<22} {'time':>9} {'peak RSS':>10} {'peak GPU':>10}   ratio")
        for scale in (2, 4):
            base = child(args, "bicubic", scale, 0, model)
            ours = child(args, "tiled", scale, args.tile, model)
            rows = [
                ("bicubic (Pillow)", base, ""),
                ("ours, tiled", ours, f"time ×{ours['seconds'] / base['seconds']:.1f} of bicubic"),
            ]
            if not args.no_untiled:
                untiled = child(args, "untiled", scale, 0, model)
                ratio = ours["peak_rss_mb"] / untiled["peak_rss_mb"]
                gpu = (
                    f", GPU ×{ours['peak_gpu_mb'] / untiled['peak_gpu_mb']:.2f}"
                    if untiled["peak_gpu_mb"]
                    else ""
                )
                rows.append(("ours, untiled", untiled, f"tiled peak RSS ×{ratio:.2f} of untiled{gpu}"))
            height, width = ours["shape"]
            print(f"×{scale} → {width}×{height}")
            for name, data, note in rows:
                memory = f"{data['peak_rss_mb']:8.0f}MB {data['peak_gpu_mb']:8.0f}MB"
                print(f"  {name:<20} {data['seconds']:8.1f}s {memory}   {note}")


if __name__ == "__main__":
    main()
