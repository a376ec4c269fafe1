"""PanoramaEngine: loads the models a request's task needs, keeps them between runs, and runs the task.

``run(request)`` validates the request, looks its ``kind`` up in the task table (``core/tasks/table.py``),
loads what the task ``needs`` (FLUX.1-dev with the request's LoRAs and memory tier, stepping down a tier
when the automatic one runs out of memory; other models through their providers), and calls the task with
the loaded models. Every stage boundary and every denoising step checks the cancel token; nothing is
written by the engine itself.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from dit360_desktop.core import tiers
from dit360_desktop.core.codecs import TextEncoder
from dit360_desktop.core.devices import free_memory, memory_in_use, resolve_device, resolve_dtype
from dit360_desktop.core.guides.control import ControlLora, fuse_control_lora, fused_control
from dit360_desktop.core.loaded_model import LoadedModel
from dit360_desktop.core.loading import load_components, load_transformer
from dit360_desktop.core.lora_stack import LoraStack, lora_slots
from dit360_desktop.core.preview import LatentPreviewer
from dit360_desktop.core.sampler import is_oom, translate_oom
from dit360_desktop.core.tasks import table
from dit360_desktop.core.tasks.base import FLUX, ModelProvider, Models, Task, model_settings
from dit360_desktop.core.threads import ensure_compute_threads
from dit360_desktop.panorama.errors import (
    DiT360Error,
    GenerationCancelled,
    ModelMissingError,
    OutOfMemoryError,
    RequestError,
)
from dit360_desktop.panorama.events import (
    CancelToken,
    DoneEvent,
    EventCallback,
    FailedEvent,
    Stage,
    StageEvent,
)
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result

log = logging.getLogger(__name__)

# Set while a fused stack is half-built, so that the next request starts again from fresh weights.
_HALF_FUSED = ("half-fused",)


class PanoramaEngine:
    """``model_dir`` is the FLUX.1-dev folder (None: only tasks that need no FLUX can run); ``options``
    are fixed when the weights load (``panorama/options.py``)."""

    def __init__(self, model_dir: str | Path | None, options: EngineOptions | None = None) -> None:
        self.model_dir = Path(model_dir).expanduser() if model_dir is not None else None
        self.options = options or EngineOptions()
        # torch's thread count, before anything computes: the app's choice, else every core (threads.py).
        ensure_compute_threads()
        self._model: LoadedModel | None = None
        self._loaded_from: str | None = None
        # The plan of the load in progress: running out of memory while loading names the tier that failed.
        self._plan: tiers.TierPlan | None = None
        self._fused: tuple | None = None
        self._loras = LoraStack()
        self._control = ControlLora()  # a FLUX.1 Control LoRA beside the stack (core/guides/control.py)
        self._batched_cfg = self.options.batched_cfg
        self._text_on_cpu: str | None = None  # why the text encoders were moved to the CPU for good
        self._load_notes: list[str] = []
        self._providers: dict[str, ModelProvider] = {}

    # --- state ---------------------------------------------------------------------------------------

    @property
    def model(self) -> LoadedModel | None:
        """The loaded FLUX model (None until a run or ``load`` loads it)."""
        return self._model

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    @property
    def device_name(self) -> str:
        return self._model.device_name if self._model is not None else "cpu"

    @property
    def dtype_name(self) -> str:
        return self._model.dtype_name if self._model is not None else "float32"

    def memory_in_use(self) -> int:
        return memory_in_use(self._device())

    @property
    def text_encoder(self) -> TextEncoder | None:
        return self._model.text if self._model is not None else None

    @property
    def tier(self) -> tiers.TierPlan | None:
        return self._model.plan if self._model is not None else self._plan

    @property
    def batched_cfg(self) -> bool:
        """True CFG in one batch; a batch of two that ran out of memory stays unbatched for later runs."""
        return self._model.batched_cfg if self._model is not None else self._batched_cfg

    @batched_cfg.setter
    def batched_cfg(self, value: bool) -> None:
        self._batched_cfg = value
        if self._model is not None:
            self._model.batched_cfg = value

    def _device(self) -> torch.device:
        if self._model is not None:
            return self._model.device
        # A load that failed half-way has a plan but not yet a model: the device it was filling.
        return self._plan.device if self._plan is not None else torch.device("cpu")

    def unload(self) -> None:
        device = self._device()
        held = self._model is not None or self._plan is not None
        if self._model is not None:
            self._batched_cfg = self._model.batched_cfg
            self._text_on_cpu = self._model.text_on_cpu or self._text_on_cpu
        self._model = None
        self._loaded_from = None
        self._loras.forget()
        self._control.forget()
        self._plan = None
        self._fused = None
        for provider in self._providers.values():
            provider.unload()
        if held:
            # gc.collect() holds the GIL for a few hundred ms with torch loaded, and a UI thread waits
            # on it; the first load has nothing to free, so it skips the collection.
            free_memory(device)

    # --- loading -------------------------------------------------------------------------------------

    def load(
        self,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        device: str = "auto",
        dtype: str = "auto",
        tier: str = "auto",
    ) -> LoadedModel:
        emit = on_event or _ignore
        cancel = cancel or CancelToken()
        if self.model_dir is None:
            raise ModelMissingError("No FLUX.1-dev folder was given, and this task needs FLUX.1-dev.")
        target = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, target)
        if self.options.fp8_compute:
            from dit360_desktop.core.fp8_compute import check_fp8_compute

            check_fp8_compute(target)
        folder = self.model_dir.resolve()
        plan = self._plan_for(tier, target, dtype)
        if self._model is not None and (str(folder), *plan.key) == (self._loaded_from, *self._model.plan.key):
            self._model.plan = plan  # the same placement; keep this request's notes
            return self._model
        emit(StageEvent(Stage.LOADING, f"Loading {folder.name} ({plan.name} tier)"))
        cancel.raise_if_cancelled()
        self.unload()
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
        previewer = LatentPreviewer.calibrate(components.vae) if self.options.previews else None
        # A cancelled load is dropped here: nothing above was assigned to the engine yet.
        cancel.raise_if_cancelled()
        text = TextEncoder(
            components.tokenizer,
            components.text_encoder,
            components.tokenizer_2,
            components.text_encoder_2,
            identity=f"{folder}|{torch_dtype}|{plan.t5}",
            dtype=torch_dtype,
        )
        model = LoadedModel(
            components, plan, target, torch_dtype, text, previewer, batched_cfg=self._batched_cfg
        )
        model.text_on_cpu = self._text_on_cpu
        self._model, self._loaded_from = model, str(folder)
        if not plan.fuses_lora:
            self._speed_up(model)
        return model

    def _plan_for(self, tier: str, target: torch.device, dtype: str) -> tiers.TierPlan:
        current = self.tier
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
            gguf_file=self.options.gguf_file,
            fuse_lora=self.options.fuse_lora,
            fp8_compute=self.options.fp8_compute,
        )
        # Text encoders that ran out of GPU memory stay on the CPU for every later load and tier.
        moved = self._model.text_on_cpu if self._model is not None else None
        moved = moved or self._text_on_cpu
        return plan.with_text_on_cpu(moved) if moved else plan

    def _speed_up(self, model: LoadedModel) -> None:
        from dit360_desktop.core.speed import apply_speed_options

        self._load_notes.extend(
            apply_speed_options(
                model.components.transformer,
                model.device,
                dtype=model.dtype,
                compile=self.options.compile,
                attention_backend=self.options.attention,
                # A request may turn the step cache on, whose hooks break the graph; without them
                # dynamo builds the same single graph either way.
                graph_breaks=True,
            )
        )

    def _load_with_fallback(
        self, settings: GenerationRequest, emit: EventCallback, cancel: CancelToken
    ) -> LoadedModel:
        """Load and apply the LoRAs; with the automatic tier, running out of memory steps down a tier.

        A load that ends after its run was cancelled (one that could not notice, stuck in a long read)
        is thrown away rather than kept for a request nobody is waiting for.
        """
        tier = settings.tier
        was_loaded = self.is_loaded
        while True:
            try:
                with translate_oom():
                    self.load(emit, cancel, device=settings.device, dtype=settings.dtype, tier=tier)
                    model = self._model
                    self._apply_loras(model, settings)
                if tier != settings.tier:
                    # Later automatic runs keep the tier that fitted instead of measuring again.
                    model.plan = dataclasses.replace(model.plan, requested=settings.tier)
                if cancel.cancelled and not was_loaded:
                    self.unload()
                    raise GenerationCancelled("Cancelled while the model was loading.")
                return model
            except OutOfMemoryError:
                current = self.tier.name if self.tier is not None else None
                lower = tiers.LOWER_TIER.get(current) if settings.tier == "auto" else None
                self.unload()
                if lower is None:
                    raise
                note = f"The {current} tier did not fit in memory; using the {lower} tier."
                log.warning(note)
                self._load_notes.append(note)
                tier = lower

    def _apply_loras(self, model: LoadedModel, settings: GenerationRequest) -> None:
        slots = lora_slots(settings.lora_path, settings.lora_scale, settings.extra_loras)
        if model.plan.fuses_lora:
            self._apply_fused_loras(model, slots, fused_control(settings))
        else:
            if self._loras.apply(model.components.transformer, slots):
                model.text.clear_cache()
            self._control.apply(model.components.transformer, settings, self._loras, slots)
        if not model.plan.fuses_lora:
            model.applied_loras = self._loras.applied
        model.lora = next((applied.info for applied in model.applied_loras if applied.base), None)

    def _apply_fused_loras(self, model: LoadedModel, slots, control: tuple[Path, float] | None) -> None:
        # fp8 storage: the LoRAs are merged into 16-bit weights before they are cast, so another LoRA or
        # scale needs the transformer's original weights again. A Control LoRA is merged last, likewise.
        wanted = (tuple((slot.identity, slot.scale) for slot in slots), control)
        if self._fused == wanted:
            return
        components = model.components
        if self._fused is not None:
            components.transformer = None
            free_memory(model.device)
            components.transformer = load_transformer(components.folder, model.dtype)
        self._fused = _HALF_FUSED
        transformer = components.transformer
        model.applied_loras = tiers.fuse_loras(transformer, slots)
        if control is not None:
            fuse_control_lora(transformer, *control)
        components.transformer = tiers.place_transformer(transformer, model.plan)
        self._speed_up(model)
        self._fused = wanted

    def _load_needs(
        self, task: Task, request: Any, emit: EventCallback, cancel: CancelToken
    ) -> dict[str, Any]:
        loaded: dict[str, Any] = {}
        for name in task.needs:
            if name == FLUX:
                loaded[name] = self._load_with_fallback(model_settings(request), emit, cancel)
                continue
            provider = self._providers.get(name)
            if provider is None:
                provider = self._providers[name] = table.MODELS[name]()
            loaded[name] = provider.load(request, emit, cancel)
        return loaded

    # --- running -------------------------------------------------------------------------------------

    def run(
        self, request: Any, on_event: EventCallback | None = None, cancel: CancelToken | None = None
    ) -> Result:
        """Run any request whose ``kind`` is in the task table (a generation, an edit, a repair…)."""
        emit = on_event or _ignore
        cancel = cancel or CancelToken()
        try:
            result = self._run(request, emit, cancel)
        except DiT360Error as error:
            if isinstance(error, OutOfMemoryError):
                free_memory(self._device())
            emit(FailedEvent(error))
            raise
        except Exception as exc:
            if is_oom(exc):
                free_memory(self._device())
                error = OutOfMemoryError(
                    "The device ran out of memory. Lower the size, or choose a lower memory tier."
                )
                emit(FailedEvent(error))
                raise error from exc
            raise
        emit(DoneEvent(result))
        return result

    def _run(self, request: Any, emit: EventCallback, cancel: CancelToken) -> Result:
        task, request, warnings = _prepare(request)
        self._load_notes = []
        started = time.perf_counter()
        loaded = self._load_needs(task, request, emit, cancel)
        timings = {"loading": time.perf_counter() - started}
        return self._dispatch(loaded, task, request, warnings, emit, cancel, timings)

    def _dispatch(
        self,
        loaded: dict[str, Any],
        task: Task,
        request: Any,
        warnings: list[str],
        emit: EventCallback,
        cancel: CancelToken,
        timings: dict[str, float] | None = None,
    ) -> Result:
        if FLUX in loaded:
            loaded[FLUX].start_run(warnings, timings=timings, notes=self._load_notes)

        def run_inside(inner: Any, inner_emit: EventCallback, inner_cancel: CancelToken) -> Result:
            inner_task, inner, inner_warnings = _prepare(inner)
            missing = [name for name in inner_task.needs if name not in loaded]
            if missing:
                raise RequestError(
                    "kind", f"{inner.kind} needs {', '.join(missing)}, which this task did not load"
                )
            return self._dispatch(loaded, inner_task, inner, inner_warnings, inner_emit, inner_cancel)

        return task.run(Models(loaded, run_inside), request, emit, cancel)

    def decode_latent(
        self,
        latent: torch.Tensor,
        *,
        seamless: bool = True,
        device: str = "auto",
        dtype: str = "auto",
        tier: str = "auto",
    ) -> Image.Image:
        """Decode a saved (1, C, h, w) latent (as written by ``--save-latent``) to a PIL image."""
        model = self.load(device=device, dtype=dtype, tier=tier)
        expected = model.components.vae.config.latent_channels
        if latent.ndim != 4 or latent.shape[0] != 1 or latent.shape[1] != expected:
            raise RequestError("latent", f"must have shape (1, {expected}, h, w); got {tuple(latent.shape)}")
        model.start_run()
        pixels = model.decode(latent, seamless=seamless)
        for note in model.run.notes:
            log.warning(note)
        return Image.fromarray(pixels)


def _prepare(request: Any) -> tuple[Task, Any, list[str]]:
    """The task for a request, the request as it will run (its seed drawn), and its warnings."""
    warnings = request.validate()
    for message in warnings:
        log.warning(message)
    task = table.task_for(request)
    if isinstance(request, GenerationRequest):
        request = request.with_seed()
    return task, request, warnings


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


def _ignore(_event) -> None:
    return None
