"""CPU benchmark of the guides' cost per denoising step, each against plain generation in the same run.

    python tests/benchmarks/guides_cpu.py [--size 512x256] [--steps 4] [--repeats 3] [--json out.json]

Builds the "small" random FLUX config (hidden 256, 2 double + 4 single blocks), a random Control LoRA
and a random Redux model for it, then alternates plain, controlled and referenced runs (same seed and
size; one engine, so the Control LoRA is loaded and dropped between them, outside the timed steps) and
reports the fastest step of each and the ratios to plain. Control widens only the input projection
(target ≤ 1.1×); Redux adds its tokens to the text stream (target ≤ 1.05×); one region (the left half,
its own prompt, acting on every step) adds a full prompt's 512 text tokens and the attention mask
(target ≤ 1.15×); ``regions_dense_mask`` is the same rule as one dense boolean mask and
``regions_text_only`` the region's text without any rule, to tell the costs apart.

Two measures: the fastest step of whole runs (``*_ratio``), and the fastest of ``--calls`` transformer
calls, one step's work, with the guides' calls interleaved with the plain one (``*_call_ratio``): on a
shared machine the interleaved figure is the one to trust, since load from other processes falls on every
variant alike.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.panorama.events import StepEvent
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.testing.tiny_control import build_tiny_control_lora
from dit360_desktop.testing.tiny_flux import SMALL, build_tiny_flux
from dit360_desktop.testing.tiny_redux import build_tiny_redux

PROMPT = "This is a panorama image. A harbour town at dawn, fishing boats, mist over the water."


def fastest_step(engine: PanoramaEngine, request: GenerationRequest) -> float:
    steps: list[float] = []
    engine.run(request, on_event=lambda e: steps.append(e.elapsed_s) if isinstance(e, StepEvent) else None)
    # Step 1 carries one-off costs; the fastest later step is the least disturbed by the rest of the machine.
    return min(b - a for a, b in itertools.pairwise(steps))


def transformer_calls(plain_engine, control_engine, requests: dict, calls: int) -> dict[str, float]:
    """The fastest of ``calls`` transformer calls per guide, the guides' calls interleaved with the plain
    one so that load from other processes falls on all of them alike. Each call is what one denoising
    step runs: the loaded models and hooks are the engine's own."""
    import torch

    from dit360_desktop.core.guides.control import control_hook
    from dit360_desktop.core.guides.regional_attention import regional_processors
    from dit360_desktop.core.guides.regions import joint_attention_mask, regions_hook
    from dit360_desktop.core.sampler import StepInfo

    model = plain_engine.model
    geometry = model.geometry(requests["plain"])
    tokens = model.padded_noise(1, geometry, torch.float32)
    ids = model.padded_ids(geometry, torch.float32)
    plain_cond, _ = model.encode(requests["plain"])
    reference_cond, _ = model.encode(requests["reference"])
    step = StepInfo(index=0, total=4, t=torch.tensor(500.0), sigma=0.5)
    regions = regions_hook(model, requests["regions"], geometry)
    regions.before_step(step, tokens)
    regions_cond = regions.prompt(step, plain_cond, (False,))
    lengths = [plain_cond.t5.shape[1], *(t.shape[1] for t in regions.region_t5)]
    dense_mask = {"attention_mask": joint_attention_mask(lengths, regions.regions)[None, None]}
    control_model = control_engine.model
    control = control_hook(control_model, requests["control"], geometry, torch.float32)

    def call(transformer, hidden, cond, kwargs=None) -> float:
        started = time.perf_counter()
        with torch.no_grad():
            transformer(
                hidden_states=hidden,
                timestep=torch.full([1], 0.5),
                guidance=torch.full([1], 2.8),
                pooled_projections=cond.pooled,
                encoder_hidden_states=cond.t5,
                txt_ids=cond.text_ids,
                img_ids=ids,
                joint_attention_kwargs=kwargs or {},
                return_dict=False,
            )
        return time.perf_counter() - started

    plain_t = model.components.transformer
    runs = {
        "plain": lambda: call(plain_t, tokens, plain_cond),
        "control": lambda: call(
            control_model.components.transformer, control.model_input(tokens), plain_cond
        ),
        "reference": lambda: call(plain_t, tokens, reference_cond),
        "regions": lambda: call(plain_t, tokens, regions_cond, regions.attention_kwargs(step, (False,))),
        # Where the regions' cost comes from: the same rule as one dense boolean mask (the way before
        # the grouped attention), and their text tokens without any mask (not a valid result).
        "regions_dense_mask": lambda: call(plain_t, tokens, regions_cond, dense_mask),
        "regions_text_only": lambda: call(plain_t, tokens, regions_cond),
    }
    best = {name: float("inf") for name in runs}
    # As in a run: the processors wrapped for the whole loop (unchanged for calls without regions).
    with regional_processors(plain_t):
        for _ in range(calls):
            for name, run in runs.items():
                best[name] = min(best[name], run())
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="512x256", help="WxH")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=15, help="interleaved transformer calls per guide")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory() as work:
        folder = build_tiny_flux(Path(work) / "flux", size=SMALL)
        lora = build_tiny_control_lora(Path(work) / "control.safetensors", folder / "transformer")
        redux = build_tiny_redux(Path(work) / "redux", text_dim=SMALL.text_dim)
        control = Path(work) / "control.png"
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(control)
        plain = GenerationRequest(
            PROMPT, width=width, height=height, steps=args.steps, seed=1, lora_path=None,
            device="cpu", dtype="fp32",
        )  # fmt: skip
        mask = np.zeros((height, width), np.uint8)
        mask[:, : width // 2] = 255
        Image.fromarray(mask).save(Path(work) / "left.png")
        regions = Path(work) / "regions.json"
        regions.write_text(json.dumps([{"prompt": "a lighthouse on the cliffs", "mask": "left.png"}]))
        runs = {
            "plain": plain,
            "control": plain.replace(control_image=str(control), control_lora=str(lora)),
            "reference": plain.replace(reference_image=str(control), reference_model=str(redux)),
            "regions": plain.replace(regions_file=str(regions), regions_until=1.0),
        }
        engine = PanoramaEngine(folder)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, request in runs.items():
                times[name].append(fastest_step(engine, request))
        # Per call, interleaved: a second engine holds the Control LoRA, the first the plain transformer.
        control_engine = PanoramaEngine(folder)
        control_engine.run(runs["control"].replace(steps=1))
        engine.run(plain.replace(steps=1))
        calls = transformer_calls(engine, control_engine, runs, args.calls)
    report: dict = {"size": f"{width}x{height}", "steps": args.steps}
    for name, values in times.items():
        report[f"{name}_s_per_step"] = min(values)
    for name in ("control", "reference", "regions"):
        report[f"{name}_ratio"] = min(times[name]) / min(times["plain"])
    for name, seconds in calls.items():
        report[f"{name}_s_per_call"] = seconds
    for name in ("control", "reference", "regions", "regions_dense_mask", "regions_text_only"):
        report[f"{name}_call_ratio"] = calls[name] / calls["plain"]
    report["image_tokens"] = (height // 16) * (width // 16 + 2)
    text = json.dumps(report, indent=2)
    sys.stdout.write(text + "\n")
    if args.json is not None:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
