"""PanoramaEngine: owns the loaded FLUX.1-dev components and turns requests into panoramas.

Stages per run: loading (only when needed) → encoding → preparing → denoising → decoding. Every stage
boundary and every denoising step checks the cancel token; nothing is written by the engine itself.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from dit360_desktop.core import tiers
from dit360_desktop.core.codecs import (
    TextEncoder,
    encode_image,
    pil_to_pixels,
    to_uint8_image,
)
from dit360_desktop.core.devices import memory_in_use, resolve_device, resolve_dtype
from dit360_desktop.core.geometry import LatentGeometry
from dit360_desktop.core.loading import Components, LoraInfo, load_components, load_transformer
from dit360_desktop.core.lora_stack import BASE_ADAPTER, AppliedLora, LoraStack, lora_slots
from dit360_desktop.core.padding import (
    latent_image_ids,
    pack_latents,
    unpack_latents,
    wrap_pad_ids,
    wrap_pad_tokens,
)
from dit360_desktop.core.preview import LatentPreviewer
from dit360_desktop.core.run_metadata import run_metadata
from dit360_desktop.core.sampler import (
    DenoiseInputs,
    Denoiser,
    drop_pads,
    is_oom,
    make_scheduler,
    translate_oom,
)
from dit360_desktop.core.step_cache import configure_step_cache
from dit360_desktop.panorama.errors import DiT360Error, GenerationCancelled, OutOfMemoryError
from dit360_desktop.panorama.events import (
    CancelToken,
    DoneEvent,
    EventCallback,
    FailedEvent,
    Stage,
    StageEvent,
    StepEvent,
)
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result

log = logging.getLogger(__name__)

LORA_ADAPTER = BASE_ADAPTER
# Set while a fused stack is half-built, so that the next request starts again from fresh weights.
_HALF_FUSED = ("half-fused",)


class PanoramaEngine:
    """``gguf_file`` replaces the transformer weights with a GGUF file in every tier; ``compile`` and
    ``attention_backend`` are the speed options of ``speed.py``; ``fuse_lora`` merges the LoRAs into the
    16-bit weights in every tier (faster steps; a new LoRA or scale reloads the transformer);
    ``fp8_compute`` runs the transformer's matmuls in fp8 on Hopper and newer (``fp8_compute.py``)."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        batched_cfg: bool = True,
        previews: bool = True,
        gguf_file: str | Path | None = None,
        compile: bool = False,
        attention_backend: str = "auto",
        fuse_lora: bool = False,
        fp8_compute: bool = False,
    ):
        self.model_dir = Path(model_dir).expanduser()
        self.batched_cfg = batched_cfg
        self.previews = previews
        self.gguf_file = Path(gguf_file).expanduser() if gguf_file is not None else None
        self.compile = compile
        self.attention_backend = attention_backend
        self.fuse_lora = fuse_lora
        self.fp8_compute = fp8_compute
        self._plan: tiers.TierPlan | None = None
        self._fused: tuple | None = None
        self._notes: list[str] = []
        self._text_on_cpu: str | None = None  # why the text encoders were moved to the CPU for good
        self._components: Components | None = None
        self._load_key: tuple | None = None
        self._text: TextEncoder | None = None
        self._previewer: LatentPreviewer | None = None
        self._lora: LoraInfo | None = None  # the DiT360 LoRA as loaded
        self._loras = LoraStack()
        self._applied: list[AppliedLora] = []
        self._device = torch.device("cpu")
        self._dtype = torch.float32

    # --- state ---------------------------------------------------------------------------------------

    @property
    def is_loaded(self) -> bool:
        return self._components is not None

    @property
    def device_name(self) -> str:
        if self._device.type == "cuda":
            return f"cuda ({torch.cuda.get_device_name(self._device)})"
        return self._device.type

    @property
    def dtype_name(self) -> str:
        return str(self._dtype).removeprefix("torch.")

    def memory_in_use(self) -> int:
        return memory_in_use(self._device)

    @property
    def text_encoder(self) -> TextEncoder | None:
        return self._text

    @property
    def tier(self) -> tiers.TierPlan | None:
        return self._plan

    def unload(self) -> None:
        # A load that failed half-way has a plan but not yet a device: free the device it was filling.
        device = self._plan.device if self._plan is not None else self._device
        held = self._components is not None or self._plan is not None or self._text is not None
        self._components = None
        self._load_key = None
        self._text = None
        self._previewer = None
        self._lora = None
        self._loras.forget()
        self._applied = []
        self._plan = None
        self._fused = None
        if held:
            # gc.collect() holds the GIL for a few hundred ms with torch loaded, and a UI thread waits
            # on it; the first load has nothing to free, so it skips the collection.
            _free_memory(device)

    # --- loading -------------------------------------------------------------------------------------

    def load(
        self,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        device: str = "auto",
        dtype: str = "auto",
        tier: str = "auto",
    ) -> None:
        emit = on_event or _ignore
        cancel = cancel or CancelToken()
        target = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, target)
        if self.fp8_compute:
            from dit360_desktop.core.fp8_compute import check_fp8_compute

            check_fp8_compute(target)
        folder = self.model_dir.resolve()
        plan = self._plan_for(tier, target, dtype)
        key = (str(folder), *plan.key)
        if key == self._load_key:
            self._plan = plan  # the same placement; keep this request's notes
            return
        emit(StageEvent(Stage.LOADING, f"Loading {folder.name} ({plan.name} tier)"))
        cancel.raise_if_cancelled()
        self.unload()
        # Known before loading, so that running out of memory while loading names the tier that failed.
        self._plan = plan
        for note in plan.notes:
            log.warning(note)
        gguf_loader = None
        if plan.transformer == "gguf":
            from dit360_desktop.core.gguf_flux import load_gguf_transformer

            def gguf_loader():
                return load_gguf_transformer(
                    plan.gguf_file, folder / "transformer", compute_dtype=torch_dtype
                )

        components = load_components(
            folder,
            device=target,
            dtype=torch_dtype,
            on_progress=lambda name: emit(StageEvent(Stage.LOADING, f"Loading {name}")),
            check_cancel=cancel.raise_if_cancelled,
            place=lambda name, module: tiers.place_component(name, module, plan),
            load_transformer_from=gguf_loader,
        )
        previewer = LatentPreviewer.calibrate(components.vae) if self.previews else None
        # A cancelled load is dropped here: nothing above was assigned to the engine yet.
        cancel.raise_if_cancelled()
        self._components = components
        self._previewer = previewer
        self._text = TextEncoder(
            components.tokenizer,
            components.text_encoder,
            components.tokenizer_2,
            components.text_encoder_2,
            identity=f"{folder}|{torch_dtype}|{plan.t5}",
            dtype=torch_dtype,
        )
        self._device, self._dtype, self._load_key, self._plan = target, torch_dtype, key, plan
        if not plan.fuses_lora:
            self._speed_up(components.transformer)

    def _plan_for(self, tier: str, target: torch.device, dtype: str) -> tiers.TierPlan:
        current = self._plan
        if (
            tier == "auto"
            and current is not None
            and current.requested == "auto"
            and current.device == target
            and current.dtype == resolve_dtype(dtype, target)
        ):
            # Free memory is measured once: later, our own loaded weights would make it look smaller.
            return current
        plan = tiers.plan_tier(
            tier,
            target,
            dtype=dtype,
            gguf_file=self.gguf_file,
            fuse_lora=self.fuse_lora,
            fp8_compute=self.fp8_compute,
        )
        return plan.with_text_on_cpu(self._text_on_cpu) if self._text_on_cpu else plan

    def _speed_up(self, transformer) -> None:
        from dit360_desktop.core.speed import apply_speed_options

        self._notes.extend(
            apply_speed_options(
                transformer,
                self._device,
                dtype=self._dtype,
                compile=self.compile,
                attention_backend=self.attention_backend,
                # A request may turn the step cache on, whose hooks break the graph; without them
                # dynamo builds the same single graph either way.
                graph_breaks=True,
            )
        )

    def _load_with_fallback(self, request: GenerationRequest, emit: EventCallback, cancel: CancelToken):
        """Load and apply the LoRA; with the automatic tier, running out of memory steps down a tier.

        A load that ends after its run was cancelled (one that could not notice, stuck in a long read)
        is thrown away rather than kept for a request nobody is waiting for.
        """
        tier = request.tier
        was_loaded = self.is_loaded
        while True:
            try:
                with translate_oom():
                    self.load(emit, cancel, device=request.device, dtype=request.dtype, tier=tier)
                    self._apply_loras(request)
                if tier != request.tier:
                    # Later automatic runs keep the tier that fitted instead of measuring again.
                    self._plan = dataclasses.replace(self._plan, requested=request.tier)
                if cancel.cancelled and not was_loaded:
                    self.unload()
                    raise GenerationCancelled("Cancelled while the model was loading.")
                return
            except OutOfMemoryError:
                current = self._plan.name if self._plan is not None else None
                lower = tiers.LOWER_TIER.get(current) if request.tier == "auto" else None
                self.unload()
                if lower is None:
                    raise
                note = f"The {current} tier did not fit in memory; using the {lower} tier."
                log.warning(note)
                self._notes.append(note)
                tier = lower

    def _apply_loras(self, request: GenerationRequest) -> None:
        slots = lora_slots(request.lora_path, request.lora_scale, request.extra_loras)
        if self._plan.fuses_lora:
            self._apply_fused_loras(slots)
        else:
            if self._loras.apply(self._components.transformer, slots) and self._text is not None:
                self._text.clear_cache()
            self._applied = self._loras.applied
        self._lora = next((applied.info for applied in self._applied if applied.base), None)

    def _apply_fused_loras(self, slots) -> None:
        # fp8 storage: the LoRAs are merged into 16-bit weights before they are cast, so another LoRA or
        # scale needs the transformer's original weights again.
        wanted = tuple((slot.identity, slot.scale) for slot in slots)
        if self._fused == wanted:
            return
        if self._fused is not None:
            self._components.transformer = None
            _free_memory(self._device)
            self._components.transformer = load_transformer(self._components.folder, self._dtype)
        self._fused = _HALF_FUSED
        transformer = self._components.transformer
        self._applied = tiers.fuse_loras(transformer, slots)
        self._components.transformer = tiers.place_transformer(transformer, self._plan)
        self._speed_up(self._components.transformer)
        self._fused = wanted

    # --- running -------------------------------------------------------------------------------------

    def run(
        self,
        request: GenerationRequest,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Result:
        emit = on_event or _ignore
        cancel = cancel or CancelToken()
        try:
            result = self._run(request, emit, cancel)
        except DiT360Error as error:
            if isinstance(error, OutOfMemoryError):
                _free_memory(self._device)
            emit(FailedEvent(error))
            raise
        except Exception as exc:
            if is_oom(exc):
                _free_memory(self._device)
                error = OutOfMemoryError(
                    "The device ran out of memory. Lower the size, or choose a lower memory tier."
                )
                emit(FailedEvent(error))
                raise error from exc
            raise
        emit(DoneEvent(result))
        return result

    def _run(self, request: GenerationRequest, emit: EventCallback, cancel: CancelToken) -> Result:
        warnings = request.validate()
        for message in warnings:
            log.warning(message)
        request = request.with_seed()
        timings: dict[str, float] = {}
        clock = functools.partial(_timed, timings)  # clock("stage") adds the stage's seconds to timings
        self._notes = []

        with clock("loading"):
            self._load_with_fallback(request, emit, cancel)
        if request.is_edit:
            from dit360_desktop.core.editing.runner import run_edit

            # The edit methods make their own transformer calls, outside the cache's contexts.
            configure_step_cache(self._components.transformer, "off", request.steps, self._dtype)
            if request.step_cache != "off":
                self._notes.append("The step cache (fast draft) is not used for edits; the edit is exact.")
            return run_edit(self, request, emit, cancel, timings, warnings)
        components = self._components
        device = self._device

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.ENCODING, "Encoding the prompt"))
        with clock("encoding"):
            cond, uncond = self._encode(request, device)

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.PREPARING, "Preparing latents"))
        with clock("preparing"), translate_oom():
            geometry = LatentGeometry.for_request(components.vae, request)
            tokens, img_ids, scheduler, timesteps, first_index = self._prepare(
                request, geometry, cond, device
            )

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.DENOISING, f"Denoising {len(timesteps)} steps"))
        note = configure_step_cache(components.transformer, request.step_cache, len(timesteps), self._dtype)
        self._notes.extend([note] if note else [])
        with clock("denoising"):
            inputs = DenoiseInputs.for_request(tokens, img_ids, cond, uncond, request, geometry)
            tokens = self.denoise(inputs, (scheduler, timesteps, first_index), emit, cancel, geometry)

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.DECODING, "Decoding the panorama"))
        with clock("decoding"), translate_oom():
            latent = unpack_latents(
                drop_pads(tokens, geometry.rows, geometry.cols), geometry.height, geometry.width
            )
            decoded, notes = tiers.decode_with_fallback(
                components.vae, latent, seamless=request.seamless_decode, plan=self._plan
            )
            self._notes.extend(notes)
            image = Image.fromarray(to_uint8_image(decoded))
        cancel.raise_if_cancelled()
        metadata = self._metadata(request, timings, [*warnings, *self._plan.notes, *self._notes])
        return Result(image=image, request=request, metadata=metadata, latent=latent.detach().float().cpu())

    def _encode(self, request: GenerationRequest, device: torch.device):
        """Both prompts' embeddings; out of memory on the GPU moves the text encoders to the CPU for good."""
        prompts = [request.prompt] + ([request.negative_prompt] if request.uses_true_cfg else [])
        needed = not all(self._text.is_cached(prompt) for prompt in prompts)
        try:
            with translate_oom(), tiers.text_encoders_on_device(self._components, self._plan, needed):
                embeds = [self._text.encode(prompt, device) for prompt in prompts]
        except OutOfMemoryError:
            if self._plan.text_encoders == "cpu":
                raise
            note = "The text encoders ran out of GPU memory; they now run on the CPU (slower, same result)."
            log.warning(note)
            tiers.move_text_encoders_to_cpu(self._components)
            _free_memory(device)
            self._text_on_cpu = note
            self._plan = self._plan.with_text_on_cpu(note)
            self._load_key = (self._load_key[0], *self._plan.key)
            with translate_oom():
                embeds = [self._text.encode(prompt, device) for prompt in prompts]
        return embeds[0], embeds[1] if len(embeds) > 1 else None

    def _prepare(self, request: GenerationRequest, geometry: LatentGeometry, cond, device):
        from diffusers.utils.torch_utils import randn_tensor

        channels = self._components.transformer.config.in_channels // 4
        latent_dtype = cond.t5.dtype
        # 1. Noise from a CPU generator: the same seed gives the same panorama on every device.
        generator = torch.Generator("cpu").manual_seed(request.seed)
        noise = randn_tensor(
            (1, channels, geometry.height, geometry.width),
            generator=generator,
            device=device,
            dtype=latent_dtype,
        )
        tokens = pack_latents(noise)
        # 2. Schedule from the padded sequence length, as the reference does.
        strength = request.strength if request.is_img2img else 1.0
        scheduler, timesteps, first_index = make_scheduler(
            self._components.scheduler_config, request.steps, geometry.padded_seq_len, device, strength
        )
        if len(timesteps) == 0:
            from dit360_desktop.panorama.errors import RequestError

            raise RequestError(
                "strength", f"{request.strength} leaves no denoising steps; raise strength or steps"
            )
        # 3. img2img: start part-way along the schedule from the encoded init image.
        if request.is_img2img:
            init = self._encode_init_image(request, device)
            tokens = scheduler.scale_noise(pack_latents(init.to(latent_dtype)), timesteps[:1], tokens)
        # 4. DiT360 wrap padding of tokens and position ids.
        ids = latent_image_ids(geometry.rows, geometry.cols, device=device, dtype=latent_dtype)
        return (
            wrap_pad_tokens(tokens, geometry.rows, geometry.cols),
            wrap_pad_ids(ids, geometry.rows, geometry.cols),
            scheduler,
            timesteps,
            first_index,
        )

    def _encode_init_image(self, request: GenerationRequest, device) -> torch.Tensor:
        from dit360_desktop.panorama.imageio import fit_image, load_user_image

        image = fit_image(load_user_image(request.init_image), request.width, request.height, request.fit)
        pixels = pil_to_pixels(image, device)
        return encode_image(
            self._components.vae, pixels, seamless=request.seamless_decode, tiling=self._plan.tiling
        )

    def denoise(
        self,
        inputs: DenoiseInputs,
        schedule: tuple,
        emit: EventCallback,
        cancel: CancelToken,
        geometry,
        **run,
    ) -> torch.Tensor:
        """The denoising stage shared by generation and the blend edit; ``schedule`` is (scheduler,
        timesteps, first_index), ``run`` passes ``after_step``. A batch of two that ran out of memory
        stays unbatched for later runs."""
        scheduler, timesteps, first_index = schedule
        denoiser = Denoiser(self._components.transformer, batched_cfg=self.batched_cfg)
        on_step = self._step_reporter(emit, geometry)
        check = cancel.raise_if_cancelled
        tokens = denoiser.run(
            inputs, scheduler, timesteps, first_index=first_index, check_cancel=check, on_step=on_step, **run
        )
        self.batched_cfg = denoiser.batched_cfg
        return tokens

    def _step_reporter(self, emit: EventCallback, geometry: LatentGeometry) -> Callable:
        previewer = self._previewer

        def report(step: int, total: int, elapsed: float, predicted: torch.Tensor) -> None:
            preview = None
            if previewer is not None:
                preview = previewer.project_tokens(
                    drop_pads(predicted[:1], geometry.rows, geometry.cols), geometry.height, geometry.width
                )
            eta = elapsed / step * (total - step)
            emit(StepEvent(step=step, total=total, elapsed_s=elapsed, eta_s=eta, preview=preview))

        return report

    def decode_latent(
        self,
        latent: torch.Tensor,
        *,
        seamless: bool = True,
        device: str = "auto",
        dtype: str = "auto",
        tier: str = "auto",
    ):
        """Decode a saved (1, C, h, w) latent (as written by ``--save-latent``) to a PIL image."""
        self.load(device=device, dtype=dtype, tier=tier)
        vae = self._components.vae
        expected = vae.config.latent_channels
        if latent.ndim != 4 or latent.shape[0] != 1 or latent.shape[1] != expected:
            from dit360_desktop.panorama.errors import RequestError

            raise RequestError("latent", f"must have shape (1, {expected}, h, w); got {tuple(latent.shape)}")
        decoded, notes = tiers.decode_with_fallback(
            vae, latent.to(self._device), seamless=seamless, plan=self._plan
        )
        for note in notes:
            log.warning(note)
        return Image.fromarray(to_uint8_image(decoded))

    def _metadata(
        self, request: GenerationRequest, timings: dict[str, float], warnings: list[str]
    ) -> dict[str, Any]:
        return run_metadata(
            request,
            folder=self._components.folder,
            lora=self._lora,
            extra_loras=[applied for applied in self._applied if not applied.base],
            device=self.device_name,
            dtype=self.dtype_name,
            memory_tier=self._plan.describe(),
            timings=timings,
            warnings=warnings,
        )


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def import_model_libraries() -> None:
    """Import what a first load and run use, so that a caller can pay for it ahead of time."""
    import diffusers
    import peft  # noqa: F401
    import transformers
    from diffusers.utils.torch_utils import randn_tensor  # noqa: F401

    # Both libraries import lazily: touching the names is what imports the modules behind them.
    diffusers_names = (
        "AutoencoderKL",
        "FlowMatchEulerDiscreteScheduler",
        "FluxPipeline",
        "FluxTransformer2DModel",
    )
    for name in diffusers_names:
        getattr(diffusers, name)
    for name in ("CLIPTextModel", "CLIPTokenizer", "T5EncoderModel", "T5TokenizerFast"):
        getattr(transformers, name)


def _free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def _ignore(_event) -> None:
    return None
