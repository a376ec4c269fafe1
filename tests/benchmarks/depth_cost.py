"""Cost of the seam-exact depth of a panorama against one plain forward pass over the same pixels.

    .venv/bin/python tests/benchmarks/depth_cost.py [--width 2048] [--model DIR] [--device cpu]

Without ``--model`` it builds Depth Anything V2 Small's architecture (transformers' DepthAnythingConfig
defaults: DINOv2 ViT-S/14, 384 wide, 12 layers) with random weights: the compute is the same as with the
published weights, which cannot be downloaded here. Same run, same process:
- depth: ``core.depth.estimate_distance`` on a W×W/2 panorama (six 518² views, alignment, blend);
- baseline: one forward pass of the same module on one image with the panorama's pixel count (W×W/2,
  rounded to multiples of the 14-pixel patch), which is what running the model on the whole equirect at
  full resolution would cost.
Seconds are the best of ``--repeats``; peak memory is the process's peak RSS growth over each stage
(ru_maxrss, measured in a fresh child process per stage so one stage's peak does not hide the other's).
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

REPO_ROOT = Path(__file__).resolve().parents[2]


def small_architecture(folder: Path) -> Path:
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, DPTImageProcessor

    torch.manual_seed(0)
    DepthAnythingForDepthEstimation(DepthAnythingConfig()).save_pretrained(folder)
    DPTImageProcessor(
        size={"height": 518, "width": 518},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)
    return folder


def stage(kind: str, model: str, width: int, device: str, repeats: int) -> dict:
    import numpy as np
    import torch

    from dit360_desktop.core.depth.estimate import estimate_distance
    from dit360_desktop.core.depth.model import load_depth_model
    from dit360_desktop.core.depth.views import cube_views

    torch.set_grad_enabled(False)
    depth = load_depth_model(model, device=device)
    height = width // 2
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        if kind == "depth":
            estimate_distance(pixels, depth, views=cube_views(depth.view_size))
        else:
            h, w = 14 * round(height / 14), 14 * round(width / 14)
            x = torch.randn(1, 3, h, w, device=depth.device, dtype=depth.dtype)
            depth.module(pixel_values=x)
        if depth.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": min(times), "peak_rss_mb": peak / 1024, "rss_growth_mb": (peak - start_rss) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stage", choices=("depth", "forward"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage is not None:
        print(json.dumps(stage(args.stage, str(args.model), args.width, args.device, args.repeats)))
        return
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or small_architecture(Path(folder) / "da-v2-small-architecture")
        results = {}
        for kind in ("depth", "forward"):
            command = [
                sys.executable, str(Path(__file__).resolve()), "--stage", kind, "--model", str(model),
                "--width", str(args.width), "--device", args.device, "--repeats", str(args.repeats),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO_ROOT)
            results[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    report = {
        "size": f"{args.width}x{args.width // 2}",
        "device": args.device,
        "depth": results["depth"],
        "one_forward_same_pixels": results["forward"],
        "time_ratio": round(results["depth"]["seconds"] / results["forward"]["seconds"], 3),
        "peak_rss_ratio": round(results["depth"]["peak_rss_mb"] / results["forward"]["peak_rss_mb"], 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
