"""Memory tiers: how FLUX.1-dev is stored and placed so DiT360 runs on 8–80 GB GPUs, Apple silicon and CPUs.

A tier is a named recipe (``TIERS``); ``plan_tier`` turns the requested tier, the device and the options
(dtype, GGUF file) into a concrete ``TierPlan``, substituting what the device cannot do with a note the
user sees. The placement functions then apply the plan to freshly loaded components:

- fp8 storage: diffusers' layerwise casting keeps Linear weights in float8_e4m3fn and upcasts each layer
  to the compute dtype just for its forward; diffusers leaves norms and embeddings in the compute dtype.
  A LoRA is fused into the compute-dtype weights first (fp8 has 3 mantissa bits; a rank-64 delta added
  after casting would be mostly rounded away).
- GGUF: the transformer's Linear layers stay quantised (``gguf_flux``); the LoRA stays a separate PEFT
  layer on top, since a quantised weight cannot absorb it.
- group offload: transformer blocks live in (pinned) CPU memory and visit the GPU one group at a time;
  on CUDA the next group is prefetched on a side stream while the current one computes.
- partial streaming (``streaming``): bf16 weights, most blocks resident, just enough blocks in pinned RAM
  to fit the tier's budget, each copied in while resident blocks compute; T5's blocks likewise.
- text encoders: kept on the CPU and moved to the GPU only when a prompt is not in the cache.
- VAE: exact tiled decode (``vae_tiling``), feature maps on the GPU or, for small cards, in RAM.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from dit360_desktop.core import streaming
from dit360_desktop.core.devices import resolve_dtype
from dit360_desktop.core.vae_tiling import TilingConfig
from dit360_desktop.panorama.errors import OutOfMemoryError, RequestError
from dit360_desktop.panorama.request import TIERS as REQUEST_TIERS

log = logging.getLogger(__name__)

GIB = 1 << 30
FP8 = torch.float8_e4m3fn


@dataclass(frozen=True)
class TierSpec:
    name: str
    label: str
    transformer: str  # "native" or "fp8" (a GGUF file, when given, replaces either)
    # None; "block_level" or "leaf_level" group offload; or "stream": only enough blocks to fit
    # ``resident_gib`` stay in RAM (``streaming``)
    offload: str | None
    text_encoders: str  # "resident" on the device, or "offload": on the CPU except while encoding
    t5: str  # "native", "fp8" storage, or "stream": 16-bit, its blocks streamed from RAM
    vae: str  # "untiled", "tiled" (maps on the device) or "tiled-cpu" (maps in RAM)
    resident_gib: float | None = None  # transformer weights kept on the device ("stream" only)


TIERS: dict[str, TierSpec] = {
    spec.name: spec
    for spec in (
        TierSpec(
            name="full",
            label="Full: bf16, everything on the GPU",
            transformer="native",
            offload=None,
            text_encoders="resident",
            t5="native",
            vae="untiled",
        ),
        TierSpec(
            name="24gb",
            label="24 GB, full quality: bf16, a few transformer blocks and T5's blocks streamed from RAM",
            transformer="native",
            offload="stream",
            # CLIP and T5's embeddings stay; T5's blocks (9 GiB in bf16) visit one at a time.
            text_encoders="resident",
            t5="stream",
            vae="tiled",
            # 22.2 GiB of bf16 weights; ~4 GiB stay free for activations, streamed blocks in flight,
            # CLIP, T5's embeddings and the tiled VAE's feature maps.
            resident_gib=18.0,
        ),
        TierSpec(
            name="24gb-fp8",
            label="24 GB, faster: fp8-stored transformer and T5, text encoders off the GPU after encoding",
            transformer="fp8",
            offload=None,
            text_encoders="offload",
            # The fp8 transformer keeps ~15 GB resident (diffusers leaves the AdaLN modulation in 16-bit);
            # a 9.8 GB bf16 T5 visiting for encoding would push the peak past 24 GB, a 4.9 GB fp8 one not.
            t5="fp8",
            vae="tiled",
        ),
        TierSpec(
            name="12gb",
            label="12–16 GB: fp8 or GGUF transformer with block offload, T5 in fp8, tiled VAE",
            transformer="fp8",
            offload="block_level",
            text_encoders="offload",
            t5="fp8",
            # Maps on the GPU: ~2 GiB at 2048×1024, under the 5.5 GiB that encoding with T5 in fp8
            # needs, and 0.5 s instead of 11 s in RAM on an H100. Running out of memory falls back to RAM.
            vae="tiled",
        ),
        TierSpec(
            name="8gb",
            label="8 GB: GGUF transformer with block offload, or fp8 with leaf-level offload; T5 in fp8",
            transformer="fp8",
            offload="leaf_level",
            text_encoders="offload",
            t5="fp8",
            vae="tiled",
        ),
        TierSpec(
            name="apple",
            label="Apple silicon: fp16/bf16 (or GGUF) on MPS, text encoders off after encoding, tiled VAE",
            transformer="native",
            offload=None,
            text_encoders="offload",
            t5="native",
            vae="tiled",
        ),
        TierSpec(
            name="cpu",
            label="CPU: fp32, everything in RAM; slow but exact",
            transformer="native",
            offload=None,
            text_encoders="resident",
            t5="native",
            vae="untiled",
        ),
    )
}
assert set(TIERS) == set(REQUEST_TIERS) - {"auto"}

# Free device memory needed to choose each CUDA tier automatically (checked in order). Full FLUX.1-dev
# in bf16 is 33.7 GB of weights (transformer 23.8, T5-XXL 9.5, CLIP-L 0.25, VAE 0.17) plus activations.
CUDA_TIER_FLOORS: tuple[tuple[str, int], ...] = (("full", 38 * GIB), ("24gb", 20 * GIB), ("12gb", 10 * GIB))
DEVICE_BOUND = {"apple": "mps", "cpu": "cpu"}
LOWER_TIER = {"full": "24gb", "24gb": "12gb", "24gb-fp8": "12gb", "12gb": "8gb"}
# Free memory the streaming tier leaves unused for everything but resident transformer weights.
STREAM_HEADROOM = 4 * GIB


def choose_tier(device_type: str, total_bytes: int | None, free_bytes: int | None) -> str:
    """The automatic tier for a device with this much memory (a pure function; see ``CUDA_TIER_FLOORS``)."""
    if device_type == "cpu":
        return "cpu"
    if device_type == "mps":
        return "apple"
    budget = free_bytes if free_bytes is not None else total_bytes
    if budget is None:
        return "12gb"
    for name, floor in CUDA_TIER_FLOORS:
        if budget >= floor:
            return name
    return "8gb"


def device_memory(device: torch.device) -> tuple[int | None, int | None]:
    """(total, free) bytes the device can give this process."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return int(total), int(free)
    import psutil

    memory = psutil.virtual_memory()
    if device.type == "mps":
        # Unified memory: Metal caps this process at its recommended working set.
        limit = int(torch.mps.recommended_max_memory())
        return limit, max(0, limit - int(torch.mps.driver_allocated_memory()))
    return int(memory.total), int(memory.available)


def supports_fp8_storage(device_type: str) -> bool:
    # Storage needs only float8 casts; CUDA and CPU have them, Metal (MPS) has no float8 dtype.
    return device_type in ("cuda", "cpu")


@dataclass(frozen=True)
class TierPlan:
    name: str
    requested: str
    device: torch.device
    dtype: torch.dtype  # compute dtype
    transformer: str  # "native", "fp8" (storage), "fp8-compute" (torchao, ``fp8_compute``) or "gguf"
    gguf_file: Path | None
    offload: str | None
    streams: bool
    text_encoders: str  # "resident", "offload" or "cpu"
    t5: str
    vae: str
    resident_bytes: int | None = None  # offload "stream": transformer weights kept on the device
    fuse_lora: bool = False  # asked for: merge the LoRA into the weights (faster steps; see fuses_lora)
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        fields = dataclasses.asdict(self)
        fields.pop("notes")
        fields.pop("requested")
        return tuple(str(value) for value in fields.values())

    @property
    def fuses_lora(self) -> bool:
        # fp8: a rank-64 delta would round away after casting. Streaming: PEFT would put the LoRA
        # layers of a streamed block on the CPU, outside the blocks' streamed weights.
        # On request it saves the LoRA's separate matmuls in every step (~6 % on an H100); a change of
        # LoRA or scale then reloads the transformer. Quantised GGUF weights cannot absorb it.
        # fp8 compute: torchao's quantised weights cannot take PEFT layers either.
        if self.transformer == "gguf":
            return False
        return self.fuse_lora or self.transformer in ("fp8", "fp8-compute") or self.offload == "stream"

    @property
    def tiling(self) -> TilingConfig | None:
        if self.vae == "untiled":
            return None
        return TilingConfig(store="cpu" if self.vae == "tiled-cpu" else "device")

    def describe(self) -> dict:
        """JSON-able summary for result metadata."""
        return {
            "tier": self.name,
            "requested": self.requested,
            "transformer": self.transformer if self.transformer != "gguf" else f"gguf:{self.gguf_file.name}",
            "offload": self.offload,
            "streams": self.streams,
            "text_encoders": self.text_encoders,
            "t5": self.t5,
            "vae": self.vae,
            "resident_gib": None if self.resident_bytes is None else round(self.resident_bytes / GIB, 2),
        }

    def with_text_on_cpu(self, reason: str) -> TierPlan:
        return dataclasses.replace(self, text_encoders="cpu", notes=(*self.notes, reason))


def plan_tier(
    requested: str,
    device: torch.device,
    *,
    dtype: str = "auto",
    gguf_file: str | Path | None = None,
    memory: tuple[int | None, int | None] | None = None,
    fuse_lora: bool = False,
    fp8_compute: bool = False,
) -> TierPlan:
    """Resolve a requested tier (or "auto") for ``device``; unsupported parts fall back with a note."""
    if requested not in REQUEST_TIERS:
        raise RequestError("tier", f"must be one of {', '.join(REQUEST_TIERS)} (got {requested!r})")
    notes: list[str] = []
    name = requested
    total = free = None
    if requested == "auto" or DEVICE_BOUND.get(requested, device.type) != device.type:
        total, free = memory if memory is not None else device_memory(device)
        name = choose_tier(device.type, total, free)
        if requested != "auto":
            notes.append(
                f"The {requested} tier needs a {DEVICE_BOUND[requested]} device; "
                f"using the {name} tier on {device.type} instead."
            )
    spec = TIERS[name]
    transformer, offload = spec.transformer, spec.offload
    if gguf_file is not None:
        gguf_file = Path(gguf_file).expanduser()
        transformer = "gguf"
        if fuse_lora:
            notes.append("A LoRA cannot be merged into GGUF weights; it runs as a separate layer.")
        if offload == "leaf_level":
            # A Q4 GGUF is ~6.8 GB: whole blocks fit, and block offload moves far fewer, larger pieces.
            offload = "block_level"
        elif offload == "stream":
            offload = None  # even Q8_0 (12.7 GB) fits the streaming tier's budget whole
    elif transformer == "fp8" and not supports_fp8_storage(device.type):
        notes.append(
            f"fp8 weight storage is not supported on {device.type}; the transformer stays in 16-bit "
            "(choose a GGUF file to use less memory)."
        )
        transformer = "native"
    if fp8_compute:
        transformer, offload = _with_fp8_compute(name, transformer, offload, notes)
    t5 = spec.t5
    if t5 == "fp8" and not supports_fp8_storage(device.type):
        notes.append(f"fp8 storage is not supported on {device.type}; T5 stays in 16-bit.")
        t5 = "native"
    streamed = offload is not None or t5 == "stream"
    streams = streamed and device.type == "cuda"
    if streamed and not streams:
        notes.append(
            f"CUDA streams are not available on {device.type}; offloaded weights are copied without "
            "overlapping compute (slower)."
        )
    resident = None
    if offload == "stream":
        resident = int(spec.resident_gib * GIB)
        if free is not None:
            # Chosen automatically: keep as much resident as this card's free memory allows.
            resident = max(resident, free - STREAM_HEADROOM)
    return TierPlan(
        name=name,
        requested=requested,
        device=device,
        dtype=resolve_dtype(dtype, device),
        transformer=transformer,
        gguf_file=gguf_file,
        offload=offload,
        streams=streams,
        text_encoders=spec.text_encoders,
        t5=t5,
        vae=spec.vae,
        resident_bytes=resident,
        fuse_lora=fuse_lora,
        notes=tuple(notes),
    )


def _with_fp8_compute(tier: str, transformer: str, offload: str | None, notes: list[str]):
    """(transformer, offload) with fp8 compute where the tier allows it; a note where it does not."""
    if transformer == "gguf":
        notes.append("fp8 compute does not apply to a GGUF transformer; its own quantisation is used.")
        return transformer, offload
    if offload in ("block_level", "leaf_level"):
        notes.append(
            f"fp8 compute is not used in the {tier} tier (its weights are offloaded block by block); "
            "it runs in the full, 24gb and 24gb-fp8 tiers."
        )
        return transformer, offload
    # fp8 weights (11.9 GB) fit the 24 GB tiers whole: nothing is streamed.
    return "fp8-compute", None if offload == "stream" else offload


# --- placement ----------------------------------------------------------------------------------------


def place_component(name: str, module: torch.nn.Module, plan: TierPlan) -> torch.nn.Module:
    """Put one freshly loaded component where the plan wants it (transformer: ``place_transformer``)."""
    if name == "transformer":
        return module if plan.fuses_lora else place_transformer(module, plan)
    if name == "text_encoder_2" and plan.t5 == "fp8":
        cast_t5_to_fp8(module, plan.dtype)
    if name == "text_encoder_2" and plan.t5 == "stream" and plan.text_encoders == "resident":
        streaming.stream_blocks(module, list(module.encoder.block), plan.device)
        return module
    if name in ("text_encoder", "text_encoder_2"):
        return module.to(plan.device if plan.text_encoders == "resident" else torch.device("cpu"))
    return module.to(plan.device)


def place_transformer(transformer, plan: TierPlan):
    if plan.transformer == "fp8-compute":
        from dit360_desktop.core.fp8_compute import quantise_transformer

        return quantise_transformer(transformer, plan.device)
    if plan.transformer == "fp8":
        transformer.enable_layerwise_casting(storage_dtype=FP8, compute_dtype=plan.dtype)
    if plan.offload is None:
        return transformer.to(plan.device)
    if plan.offload == "stream":
        blocks = streaming.choose_streamed_blocks(
            [transformer.transformer_blocks, transformer.single_transformer_blocks],
            plan.resident_bytes,
            streaming.module_bytes(transformer),
        )
        streaming.stream_blocks(transformer, blocks, plan.device)
        log.info("Streaming %d of the transformer's blocks from RAM", len(blocks))
        return transformer
    transformer.enable_group_offload(
        onload_device=plan.device,
        offload_device=torch.device("cpu"),
        offload_type=plan.offload,
        num_blocks_per_group=1 if plan.offload == "block_level" else None,
        non_blocking=plan.streams,
        use_stream=plan.streams,
        record_stream=plan.streams,
    )
    return transformer


def cast_t5_to_fp8(t5: torch.nn.Module, compute_dtype: torch.dtype) -> None:
    from diffusers.hooks import apply_layerwise_casting

    # transformers' T5 casts activations to ``wo.weight.dtype`` before ``wo`` runs (and keeps ``wo`` in
    # fp32 for fp16): ``wo`` must keep the compute dtype, or the activations would be cast to fp8.
    apply_layerwise_casting(
        t5,
        storage_dtype=FP8,
        compute_dtype=compute_dtype,
        skip_modules_pattern=(r"\.wo$", "relative_attention_bias"),
        skip_modules_classes=(torch.nn.Embedding,),
    )


def fuse_lora(transformer, path: str | Path, scale: float, adapter_name: str):
    """Load one LoRA, merge it at ``scale`` into the (not yet cast) weights, and drop the PEFT layers."""
    from dit360_desktop.core.lora_stack import LoraSlot

    slot = LoraSlot(adapter_name, Path(path).expanduser(), scale, True)
    return fuse_loras(transformer, [slot])[0].info


def fuse_loras(transformer, slots) -> list:
    """Load every LoRA of ``slots`` (``lora_stack.LoraSlot``), merge them all at their scales into the
    (not yet cast) weights in one pass, and drop the PEFT layers; returns their ``AppliedLora``s."""
    from dit360_desktop.core.loading import load_lora
    from dit360_desktop.core.lora_stack import AppliedLora

    applied = [AppliedLora(load_lora(transformer, s.path, s.adapter), s.scale, s.base) for s in slots]
    if slots:
        names = [slot.adapter for slot in slots]
        transformer.set_adapters(names, weights=[slot.scale for slot in slots])
        transformer.fuse_lora(lora_scale=1.0, adapter_names=names)
        transformer.unload_lora()
    return applied


@contextlib.contextmanager
def text_encoders_on_device(components, plan: TierPlan, needed: bool) -> Iterator[None]:
    """While encoding, offloaded text encoders visit the device; afterwards they go back to the CPU."""
    if plan.text_encoders != "offload" or not needed or plan.device.type == "cpu":
        yield
        return
    encoders = (components.text_encoder, components.text_encoder_2)
    try:
        for encoder in encoders:
            encoder.to(plan.device)
        yield
    finally:
        for encoder in encoders:
            encoder.to("cpu")
        free_device_memory(plan.device)


def move_text_encoders_to_cpu(components) -> None:
    streaming.unstream(components.text_encoder_2)
    components.text_encoder.to("cpu")
    components.text_encoder_2.to("cpu")


def decode_with_fallback(vae, latents: torch.Tensor, *, seamless: bool, plan: TierPlan):
    """Decode per the plan; an out-of-memory untiled decode is retried tiled with maps in RAM.

    Returns the decoded tensor and the notes for the user.
    """
    from dit360_desktop.core.codecs import decode_latents
    from dit360_desktop.core.sampler import translate_oom
    from dit360_desktop.core.vae_tiling import TilingUnsupportedError, check_tileable

    notes: list[str] = []
    tiling = plan.tiling
    if tiling is not None:
        try:
            check_tileable(vae)
        except TilingUnsupportedError as e:
            notes.append(str(e))
            tiling = None
    try:
        with translate_oom():
            return decode_latents(vae, latents, seamless=seamless, tiling=tiling), notes
    except OutOfMemoryError:
        if tiling is not None and tiling.store == "cpu":
            raise
        free_device_memory(plan.device)
        note = "The VAE ran out of memory; the panorama was decoded in tiles instead (same result)."
        log.warning(note)
        with translate_oom():
            decoded = decode_latents(vae, latents, seamless=seamless, tiling=TilingConfig(store="cpu"))
        return decoded, [*notes, note]


def free_device_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
