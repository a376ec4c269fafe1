"""Memory tiers and speed options at 2048×1024 on full-size FLUX.1-dev with random weights.

    python tests/benchmarks/gpu_tiers.py --json gpu_tiers.json          # CUDA GPU, full size (~7 min, H100)
    python tests/benchmarks/gpu_tiers.py --cpu-small                     # CPU, reduced configs, 256×128
    python tests/benchmarks/gpu_tiers.py --cpu-small --tiny --steps 1    # the CI smoke run

Every variant runs through the real engine (tier planning, placement, fp8 casting or fp8 compute, LoRA
fusing, group offload, text-encoder offload, tiled VAE, step caches); only ``load_components`` (and, for
GGUF, the file reader) is replaced by the random-weight builder of ``random_flux.py``. A random rank-64
LoRA in DiT360's layout is applied in every variant, plus random "extra" LoRAs where a variant stacks them.

Per variant: s/step (median of the steps after the first), then, where the variant has ``e2e_steps``,
the end-to-end time of a request of that many steps to a PNG on disk with the model loaded (prompt not
cached), again with each of its step caches (rows "<variant>+<cache>", whose s/step is the cached run's
denoising time per step), with the deviation from an exact reference run of the same seed (relative L2
of the final latent, PSNR of the decoded image; random weights, so these measure the arithmetic, not
picture quality). Peak allocated and peak reserved memory cover everything after loading;
with a cap (``--cap-gib`` or the variant's own), the allocator may hold no more than the cap from the
start of encoding on, so a run that passes fits a card of that size after loading. Ratios are against the
published approach (fp16, all resident, untiled decode) measured in the same run, and the 0.214 s/step
floor of an H100.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np
import torch

# A script, not a package: its sibling module is imported from its own folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_flux import (
    Sizes,
    fake_load_components,
    free,
    load_configs,
    random_gguf_transformer,
    write_model_folder,
)
from tier_report import FLOOR_S_PER_STEP, add_ratios, print_row, print_table

PROMPT = "This is a panorama image. A harbour town at dawn, fishing boats, mist over the water."
E2E_PROMPT = "This is a panorama image. A mountain lake at sunrise, pines on the shore."
GIB = 2**30


@dataclass(frozen=True)
class Variant:
    name: str
    tier: str
    dtype: str = "auto"
    gguf: str | None = None  # GGUF quantisation of the random transformer
    compile: bool = False
    attention: str = "auto"
    fuse_lora: bool = False
    fp8_compute: bool = False
    extra_loras: int = 0  # random FLUX LoRAs stacked on the DiT360 one
    e2e_steps: int | None = None  # time a request of this many steps to a PNG, model loaded
    caches: tuple[str, ...] = ()  # then the same e2e run with each step cache: rows "<name>+<cache>"
    reference: str | None = None  # the e2e deviation is measured against this variant's e2e result
    baseline: str = "published"  # s/step ratio against this variant
    cap_gib: float | None = None  # the card size this tier must fit (CUDA)
    expandable_segments: bool = False  # the caching allocator's expandable_segments for this variant
    label: str = ""


FASTEST = dict(compile=True, attention="_native_cudnn", fuse_lora=True)
VARIANTS = {
    v.name: v
    for v in (
        Variant("published", "full", dtype="fp16", e2e_steps=28, label="published: fp16, resident, untiled"),
        Variant("full", "full", e2e_steps=28, label="full: bf16, all resident"),
        Variant("full-compiled", "full", compile=True, label="full + torch.compile of the blocks"),
        Variant("full-fused", "full", fuse_lora=True, label="full, LoRA merged into the weights"),
        Variant("full-cudnn", "full", attention="_native_cudnn", label="full, cuDNN attention"),
        Variant(
            "full-fastest-fbc",
            "full",
            **FASTEST,
            e2e_steps=28,
            caches=("fbc",),
            label="full-fastest; First-Block Cache draft",
        ),
        Variant(
            "full-fastest",
            "full",
            **FASTEST,
            e2e_steps=28,
            # First-Block Cache decides from the model's own residuals, which random weights make
            # large: it never skipped on the CPU test model (docs/performance-tiers.md); on request only.
            caches=("magcache", "taylorseer"),
            label="full + compile + cuDNN attention + merged LoRA (best exact); drafts with step caches",
        ),
        Variant(
            "full-fastest-fp8",
            "full",
            **FASTEST,
            fp8_compute=True,
            e2e_steps=28,
            caches=("magcache",),
            reference="full-fastest",
            baseline="full-fastest",
            label="full-fastest with fp8 compute (torchao rowwise float8)",
        ),
        Variant(
            "full-fp8",
            "full",
            fp8_compute=True,
            e2e_steps=28,
            reference="full",
            baseline="full",
            label="full, eager, fp8 compute",
        ),
        Variant(
            "turbo-8step",
            "full",
            **FASTEST,
            extra_loras=1,
            e2e_steps=8,
            label="full-fastest + one extra (turbo) LoRA merged, 8 steps",
        ),
        Variant(
            "full-extra-lora",
            "full",
            extra_loras=1,
            baseline="full",
            label="full + one extra LoRA, unfused (PEFT adapter)",
        ),
        Variant(
            "full-fused-extra-lora",
            "full",
            fuse_lora=True,
            extra_loras=1,
            baseline="full-fused",
            label="full + one extra LoRA, merged",
        ),
        Variant("24gb", "24gb", label="bf16, some single blocks and T5's blocks streamed, tiled VAE"),
        Variant("24gb-fp8", "24gb-fp8", label="fp8 storage, text encoders offloaded, tiled VAE"),
        Variant("12gb", "12gb", label="fp8 + block offload (streams), T5 fp8, tiled VAE"),
        Variant("8gb", "8gb", label="fp8 + leaf offload (streams), T5 fp8, tiled VAE"),
        Variant("12gb-gguf-q8_0", "12gb", gguf="Q8_0", label="GGUF Q8_0 + block offload"),
        Variant("8gb-gguf-q4_k", "8gb", gguf="Q4_K", label="GGUF Q4_K + block offload"),
        Variant("24gb-cap23", "24gb", cap_gib=23.0, label="24gb under a 23 GiB cap"),
        Variant("24gb-fp8-cap23", "24gb-fp8", cap_gib=23.0, label="24gb-fp8 under a 23 GiB cap"),
        Variant(
            "24gb-fp8compute-cap23",
            "24gb",
            fp8_compute=True,
            compile=True,
            cap_gib=23.0,
            label="24gb with fp8 compute (resident, nothing streamed) + compile under a 23 GiB cap",
        ),
        Variant("12gb-cap11", "12gb", cap_gib=11.0, label="12gb under an 11 GiB cap"),
        Variant("8gb-cap7.5", "8gb", cap_gib=7.5, label="8gb under a 7.5 GiB cap"),
        Variant(
            "24gb-cap23-expandable",
            "24gb",
            cap_gib=23.0,
            expandable_segments=True,
            label="24gb under 23 GiB, expandable_segments",
        ),
        Variant(
            "12gb-cap11-expandable",
            "12gb",
            cap_gib=11.0,
            expandable_segments=True,
            label="12gb under 11 GiB, expandable_segments",
        ),
    )
}
# The issue-17 run, most important first, so that a time limit drops the least: the baseline and the
# exact reference, the best exact and draft figures, fp8, turbo, the proofs of fit, the LoRA costs.
DEFAULT_VARIANTS = (
    "published",
    "full",
    "full-fastest",
    "full-fastest-fp8",
    "turbo-8step",
    "24gb-cap23",
    "24gb-fp8-cap23",
    "12gb-cap11",
    "8gb-cap7.5",
    "full-extra-lora",
    "full-fused",
    "full-fused-extra-lora",
    "24gb-fp8compute-cap23",
    "full-fp8",
    "24gb-cap23-expandable",
    "12gb-cap11-expandable",
)


# --- measuring ----------------------------------------------------------------------------------------


@dataclass
class Clock:
    device: torch.device
    marks: dict[str, float] = field(default_factory=dict)
    steps: list[float] = field(default_factory=list)
    resident_gib: float | None = None
    cap_gib: float | None = None  # from the start of encoding, the allocator may hold no more than this

    def now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def __call__(self, event) -> None:
        from dit360_desktop.panorama.events import DoneEvent, Stage, StageEvent, StepEvent

        if isinstance(event, StageEvent) and event.stage.value not in self.marks:
            self.marks[event.stage.value] = self.now()
            if event.stage is Stage.ENCODING and self.device.type == "cuda":
                # Everything before this point is loading (random weights here, not a disk read).
                self.resident_gib = torch.cuda.memory_allocated(self.device) / GIB
                # The loader's leftovers are not the tier's: peaks count from here, cache emptied.
                torch.cuda.empty_cache()
                if self.cap_gib is not None:
                    # A smaller card: the caching allocator must live within the cap (it frees its cache
                    # before failing), so fragmentation and cached side-stream blocks count too.
                    total = torch.cuda.get_device_properties(self.device).total_memory
                    torch.cuda.set_per_process_memory_fraction(self.cap_gib * GIB / total, self.device)
                torch.cuda.reset_peak_memory_stats(self.device)
        elif isinstance(event, StepEvent):
            self.steps.append(self.now())
        elif isinstance(event, DoneEvent):
            self.marks["done"] = self.now()


@dataclass
class Setup:
    sizes: Sizes
    folder: Path
    lora: Path
    extra_loras: list[Path]
    device: torch.device
    steps: int
    out: Path  # where the e2e PNGs are written
    cap_gib: float | None = None  # --cap-gib: overrides the variants' own caps
    e2e_steps: int | None = None  # the e2e step count of the variants that have e2e runs
    e2e_results: dict[str, tuple[torch.Tensor, np.ndarray]] = field(default_factory=dict)


def relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def psnr_db(a: np.ndarray, b: np.ndarray) -> float | None:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return None if mse == 0 else 10 * float(np.log10(255.0**2 / mse))  # None: identical


def is_exact(variant: Variant, cache: str) -> bool:
    """Same arithmetic as the reference up to 16-bit rounding: 16-bit weights, no cache, no extra LoRA."""
    return (
        cache == "off"
        and not variant.fp8_compute
        and variant.gguf is None
        and variant.tier in ("full", "24gb")
        and variant.extra_loras == 0
    )


def run_variant(variant: Variant, setup: Setup) -> list[dict]:
    """The variant's s/step row, then one row per e2e run (exact, then each step cache)."""
    import dit360_desktop.core.engine as engine_module
    import dit360_desktop.core.gguf_flux as gguf_flux
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.panorama.options import EngineOptions
    from dit360_desktop.panorama.request import GenerationRequest

    device, configs = setup.device, setup.sizes.configs

    def fake_gguf(path, config_dir, *, compute_dtype, device="cpu"):
        return random_gguf_transformer(configs, setup.folder, variant.gguf, compute_dtype, setup.device)

    options = EngineOptions(
        previews=False,
        gguf_file=setup.folder / f"random-{variant.gguf}.gguf" if variant.gguf else None,
        compile=variant.compile,
        attention=variant.attention,
        fuse_lora=variant.fuse_lora,
        fp8_compute=variant.fp8_compute,
    )
    engine = PanoramaEngine(setup.folder, options)
    request = GenerationRequest(
        prompt=PROMPT,
        width=setup.sizes.width,
        height=setup.sizes.height,
        steps=setup.steps + 1,
        seed=0,
        device=device.type,
        dtype=variant.dtype if device.type == "cuda" or variant.dtype != "fp16" else "fp32",
        tier=variant.tier,
        lora_path=str(setup.lora),
        extra_loras=tuple((str(path), 1.0) for path in setup.extra_loras[: variant.extra_loras]),
    )
    cap = setup.cap_gib if setup.cap_gib is not None else variant.cap_gib
    clock = Clock(device, cap_gib=cap if device.type == "cuda" else None)
    rows: list[dict] = []
    if device.type == "cuda":  # this variant's own peaks, even if it fails while loading
        torch.cuda.reset_peak_memory_stats(device)
    expandable = device.type == "cuda" and variant.expandable_segments
    if expandable:  # takes effect for the segments allocated from now on
        torch.cuda.memory._set_allocator_settings("expandable_segments:True")
    start = clock.now()
    try:
        with (
            mock.patch.object(engine_module, "load_components", fake_load_components(configs, device)),
            mock.patch.object(gguf_flux, "load_gguf_transformer", fake_gguf),
        ):
            result = engine.run(request, on_event=clock)
            rows.append(_step_row(variant, result, clock, start, cap))
            steps = variant.e2e_steps and (setup.e2e_steps or variant.e2e_steps)
            for cache in ("off", *variant.caches) if steps is not None else ():
                # A failing e2e run keeps the rows measured so far (and its own error).
                try:
                    measured = _e2e_run(variant, engine, request, steps, cache, setup)
                except Exception as error:
                    traceback.print_exc()
                    measured = {
                        "variant": f"{variant.name}+{cache}",
                        "error": f"{type(error).__name__}: {error}",
                    }
                    if cache == "off":
                        measured = {"e2e_error": measured["error"]}
                if cache == "off":
                    rows[0].update(measured)
                else:
                    rows.append({**measured, "cap_gib": clock.cap_gib})
    finally:
        if clock.cap_gib is not None:
            torch.cuda.set_per_process_memory_fraction(1.0, device)
        if device.type == "cuda":
            for row in rows:  # peaks over everything after loading, e2e runs included
                row["peak_allocated_gib"] = torch.cuda.max_memory_allocated(device) / GIB
                row["peak_reserved_gib"] = torch.cuda.max_memory_reserved(device) / GIB
        if expandable:
            torch.cuda.memory._set_allocator_settings("expandable_segments:False")
        del engine
        free(device)
    return rows


def _step_row(variant: Variant, result, clock: Clock, start: float, cap: float | None) -> dict:
    marks = clock.marks
    step_times = [b - a for a, b in zip([marks["denoising"], *clock.steps], clock.steps, strict=False)]
    measured = step_times[1:] or step_times
    return {
        "variant": variant.name,
        "label": variant.label,
        "tier": result.metadata["memory_tier"],
        "dtype": result.metadata["dtype"],
        "exact": is_exact(variant, "off"),
        "baseline": variant.baseline,
        "s_per_step": statistics.median(measured),
        "first_step_s": step_times[0],
        "load_s": marks["encoding"] - start,
        "encode_s": marks["preparing"] - marks["encoding"],
        "decode_s": marks["done"] - marks["decoding"],
        "end_to_end_s": marks["done"] - marks["encoding"],
        "resident_after_load_gib": clock.resident_gib,
        "peak_allocated_gib": None,
        "peak_reserved_gib": None,
        "cap_gib": clock.cap_gib,
        "expandable_segments": variant.expandable_segments,
        "warnings": result.metadata["warnings"],
    }


def _e2e_run(variant: Variant, engine, request, steps: int, cache: str, setup: Setup) -> dict:
    """Request → PNG on disk with the model loaded; the prompt is encoded again (its cache cleared).

    Exact ("off"): fields for the variant's own row. With a cache: a row of its own.
    """
    from dit360_desktop.panorama.imageio import save_png

    e2e = request.replace(prompt=E2E_PROMPT, steps=steps, step_cache=cache)
    name = variant.name if cache == "off" else f"{variant.name}+{cache}"
    png = setup.out / f"{name}.png"
    times = []
    # A cache's first run may recompile the hooked blocks: with one, the second of two runs counts.
    for _ in range(1 if cache == "off" else 2):
        engine.text_encoder.clear_cache()
        started = time.perf_counter()
        result = engine.run(e2e)
        save_png(result.image, png, result.file_metadata())
        times.append(time.perf_counter() - started)
    latent, image = result.latent, np.asarray(result.image)
    if cache == "off":
        setup.e2e_results[variant.name] = (latent, image)
    reference_name = variant.name if cache != "off" else variant.reference
    reference = setup.e2e_results.get(reference_name) if reference_name else None
    row = {
        "e2e_steps": steps,
        "e2e_s": times[-1],
        "e2e_runs_s": times,
        "step_cache": cache,
        "exact": is_exact(variant, cache),
        "timings": result.metadata["timings"],
        "deviation_from": reference_name if reference is not None else None,
    }
    if reference is not None and reference[0].shape == latent.shape:
        row["rel_l2_latent"] = relative_l2(latent, reference[0])
        row["psnr_db"] = psnr_db(image, reference[1])
    if cache != "off":
        row.update(
            variant=name,
            label=f"{variant.label}; {cache} step cache",
            s_per_step=result.metadata["timings"]["denoising"] / steps,
            baseline=variant.name,
            tier=result.metadata["memory_tier"],
            cap_gib=None,
            peak_allocated_gib=None,
            peak_reserved_gib=None,
        )
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cpu-small", action="store_true", help="run on the CPU at reduced size")
    parser.add_argument("--tiny", action="store_true", help="with --cpu-small: the smallest configs (CI)")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"from {', '.join(VARIANTS)}")
    parser.add_argument("--steps", type=int, default=3, help="measured steps (one more runs as warm-up)")
    parser.add_argument(
        "--e2e-steps",
        type=int,
        default=None,
        help="the step count of the variants' end-to-end runs (CPU default: 6)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--time-limit", type=float, default=None, help="seconds; variants not started by then are skipped"
    )
    parser.add_argument(
        "--cap-gib",
        type=float,
        default=None,
        help="CUDA: cap the allocator at this many GiB from the start of encoding (overrides the variants')",
    )
    parser.add_argument("--tokenizers", type=Path, default=None, help="a tiny-FLUX folder to take them from")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    if args.cpu_small:
        device = torch.device("cpu")
        size = "tiny" if args.tiny else "small"
        sizes = Sizes(
            load_configs(size), 128 if args.tiny else 256, 64 if args.tiny else 128, 4 if args.tiny else 64
        )
    else:
        if not torch.cuda.is_available():
            parser.error("no CUDA GPU here: use --cpu-small to exercise the logic on the CPU")
        device = torch.device("cuda")
        size = "full"
        sizes = Sizes(load_configs("full"), 2048, 1024, 64)

    import diffusers

    report = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "capability": list(torch.cuda.get_device_capability(device)) if device.type == "cuda" else None,
        "size": size,
        "width": sizes.width,
        "height": sizes.height,
        "measured_steps": args.steps,
        "floor_s_per_step": FLOOR_S_PER_STEP,
        "random_weights": True,
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__, "torchao": _torchao()},
        "rows": [],
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gpu-tiers-") as tmp:
        from dit360_desktop.testing.tiny_flux import build_tiny_lora

        folder, lora = write_model_folder(Path(tmp), sizes.configs, sizes.lora_rank, args.tokenizers)
        extra = build_tiny_lora(
            Path(tmp) / "extra-lora", folder / "transformer", rank=sizes.lora_rank, seed=2
        )
        (Path(tmp) / "png").mkdir()
        setup = Setup(sizes, folder, lora, [extra], device, args.steps, Path(tmp) / "png", args.cap_gib)
        # On the CPU the script is checked, not measured: short e2e runs keep the smoke test quick.
        setup.e2e_steps = args.e2e_steps if args.e2e_steps is not None or not args.cpu_small else 6
        for index, name in enumerate(names, start=1):
            elapsed = time.monotonic() - started
            sys.stdout.write(f"[{elapsed:.0f} s] {index}/{len(names)} {name}: {VARIANTS[name].label}\n")
            sys.stdout.flush()
            if args.time_limit is not None and elapsed > args.time_limit:
                rows = [{"variant": name, "error": "skipped: time limit reached"}]
            else:
                try:
                    rows = run_variant(_for_device(VARIANTS[name], device), setup)
                except Exception as error:  # one failing variant must not hide the others' figures
                    rows = [{"variant": name, "error": f"{type(error).__name__}: {error}"[:2000]}]
                    traceback.print_exc()
                    if device.type == "cuda":  # how far a capped tier got before it failed
                        rows[0]["peak_allocated_gib"] = torch.cuda.max_memory_allocated(device) / GIB
                        rows[0]["peak_reserved_gib"] = torch.cuda.max_memory_reserved(device) / GIB
                        rows[0]["cap_gib"] = (
                            args.cap_gib if args.cap_gib is not None else VARIANTS[name].cap_gib
                        )
                    free(device)
            report["rows"].extend(rows)
            add_ratios(report)
            for row in rows:
                print_row(row)
            if args.json is not None:  # after every variant, so a killed run keeps what it measured
                args.json.write_text(json.dumps(report, indent=2, default=str))
    report["total_s"] = time.monotonic() - started
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    print_table(report)
    return report


def _for_device(variant: Variant, device: torch.device) -> Variant:
    """On the CPU (a check of the script, not a measurement): no cuDNN attention, no compile."""
    if device.type == "cuda" or (variant.attention == "auto" and not variant.compile):
        return variant
    note = " [CPU check: default attention, eager]"
    return dataclasses.replace(variant, attention="auto", compile=False, label=variant.label + note)


def _torchao() -> str | None:
    try:
        import torchao
    except ImportError:
        return None
    return torchao.__version__


if __name__ == "__main__":
    main()
