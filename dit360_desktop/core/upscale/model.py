"""Super-resolution networks from safetensors files, through spandrel's architecture registry.

spandrel (the library ComfyUI and chaiNNer use) recognises the architecture from the state dict's keys and
shapes and builds the matching module; nothing here describes a network. Only safetensors are accepted:
the file is checked before a byte of it is loaded, and spandrel is handed a state dict, never a path it
could unpickle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dit360_desktop.core.devices import resolve_device
from dit360_desktop.panorama.errors import ModelInvalidError, ModelMissingError, UnsafeFileError
from dit360_desktop.panorama.features import FeatureUnavailableError, unavailable_message
from dit360_desktop.panorama.safetensors_check import check_safetensors_file

log = logging.getLogger(__name__)


class UpscalerUnavailableError(FeatureUnavailableError):
    """spandrel (the ``upscale`` extra) is not installed; the app checks ``features.require("upscale")``
    before queueing, so this is the last line for a caller that did not."""


@dataclass
class SuperResolution:
    """A loaded SR network: ``module`` maps (N, 3, h, w) RGB in 0…1 to (N, 3, s·h, s·w)."""

    module: torch.nn.Module
    scale: int
    architecture: str
    path: Path
    device: torch.device
    dtype: torch.dtype
    # Input sides must be multiples of this (window-attention architectures), and at least ``minimum``.
    multiple_of: int = 1
    minimum: int = 1
    square: bool = False

    # The context a tile needs (source pixels), measured once per model (``context_margin``).
    _margin: int | None = field(default=None, repr=False, compare=False)

    @torch.inference_mode()
    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        out = self.module(pixels.to(self.device, self.dtype))
        return out.float()

    def context_margin(self) -> int:
        """The tile margin that covers this network's receptive field (at most ``MAX_MARGIN``)."""
        if self._margin is None:
            self._margin = receptive_radius(
                self.module, self.scale, device=self.device, dtype=self.dtype,
                multiple_of=self.multiple_of, minimum=self.minimum,
            )  # fmt: skip
            log.info("%s reads %d px around each pixel: the tile margin", self.path.name, self._margin)
        return self._margin


MAX_MARGIN = 96


def receptive_radius(
    module: torch.nn.Module,
    scale: int,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    multiple_of: int = 1,
    minimum: int = 1,
    limit: int = MAX_MARGIN,
) -> int:
    """How many source pixels around a pixel the network's output there depends on, measured: the
    gradient of one output pixel with respect to a random input is non-zero exactly inside its receptive
    field (convolutions, activations and pixel shuffles have no other reach). Capped at ``limit``: a
    network that reads further (a deep RRDB) gets ``limit``, where the far context barely matters.

    Real-ESRGAN Compact with 32 hidden convolutions (the catalog's realesr-general-x4v3) reads 34 px:
    its first and last convolutions plus the 32 between them, one pixel each.
    """
    side = 2 * limit + 1
    side = -(-max(side, minimum) // multiple_of) * multiple_of
    centre = side // 2
    probe = torch.rand((1, 3, side, side), generator=torch.Generator().manual_seed(0))
    probe = probe.to(device, dtype).requires_grad_(True)
    with torch.enable_grad():
        out = module(probe)
        pixel = centre * scale + scale // 2
        out[0, :, pixel, pixel].float().sum().backward()
    reach = probe.grad[0].abs().sum(0) > 0
    rows, cols = torch.nonzero(reach, as_tuple=True)
    if rows.numel() == 0:
        return 0
    radius = int(max((rows - centre).abs().max(), (cols - centre).abs().max()))
    return min(radius, limit)


def load_sr_model(path: str | Path, *, device: str = "auto", half: bool | None = None) -> SuperResolution:
    """Load a spandrel-supported super-resolution model from a ``.safetensors`` file."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelMissingError(f"The super-resolution model {path} does not exist.")
    if path.suffix.lower() != ".safetensors":
        raise UnsafeFileError(
            f"{path.name} is not a .safetensors file. Only safetensors super-resolution models are loaded "
            "(pickle checkpoints such as .pth can run code); convert it, or pick a safetensors release."
        )
    check_safetensors_file(path)
    try:
        from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError
    except ImportError as e:
        log.info("spandrel cannot be imported (the 'upscale' extra): %s", e)
        raise UpscalerUnavailableError(unavailable_message("upscale")) from e
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
        descriptor = ModelLoader().load_from_state_dict(state)
    except UnsupportedModelError as e:
        raise ModelInvalidError(
            f"{path.name} is not a super-resolution architecture spandrel knows (ESRGAN, Real-ESRGAN "
            "Compact, SwinIR, HAT, SPAN, …)."
        ) from e
    except (RuntimeError, ValueError, KeyError) as e:
        raise ModelInvalidError(f"{path.name} could not be loaded as a super-resolution model: {e}") from e
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.purpose != "SR":
        raise ModelInvalidError(
            f"{path.name} is a {getattr(descriptor, 'purpose', 'non-image')} model "
            f"({descriptor.architecture.name}), not a super-resolution one."
        )
    if descriptor.scale < 2 or descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise ModelInvalidError(
            f"{path.name} upscales ×{descriptor.scale} from {descriptor.input_channels} to "
            f"{descriptor.output_channels} channels; an RGB model of ×2 or more is needed."
        )
    target = resolve_device(device)
    use_half = half if half is not None else target.type == "cuda"
    dtype = torch.float16 if use_half and descriptor.supports_half else torch.float32
    descriptor.to(target)
    module = descriptor.model.to(target, dtype).eval()
    requirements = descriptor.size_requirements
    log.info(
        "Loaded %s ×%d (%s) on %s as %s",
        path.name,
        descriptor.scale,
        descriptor.architecture.name,
        target,
        dtype,
    )
    return SuperResolution(
        module=module,
        scale=int(descriptor.scale),
        architecture=descriptor.architecture.name,
        path=path,
        device=target,
        dtype=dtype,
        multiple_of=max(1, int(requirements.multiple_of)),
        minimum=max(1, int(requirements.minimum)),
        square=bool(requirements.square),
    )
