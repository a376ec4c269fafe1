"""Step caches ("fast draft") against no cache on the CPU test model: speed-up and deviation, same seed.

    python tests/benchmarks/step_cache_cpu.py --steps 28 --rounds 4 --json /tmp/step_cache.json

The "small" random FLUX (``testing/tiny_flux.SMALL``) at 256×128, fp32. Random weights: the deviation
(relative L2 of the final latent, PSNR of the decoded image, both against the uncached run of the same
seed) measures how much each cache changes the arithmetic, not picture quality. The methods run
interleaved for ``--rounds`` rounds and each keeps its fastest denoising time, because the machine is
shared; speed-ups are against the uncached run measured in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def psnr_db(a: np.ndarray, b: np.ndarray) -> float | None:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return None if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--methods", default="off,magcache,fbc,taylorseer")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.panorama.options import EngineOptions
    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.testing.tiny_flux import SMALL, build_tiny_flux

    methods = [m.strip() for m in args.methods.split(",")]
    if methods[0] != "off":
        parser.error("the first method must be off (the baseline)")
    with tempfile.TemporaryDirectory(prefix="step-cache-") as tmp:
        engine = PanoramaEngine(
            build_tiny_flux(Path(tmp) / "flux", size=SMALL), EngineOptions(previews=False)
        )
        request = GenerationRequest(
            "This is a panorama image. A lake", width=256, height=128, steps=args.steps, seed=1, device="cpu"
        )
        engine.run(request.replace(steps=2))  # load and warm up
        times: dict[str, list[float]] = {m: [] for m in methods}
        results = {}
        for round_index in range(args.rounds):
            for method in methods:
                result = engine.run(request.replace(step_cache=method))
                times[method].append(result.metadata["timings"]["denoising"])
                results[method] = result
                sys.stdout.write(f"round {round_index + 1}: {method} {times[method][-1]:.2f} s\n")
                sys.stdout.flush()
    exact = results["off"]
    rows = []
    for method in methods:
        latent = results[method].latent
        rows.append(
            {
                "method": method,
                "denoise_s": min(times[method]),
                "speedup": min(times["off"]) / min(times[method]),
                "rel_l2_latent": float((latent - exact.latent).norm() / exact.latent.norm()),
                "psnr_db": psnr_db(np.asarray(results[method].image), np.asarray(exact.image)),
            }
        )
    report = {"steps": args.steps, "size": "small 256x128 fp32", "random_weights": True, "rows": rows}
    sys.stdout.write("\n| method | denoise s (fastest) | speed-up | latent rel. L2 | image PSNR dB |\n")
    sys.stdout.write("|---|---|---|---|---|\n")
    for row in rows:
        psnr = "identical" if row["psnr_db"] is None else f"{row['psnr_db']:.1f}"
        sys.stdout.write(
            f"| {row['method']} | {row['denoise_s']:.2f} | ×{row['speedup']:.2f} | "
            f"{row['rel_l2_latent']:.4f} | {psnr} |\n"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
