"""Memory tiers at 2048×1024 on full-size FLUX.1-dev with random weights, against the published approach.

    python tests/benchmarks/gpu_tiers.py --json gpu_tiers.json          # CUDA GPU, full size (~5 min, H100)
    python tests/benchmarks/gpu_tiers.py --cpu-small                     # CPU, reduced configs, 256×128
    python tests/benchmarks/gpu_tiers.py --cpu-small --tiny --steps 1    # the CI smoke run

The transformer (11.9 B parameters), T5-XXL (4.9 B), CLIP-L and the VAE are built from the configs in
``resources/model_configs/flux1-dev`` on the meta device, materialised with ``to_empty`` directly on the
GPU in the run's dtype and filled with small random values, so nothing is downloaded and nothing is
allocated in fp32 on the CPU first. A random rank-64 LoRA in DiT360's layout is applied in every variant.
Each variant runs through the real engine (tier planning, placement, fp8 casting, LoRA fusing, group
offload, text-encoder offload, tiled VAE); only ``load_components`` (and, for GGUF, the file reader) is
replaced by the random-weight builder. Reported per variant: s/step (median of the steps after the
first), peak GPU memory during the run, text-encode, decode and end-to-end time (after loading), and the
ratios to the published approach (fp16, all resident, untiled decode) measured in the same run and to
the 0.214 s/step physical floor of an H100.
"""

from __future__ import annotations

import argparse
import gc
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

import torch

# 2048×1024 with DiT360 padding: 64×130 = 8320 image tokens + 512 text tokens per step ≈ 168.7 TFLOP;
# an H100 SXM gives ~790 dense bf16 TFLOP/s, so no implementation can beat 0.214 s per step.
FLOOR_S_PER_STEP = 0.214
PROMPT = "This is a panorama image. A harbour town at dawn, fishing boats, mist over the water."
CONFIG_FILES = {
    "transformer": "transformer/config.json",
    "vae": "vae/config.json",
    "text_encoder": "text_encoder/config.json",
    "text_encoder_2": "text_encoder_2/config.json",
    "scheduler": "scheduler/scheduler_config.json",
}
# Reduced sizes for CPU runs: the same layer types and code paths, fewer and narrower layers.
REDUCED = {
    "small": {
        "transformer": dict(
            num_layers=2,
            num_single_layers=4,
            num_attention_heads=4,
            attention_head_dim=64,
            joint_attention_dim=256,
            pooled_projection_dim=256,
            axes_dims_rope=[16, 24, 24],
        ),
        "text_encoder_2": dict(
            d_model=256, d_ff=512, d_kv=64, num_heads=4, num_layers=2, num_decoder_layers=2
        ),
        "text_encoder": dict(
            hidden_size=256,
            intermediate_size=512,
            num_attention_heads=4,
            num_hidden_layers=2,
            projection_dim=256,
        ),
        "vae": dict(block_out_channels=[32, 64, 64, 64], norm_num_groups=32, layers_per_block=1),
    },
    "tiny": {
        "transformer": dict(
            num_layers=1,
            num_single_layers=1,
            num_attention_heads=2,
            attention_head_dim=16,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            axes_dims_rope=[4, 4, 8],
        ),
        "text_encoder_2": dict(d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=1, num_decoder_layers=1),
        "text_encoder": dict(
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=2,
            num_hidden_layers=1,
            projection_dim=32,
        ),
        "vae": dict(block_out_channels=[8, 16, 16, 16], norm_num_groups=8, layers_per_block=1),
    },
}


@dataclass(frozen=True)
class Variant:
    name: str
    tier: str
    dtype: str = "auto"
    gguf: str | None = None  # GGUF quantisation of the random transformer
    compile: bool = False
    attention: str = "auto"
    fuse_lora: bool = False
    label: str = ""


VARIANTS = {
    v.name: v
    for v in (
        Variant("published", "full", dtype="fp16", label="published: fp16, all resident, untiled decode"),
        Variant("full", "full", label="full: bf16, all resident"),
        Variant("full-compiled", "full", compile=True, label="full + torch.compile of the blocks"),
        Variant("full-fused", "full", fuse_lora=True, label="full, LoRA merged into the weights"),
        Variant("full-cudnn", "full", attention="_native_cudnn", label="full, cuDNN attention"),
        Variant(
            "full-fastest",
            "full",
            compile=True,
            attention="_native_cudnn",
            fuse_lora=True,
            label="full + compile + cuDNN attention + merged LoRA",
        ),
        Variant("24gb", "24gb", label="bf16, 16 single blocks and T5's blocks streamed, tiled VAE"),
        Variant("24gb-fp8", "24gb-fp8", label="fp8 storage, text encoders offloaded, tiled VAE"),
        Variant("12gb", "12gb", label="fp8 + block offload (streams), T5 fp8, tiled VAE in RAM"),
        Variant("8gb", "8gb", label="fp8 + leaf offload (streams), T5 fp8, tiled VAE in RAM"),
        Variant("12gb-gguf-q8_0", "12gb", gguf="Q8_0", label="GGUF Q8_0 + block offload"),
        Variant("8gb-gguf-q4_k", "8gb", gguf="Q4_K", label="GGUF Q4_K + block offload"),
    )
}
# Cheapest first, leaf-level offload (the slowest) last, so a time limit drops the least.
DEFAULT_VARIANTS = (
    "published",
    "full",
    "24gb",
    "24gb-fp8",
    "12gb",
    "12gb-gguf-q8_0",
    "8gb-gguf-q4_k",
    "full-compiled",
    "8gb",
)


@dataclass
class Sizes:
    configs: dict[str, dict]
    width: int
    height: int
    lora_rank: int


def load_configs(size: str) -> dict[str, dict]:
    from dit360_desktop.paths import resource

    configs = {
        name: json.loads(resource("model_configs", "flux1-dev", *path.split("/")).read_text())
        for name, path in CONFIG_FILES.items()
    }
    for name, changes in REDUCED.get(size, {}).items():
        configs[name] = {**configs[name], **changes}
    return configs


# --- random full-size components ----------------------------------------------------------------------


def fill_random_(module: torch.nn.Module, seed: int) -> None:
    """Small random weights; norm scales 1 and biases 0 keep activations finite even in fp16."""
    device = next(module.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.ndim == 1:
                param.fill_(1.0 if name.endswith(("weight", "scale")) else 0.0)
            else:
                param.normal_(0.0, 0.02, generator=generator)


def materialise(factory, dtype: torch.dtype, device: torch.device, seed: int) -> torch.nn.Module:
    """Build on the meta device, cast there, and allocate only once: on ``device`` in ``dtype``."""
    with torch.device("meta"):
        module = factory()
    module = module.to(dtype=dtype).to_empty(device=device)
    # to_empty leaves buffers uninitialised; these models must have none.
    assert not list(module.buffers()), f"{type(module).__name__} has buffers to initialise"
    fill_random_(module, seed)
    return module.eval()


def builders(configs: dict[str, dict], device: torch.device):
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    def transformer(dtype):
        return materialise(
            lambda: FluxTransformer2DModel.from_config(configs["transformer"]), dtype, device, 1
        )

    def t5(dtype):
        return materialise(lambda: T5EncoderModel(T5Config(**configs["text_encoder_2"])), dtype, device, 2)

    def clip(dtype):
        # 0.12 B parameters with a position-id buffer: built normally (small), then moved.
        model = CLIPTextModel(CLIPTextConfig(**configs["text_encoder"]))
        return model.to(device=device, dtype=dtype).eval()

    def vae(dtype):
        return AutoencoderKL.from_config(configs["vae"]).to(device=device, dtype=dtype).eval()

    return {"text_encoder": clip, "text_encoder_2": t5, "transformer": transformer, "vae": vae}


def random_gguf_transformer(configs, folder: Path, quant: str, dtype: torch.dtype, device: torch.device):
    """A GGUF-quantised transformer from random but valid quant blocks, loaded by diffusers' GGUF path."""
    import gguf
    from diffusers import FluxTransformer2DModel, GGUFQuantizationConfig
    from diffusers.quantizers.gguf.utils import GGUFParameter

    qtype = gguf.GGMLQuantizationType[quant]
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    with torch.device("meta"):
        empty = FluxTransformer2DModel.from_config(configs["transformer"])
    generator = torch.Generator(device=device).manual_seed(3)
    scale = torch.tensor([0.002], dtype=torch.float16).view(torch.uint8).to(device)
    state = {}
    for name, tensor in empty.state_dict().items():
        if tensor.ndim == 2 and tensor.shape[1] % block == 0 and name.endswith(".weight"):
            rows, blocks = tensor.shape[0], tensor.shape[1] // block
            data = torch.randint(
                0, 256, (rows * blocks, type_size), dtype=torch.uint8, device=device, generator=generator
            )
            data[:, 0:2] = scale  # the fp16 super-block scale d (and, for K-quants, dmin next to it)
            if quant.endswith("_K"):
                data[:, 2:4] = scale
            state[name] = GGUFParameter(data.reshape(rows, blocks * type_size), quant_type=qtype)
        else:
            value = torch.empty(tensor.shape, dtype=dtype, device=device)
            state[name] = value.fill_(1.0) if tensor.ndim == 1 and "norm" in name else value.normal_(0, 0.02)
    return FluxTransformer2DModel.from_single_file(
        state,
        config=str(folder),
        subfolder="transformer",
        local_files_only=True,
        dtype=dtype,
        quantization_config=GGUFQuantizationConfig(compute_dtype=dtype),
        device=device,
    ).eval()


def write_model_folder(
    root: Path, configs: dict[str, dict], lora_rank: int, tokenizers: Path | None = None
) -> tuple[Path, Path]:
    """Configs, scheduler and tokenizers (trained locally) in the diffusers layout; plus a random LoRA.

    The tokenizers come from a tiny-FLUX folder (``tokenizers``, or one built here): their ids fit the
    real vocabularies, and they pad to the real 77 and 512 tokens, which is what the cost depends on.
    """
    import shutil

    from dit360_desktop.testing.tiny_flux import build_tiny_flux, build_tiny_lora

    tokenizers = tokenizers or build_tiny_flux(root / "tokenizer-source")
    folder = root / "FLUX.1-dev-random"
    for name in ("tokenizer", "tokenizer_2"):
        shutil.copytree(tokenizers / name, folder / name)
    shutil.copy(tokenizers / "model_index.json", folder / "model_index.json")
    for name, path in CONFIG_FILES.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(json.dumps(configs[name], indent=2))
    lora = build_tiny_lora(root / "DiT360-random-lora", folder / "transformer", rank=lora_rank)
    return folder, lora


def fake_load_components(configs, build_device: torch.device):
    """Stands in for ``loading.load_components``: same contract, random weights instead of files."""
    from transformers import CLIPTokenizer, T5TokenizerFast

    from dit360_desktop.core.loading import Components

    def load_components(
        folder, *, device, dtype, on_progress=None, check_cancel=None, place=None, load_transformer_from=None
    ):
        build = builders(configs, build_device)
        loaded = {}
        for name in ("text_encoder", "text_encoder_2", "transformer", "vae"):
            if on_progress is not None:
                on_progress(name)
            if name == "transformer" and load_transformer_from is not None:
                module = load_transformer_from()
            else:
                module = build[name](dtype)
            loaded[name] = place(name, module) if place is not None else module.to(device)
            _free(build_device)
        return Components(
            folder=folder,
            tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
            tokenizer_2=T5TokenizerFast.from_pretrained(folder / "tokenizer_2"),
            scheduler_config=configs["scheduler"],
            **loaded,
        )

    return load_components


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
                self.resident_gib = torch.cuda.memory_allocated(self.device) / 2**30
                if self.cap_gib is not None:
                    # A smaller card: the caching allocator must live within the cap (it frees its cache
                    # before failing), so fragmentation and cached side-stream blocks count too.
                    torch.cuda.empty_cache()
                    total = torch.cuda.get_device_properties(self.device).total_memory
                    torch.cuda.set_per_process_memory_fraction(self.cap_gib * 2**30 / total, self.device)
                torch.cuda.reset_peak_memory_stats(self.device)
        elif isinstance(event, StepEvent):
            self.steps.append(self.now())
        elif isinstance(event, DoneEvent):
            self.marks["done"] = self.now()


def run_variant(
    variant: Variant,
    sizes: Sizes,
    folder: Path,
    lora: Path,
    device: torch.device,
    steps: int,
    cap_gib: float | None = None,
):
    import dit360_desktop.core.engine as engine_module
    import dit360_desktop.core.gguf_flux as gguf_flux
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.panorama.request import GenerationRequest

    configs = sizes.configs

    def fake_gguf(path, config_dir, *, compute_dtype, device="cpu"):
        return random_gguf_transformer(configs, folder, variant.gguf, compute_dtype, build_device)

    build_device = device
    gguf_file = folder / f"random-{variant.gguf}.gguf" if variant.gguf else None
    engine = PanoramaEngine(
        folder,
        previews=False,
        gguf_file=gguf_file,
        compile=variant.compile,
        attention_backend=variant.attention,
        fuse_lora=variant.fuse_lora,
    )
    request = GenerationRequest(
        prompt=PROMPT,
        width=sizes.width,
        height=sizes.height,
        steps=steps + 1,
        seed=0,
        device=device.type,
        dtype=variant.dtype if device.type == "cuda" or variant.dtype != "fp16" else "fp32",
        tier=variant.tier,
        lora_path=str(lora),
    )
    clock = Clock(device, cap_gib=cap_gib if device.type == "cuda" else None)
    start = clock.now()
    try:
        with (
            mock.patch.object(engine_module, "load_components", fake_load_components(configs, build_device)),
            mock.patch.object(gguf_flux, "load_gguf_transformer", fake_gguf),
        ):
            result = engine.run(request, on_event=clock)
    finally:
        if clock.cap_gib is not None:
            torch.cuda.set_per_process_memory_fraction(1.0, device)
    marks = clock.marks
    step_times = [b - a for a, b in zip([marks["denoising"], *clock.steps], clock.steps, strict=False)]
    measured = step_times[1:] or step_times
    row = {
        "variant": variant.name,
        "label": variant.label,
        "tier": result.metadata["memory_tier"],
        "dtype": result.metadata["dtype"],
        "s_per_step": statistics.median(measured),
        "first_step_s": step_times[0],
        "load_s": marks["encoding"] - start,
        "encode_s": marks["preparing"] - marks["encoding"],
        "decode_s": marks["done"] - marks["decoding"],
        "end_to_end_s": marks["done"] - marks["encoding"],
        "resident_after_load_gib": clock.resident_gib,
        "peak_gpu_gib": None,
        "peak_gpu_reserved_gib": None,
        "cap_gib": clock.cap_gib,
        "warnings": result.metadata["warnings"],
    }
    if device.type == "cuda":
        row["peak_gpu_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        row["peak_gpu_reserved_gib"] = torch.cuda.max_memory_reserved(device) / 2**30
    del engine, result
    _free(device)
    return row


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cpu-small", action="store_true", help="run on the CPU at reduced size")
    parser.add_argument("--tiny", action="store_true", help="with --cpu-small: the smallest configs (CI)")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"from {', '.join(VARIANTS)}")
    parser.add_argument("--steps", type=int, default=3, help="measured steps (one more runs as warm-up)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--time-limit", type=float, default=None, help="seconds; variants not started by then are skipped"
    )
    parser.add_argument(
        "--cap-gib",
        type=float,
        default=None,
        help="CUDA: from the start of encoding, cap the allocator at this many GiB (a smaller card)",
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
        "size": size,
        "width": sizes.width,
        "height": sizes.height,
        "measured_steps": args.steps,
        "floor_s_per_step": FLOOR_S_PER_STEP,
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__},
        "rows": [],
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gpu-tiers-") as tmp:
        folder, lora = write_model_folder(Path(tmp), sizes.configs, sizes.lora_rank, args.tokenizers)
        for name in names:
            sys.stdout.write(f"[{time.monotonic() - started:.0f} s] {name}\n")
            if args.time_limit is not None and time.monotonic() - started > args.time_limit:
                row = {"variant": name, "error": "skipped: time limit reached"}
            else:
                try:
                    row = run_variant(VARIANTS[name], sizes, folder, lora, device, args.steps, args.cap_gib)
                except Exception as error:  # one failing tier must not hide the others' figures
                    row = {"variant": name, "error": f"{type(error).__name__}: {error}"}
                    traceback.print_exc()
                    _free(device)
            report["rows"].append(row)
            _add_ratios(report)
            _print_row(row)
            if args.json is not None:  # after every variant, so a killed run keeps what it measured
                args.json.write_text(json.dumps(report, indent=2, default=str))
    _print_table(report)
    return report


def _add_ratios(report: dict) -> None:
    rows = report["rows"]
    baseline = next((r for r in rows if r["variant"] == "published" and "error" not in r), None)
    for row in rows:
        if "error" in row:
            continue
        row["ratio_to_floor"] = row["s_per_step"] / FLOOR_S_PER_STEP
        if baseline is not None:
            row["ratio_to_published"] = row["s_per_step"] / baseline["s_per_step"]


def _print_row(row: dict) -> None:
    if "error" in row:
        sys.stdout.write(f"{row['variant']}: FAILED {row['error']}\n")
    else:
        peak = row["peak_gpu_gib"]
        sys.stdout.write(
            f"{row['variant']}: {row['s_per_step']:.3f} s/step, peak "
            f"{'n/a' if peak is None else f'{peak:.1f} GiB'}, e2e {row['end_to_end_s']:.1f} s, "
            f"load {row['load_s']:.1f} s\n"
        )
    sys.stdout.flush()


def _print_table(report: dict) -> None:
    out = sys.stdout
    out.write(f"\n{report['device']} — {report['size']} FLUX.1-dev, {report['width']}×{report['height']}\n")
    out.write("| variant | s/step | ×published | ×floor | peak GiB | encode s | decode s | e2e s |\n")
    out.write("|---|---|---|---|---|---|---|---|\n")
    for row in report["rows"]:
        if "error" in row:
            out.write(f"| {row['variant']} | {row['error'][:60]} | | | | | | |\n")
            continue
        peak = "n/a" if row["peak_gpu_gib"] is None else f"{row['peak_gpu_gib']:.1f}"
        ratio = row.get("ratio_to_published")
        out.write(
            f"| {row['variant']} | {row['s_per_step']:.3f} | {'' if ratio is None else f'{ratio:.2f}'} | "
            f"{row['ratio_to_floor']:.2f} | {peak} | {row['encode_s']:.2f} | {row['decode_s']:.2f} | "
            f"{row['end_to_end_s']:.1f} |\n"
        )


if __name__ == "__main__":
    main()
