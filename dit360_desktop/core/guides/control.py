"""Structure control with FLUX.1 Control LoRAs (Depth, Canny): a control image steers the layout.

A Control LoRA widens the transformer's input projection (``x_embedder``) to twice the latent channels;
each step the control image's latents are concatenated to the state on the channel axis, as diffusers'
``FluxControlPipeline`` does. Loading, the widening of ``x_embedder``, the BFL→diffusers key conversion
and the norm-scale layers are diffusers' own (``FluxLoraLoaderMixin.load_lora_weights``); unloading is
its ``unload_lora_weights(reset_to_overwritten_params=True)``. The memory tiers that merge LoRAs into the
weights (fp8 storage or compute, streaming, ``--fuse-lora``) merge the Control LoRA as well
(``fuse_control_lora``, called by the engine's fused path); there it acts on every step.

The control latents are packed and wrap-padded by the same function as the image latents
(``LoadedModel.padded_tokens``), so the pad columns of both halves copy the same columns.

Outside ``control_start``..``control_end`` (fractions of the steps) the control does not act: its
adapter's scale is 0 and the control half of the input is zeros, so the input projection sees exactly
the base weights (diffusers widens them with zero columns). The Control LoRA's norm scales, which
diffusers writes into the transformer itself, stay while it is loaded.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from dit360_desktop.core.geometry import LatentGeometry
from dit360_desktop.core.lora_stack import AppliedLora, LoraSlot, LoraStack
from dit360_desktop.core.sampler import DenoiseHook, StepInfo
from dit360_desktop.panorama.errors import LoraMismatchError, RequestError
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.userimage import fit_image, load_user_image

log = logging.getLogger(__name__)

CONTROL_ADAPTER = "control"
# A picture whose aspect is further than this from the panorama's is refused rather than fitted: a crop
# would keep less than a quarter of it and a pad would leave three quarters of the control empty.
MAX_ASPECT_MISMATCH = 4.0


def _loader(transformer):
    """diffusers' Flux LoRA loader around our transformer, as a pipeline with only that component."""
    from diffusers.loaders import FluxLoraLoaderMixin

    class _TransformerOnly(FluxLoraLoaderMixin):
        def __init__(self) -> None:
            self.transformer = transformer
            self.text_encoder = None
            # Read by diffusers' offload check; our tiers place modules themselves.
            self.hf_device_map = None
            self.components = {"transformer": transformer}

    return _TransformerOnly()


def _read_state_dict(path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    from diffusers.loaders import FluxLoraLoaderMixin
    from safetensors.torch import load_file

    from dit360_desktop.core.loading import check_weight_file, lora_weight_file

    path = Path(path).expanduser()
    if not path.exists():
        raise RequestError("control_lora", f"{path} does not exist")
    file = lora_weight_file(path)
    check_weight_file(file)
    raw = load_file(str(file))
    try:
        state_dict = FluxLoraLoaderMixin.lora_state_dict(dict(raw))
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, RuntimeError) as e:
        raise LoraMismatchError(
            f"The Control LoRA {file.name} is not in a FLUX Control LoRA layout diffusers can read "
            f"({type(e).__name__}: {e}). Is it FLUX.1-Depth-dev-lora or FLUX.1-Canny-dev-lora?"
        ) from e
    return file, state_dict


def check_fits(transformer, state_dict: dict[str, torch.Tensor], file: Path) -> int:
    """Refuse a Control LoRA made for another base model before anything on the transformer changes.

    Returns its rank. Every LoRA pair must sit on a Linear of the transformer with the same output size
    and the same input size, except ``x_embedder``, whose input is twice the model's (image + control).
    """
    modules = dict(transformer.named_modules())
    if "transformer.x_embedder.lora_A.weight" not in state_dict:
        raise LoraMismatchError(
            f"{file.name} is not a Control LoRA: it does not widen the input projection (x_embedder)."
        )
    rank = 0
    for key, tensor in state_dict.items():
        if not key.endswith(".lora_A.weight"):
            continue
        name = key.removeprefix("transformer.").removesuffix(".lora_A.weight")
        module = modules.get(name)
        layer = getattr(module, "base_layer", module)
        b_key = key.replace(".lora_A.", ".lora_B.")
        # Loaded only onto a plain transformer (a previous Control LoRA is unloaded first).
        wanted_in = getattr(layer, "in_features", 0) * (2 if name == "x_embedder" else 1)
        if (
            not isinstance(layer, torch.nn.Linear)
            or b_key not in state_dict
            or tensor.shape[1] != wanted_in
            or state_dict[b_key].shape[0] != layer.out_features
        ):
            raise LoraMismatchError(
                f"The Control LoRA {file.name} was made for another base model: its layer {name} does "
                "not fit this FLUX.1-dev transformer. Use the FLUX.1 [dev] Depth or Canny Control LoRA."
            )
        rank = max(rank, tensor.shape[0])
    norms = {k: v for k, v in state_dict.items() if ".norm_" in k and "lora" not in k}
    params = dict(transformer.named_parameters())
    for key, tensor in norms.items():
        name = key.removeprefix("transformer.")
        if name not in params or params[name].shape != tensor.shape:
            raise LoraMismatchError(
                f"The Control LoRA {file.name} was made for another base model: its norm {name} does "
                "not fit this FLUX.1-dev transformer."
            )
    return rank


class ControlLora:
    """The Control LoRA on one transformer, beside the ``LoraStack``'s adapters (at most one loaded)."""

    def __init__(self) -> None:
        self.path: Path | None = None

    def forget(self) -> None:
        self.path = None

    def apply(
        self,
        transformer,
        request: GenerationRequest,
        stack: LoraStack,
        slots: Sequence[LoraSlot],
    ) -> None:
        """Load, swap or drop the request's Control LoRA, then activate it with the stack's adapters (the
        tiers that keep LoRAs unfused; the others merge it: ``fuse_control_lora``)."""
        wanted = Path(request.control_lora).expanduser().resolve() if request.control_lora else None
        if self.path is not None and self.path != wanted:
            self.unload(transformer, stack, slots)
        if wanted is not None and self.path is None:
            self.load(transformer, wanted)
        if self.path is not None:
            self.set_scale(transformer, stack, request.control_scale)

    def load(self, transformer, path: Path) -> None:
        from dit360_desktop.core.loading import refresh_group_offload

        file, state_dict = _read_state_dict(path)
        check_fits(transformer, state_dict, file)
        _load_adapter(transformer, state_dict)
        refresh_group_offload(transformer)
        self.path = path
        log.info(
            "Control LoRA %s loaded; x_embedder takes %d channels", file.name, transformer.config.in_channels
        )

    def unload(self, transformer, stack: LoraStack, slots: Sequence[LoraSlot]) -> None:
        # diffusers' unload drops every adapter and restores x_embedder and the norms; the stack's
        # adapters are then attached again.
        _loader(transformer).unload_lora_weights(reset_to_overwritten_params=True)
        self.path = None
        stack.forget()
        stack.apply(transformer, list(slots))

    @staticmethod
    def set_scale(transformer, stack: LoraStack, scale: float) -> None:
        applied: list[AppliedLora] = stack.applied
        names = [a.info.adapter_name for a in applied] + [CONTROL_ADAPTER]
        weights = [a.scale for a in applied] + [float(scale)]
        transformer.set_adapters(names, weights=weights)


def fused_control(request: GenerationRequest) -> tuple[Path, float] | None:
    """(file, scale) of the Control LoRA to merge in a tier that fuses LoRAs (fp8 storage, fp8 compute,
    streaming, ``--fuse-lora``), or None. Merged, it acts on every step: a step range is refused."""
    if request.control_lora is None:
        return None
    if (request.control_start, request.control_end) != (0.0, 1.0):
        raise RequestError(
            "control_end" if request.control_end != 1.0 else "control_start",
            "this memory tier merges LoRAs into the transformer's weights (fp8 storage, fp8 compute, "
            "streaming or --fuse-lora), so the Control LoRA acts on every step there; use the range 0:1, "
            "or a tier that keeps LoRAs separate (full, cpu, apple, or a GGUF file) without --fuse-lora",
        )
    return Path(request.control_lora).expanduser().resolve(), float(request.control_scale)


def fuse_control_lora(transformer, path: Path, scale: float) -> None:
    """Merge a Control LoRA at ``scale`` into a transformer's (not yet cast or placed) weights, after the
    stack's LoRAs were merged: diffusers widens ``x_embedder`` and writes the norm scales as when
    loading it unfused, then ``fuse_lora`` adds the deltas and the PEFT layers go."""
    file, state_dict = _read_state_dict(path)
    check_fits(transformer, state_dict, file)
    _load_adapter(transformer, state_dict)
    transformer.set_adapters([CONTROL_ADAPTER], weights=[float(scale)])
    transformer.fuse_lora(lora_scale=1.0, adapter_names=[CONTROL_ADAPTER])
    transformer.unload_lora()
    log.info("Control LoRA %s merged at scale %g", file.name, scale)


def _load_adapter(transformer, state_dict: dict[str, torch.Tensor]) -> None:
    from diffusers.utils import logging as diffusers_logging

    # diffusers warns that the (absent) text encoder got no LoRA keys; a Control LoRA has none.
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            _loader(transformer).load_lora_weights(state_dict, adapter_name=CONTROL_ADAPTER)
    finally:
        diffusers_logging.set_verbosity(verbosity)


def fitted_control_image(request: GenerationRequest, notes: list[str]):
    """The control picture at the request's size; a picture of another aspect is fitted (with a note) or
    refused when fitting would lose most of it."""
    picture = load_user_image(request.control_image)
    width, height = picture.size
    ratio = (width / height) / (request.width / request.height)
    if max(ratio, 1 / ratio) > MAX_ASPECT_MISMATCH:
        raise RequestError(
            "control_image",
            f"is {width}×{height}, too far from the panorama's {request.width}×{request.height} to be "
            "fitted; give an equirectangular (2:1) control image",
        )
    if abs(ratio - 1) > 0.01:
        notes.append(
            f"The control image ({width}×{height}) is not {request.width}:{request.height}; it was fitted "
            f"by {request.fit}."
        )
        # Said now as well as in the result's warnings: the command line shows logged warnings.
        log.warning("%s", notes[-1])
    return fit_image(picture, request.width, request.height, request.fit)


class ControlHook(DenoiseHook):
    """Concatenates the padded control latents to the state each step, and switches the control adapter
    off outside the step range."""

    def __init__(self, control: torch.Tensor, request: GenerationRequest, set_scale) -> None:
        self.control = control
        self.zeros = torch.zeros_like(control)
        self.start = request.control_start
        self.end = request.control_end
        self.scale = request.control_scale
        self.set_scale = set_scale
        self.active = True

    def attach(self, transformer):
        @contextlib.contextmanager
        def restore():
            try:
                yield
            finally:
                if not self.active:
                    self.set_scale(self.scale)

        return restore()

    def before_step(self, step: StepInfo, tokens: torch.Tensor) -> None:
        fraction = step.index / step.total
        active = self.start <= fraction < self.end
        if active != self.active:
            self.set_scale(self.scale if active else 0.0)
            self.active = active

    def model_input(self, tokens: torch.Tensor) -> torch.Tensor:
        control = self.control if self.active else self.zeros
        return torch.cat([tokens, control.expand(tokens.shape[0], -1, -1)], dim=2)


def control_hook(
    model, request: GenerationRequest, geometry: LatentGeometry, dtype: torch.dtype
) -> ControlHook:
    """The control image encoded by the VAE (scaled and shifted), packed and wrap-padded like the state."""
    picture = fitted_control_image(request, model.run.notes)
    latent = model.encode_image(picture, seamless=request.seamless_decode)
    tokens = model.padded_tokens(latent.to(dtype), geometry)
    transformer = model.components.transformer
    stack_scales = [(a.info.adapter_name, a.scale) for a in model.applied_loras]

    def set_scale(scale: float) -> None:
        names = [name for name, _ in stack_scales] + [CONTROL_ADAPTER]
        transformer.set_adapters(names, weights=[s for _, s in stack_scales] + [float(scale)])

    return ControlHook(tokens, request, set_scale)
