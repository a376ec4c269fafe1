"""CPU cost of the two edit methods against a plain generation, in one process on the same weights.

    python tests/benchmarks/editing_cpu.py [--size 256x512] [--steps 4] [--repeats 2] [--json out.json]

Builds the "small" random FLUX config (as engine_cpu.py does), generates a panorama, then times, best of
interleaved repeats, the whole ``engine.run`` of:
- generate: txt2img, the baseline;
- blend inpaint: a mask over about 15 % of the panorama, across the seam, strength 0.8;
- blend outpaint: a mask over about 85 % (photo→360 style), from noise;
- reference: the published method (two-item batch; its RF inversion with gamma 1 needs no model call);
- published inversion: the N transformer calls editing.py's ``invert`` makes (the model's field cancels at
  gamma 1, so we skip them; this row says what that saves).
Each is reported in seconds and as a ratio to generate.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dit360_desktop.core.editing.inversion import model_velocity
from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.core.padding import latent_image_ids, wrap_pad_ids
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.testing.tiny_flux import SMALL, build_tiny_flux

PROMPT = "This is a panorama image. A harbour town at dawn, fishing boats, mist over the water."
EDIT_PROMPT = "This is a panorama image. A harbour town at dawn, a red lighthouse on the pier."


def masks(width: int, height: int) -> dict[str, np.ndarray]:
    inpaint = np.zeros((height, width), np.uint8)
    inpaint[height // 4 : 3 * height // 4, : width // 6] = 255
    inpaint[height // 4 : 3 * height // 4, -width // 6 :] = 255
    outpaint = np.full((height, width), 255, np.uint8)
    outpaint[height // 3 : 2 * height // 3, width // 2 - width // 10 : width // 2 + width // 10] = 0
    return {"inpaint": inpaint, "outpaint": outpaint}


def timed(engine: PanoramaEngine, request: GenerationRequest) -> tuple[float, dict]:
    start = time.perf_counter()
    result = engine.run(request)
    return time.perf_counter() - start, result.metadata["timings"]


def published_inversion_s(engine: PanoramaEngine, width: int, height: int, steps: int) -> float:
    components = engine.model.components
    rows, cols = height // 16, width // 16
    channels = components.transformer.config.in_channels
    ids = wrap_pad_ids(latent_image_ids(rows, cols, dtype=torch.float32), rows, cols)
    empty = engine.text_encoder.encode("", torch.device("cpu"))
    velocity = model_velocity(components.transformer, empty, ids, 0.0)
    latent = torch.randn(1, rows * (cols + 2), channels)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(steps):
            velocity(latent, torch.tensor(i / (steps + 1)))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="256x512", help="HxW (height first)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best is reported")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = build_tiny_flux(folder / "small-flux", size=SMALL)
        engine = PanoramaEngine(model)
        base = GenerationRequest(
            prompt=PROMPT, width=width, height=height, steps=args.steps, seed=0, device="cpu", dtype="fp32"
        )
        engine.run(base.replace(steps=1))  # load and warm up
        engine.run(base).image.save(folder / "pano.png")
        requests = {"generate": base}
        for name, mask in masks(width, height).items():
            Image.fromarray(mask).save(folder / f"{name}.png")
            requests[f"blend_{name}"] = base.replace(
                prompt=EDIT_PROMPT,
                init_image=str(folder / "pano.png"),
                mask_image=str(folder / f"{name}.png"),
            )
        requests["reference"] = requests["blend_inpaint"].replace(
            edit_method="reference", source_prompt=PROMPT
        )
        best: dict[str, float] = {}
        stages: dict[str, dict] = {}
        for _ in range(args.repeats):
            for name, request in requests.items():
                seconds, timings = timed(engine, request)
                if seconds < best.get(name, float("inf")):
                    best[name], stages[name] = seconds, timings
        best["published_inversion"] = min(
            published_inversion_s(engine, width, height, args.steps) for _ in range(args.repeats)
        )
    baseline = best["generate"]
    report = {
        "size": f"{width}x{height}",
        "steps": args.steps,
        "torch_threads": torch.get_num_threads(),
        "seconds": {name: round(value, 3) for name, value in best.items()},
        "ratio_to_generate": {name: round(value / baseline, 3) for name, value in best.items()},
        "reference_with_published_inversion_ratio": round(
            (best["reference"] + best["published_inversion"]) / baseline, 3
        ),
        "stage_timings_s": stages,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
