"""The generation request: every parameter of one panorama, validated before any work starts."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any

from dit360_desktop.panorama.errors import RequestError

PANORAMA_PREFIX = "This is a panorama image."
TRAINED_SIZE = (2048, 1024)
MAX_SEED = 2**32 - 1
FIT_MODES = ("crop", "pad", "stretch")
DTYPES = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")
# Memory tiers (dit360_desktop.core.tiers): "auto" picks one from the device and its free memory.
TIERS = ("auto", "full", "24gb", "24gb-fp8", "12gb", "8gb", "apple", "cpu")
# The engine's attention kernels (``speed.py``); here so that the CLI can offer them without torch.
ATTENTION_CHOICES = ("auto", "native", "_native_cudnn", "flash", "_flash_3")
MIN_SIDE, MAX_SIDE = 64, 8192
MAX_STEPS = 200
MAX_PROMPT_CHARS = 4000


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str = ""
    true_cfg_scale: float = 1.0
    width: int = TRAINED_SIZE[0]
    height: int = TRAINED_SIZE[1]
    steps: int = 28
    guidance: float = 2.8
    seed: int | None = None
    init_image: str | None = None
    strength: float = 0.8
    fit: str = "crop"
    lora_path: str | None = None
    lora_scale: float = 1.0
    dtype: str = "auto"
    device: str = "auto"
    seamless_decode: bool = True
    rewrap_each_step: bool = False
    tier: str = "auto"

    def validate(self) -> list[str]:
        """Raise ``RequestError`` for the first bad field; return warnings for legal but unusual values."""
        _check_type(self, "prompt", str)
        if not self.prompt.strip():
            raise RequestError("prompt", "must not be empty")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise RequestError("prompt", f"must be at most {MAX_PROMPT_CHARS} characters")
        _check_type(self, "negative_prompt", str)
        if len(self.negative_prompt) > MAX_PROMPT_CHARS:
            raise RequestError("negative_prompt", f"must be at most {MAX_PROMPT_CHARS} characters")
        _check_range(self, "true_cfg_scale", 1.0, 20.0)
        for name in ("width", "height"):
            _check_int(self, name, MIN_SIDE, MAX_SIDE)
            if getattr(self, name) % 16:
                raise RequestError(name, f"must be a multiple of 16 (got {getattr(self, name)})")
        _check_int(self, "steps", 1, MAX_STEPS)
        _check_range(self, "guidance", 0.0, 30.0)
        if self.seed is not None:
            _check_int(self, "seed", 0, MAX_SEED)
        if self.init_image is not None:
            _check_type(self, "init_image", str)
            if not self.init_image:
                raise RequestError("init_image", "must be a file path or None")
        _check_range(self, "strength", 0.01, 1.0)
        if self.fit not in FIT_MODES:
            raise RequestError("fit", f"must be one of {', '.join(FIT_MODES)} (got {self.fit!r})")
        if self.lora_path is not None:
            _check_type(self, "lora_path", str)
        _check_range(self, "lora_scale", -2.0, 4.0)
        if self.dtype not in DTYPES:
            raise RequestError("dtype", f"must be one of {', '.join(DTYPES)} (got {self.dtype!r})")
        if self.device not in DEVICES:
            raise RequestError("device", f"must be one of {', '.join(DEVICES)} (got {self.device!r})")
        if self.tier not in TIERS:
            raise RequestError("tier", f"must be one of {', '.join(TIERS)} (got {self.tier!r})")
        _check_type(self, "seamless_decode", bool)
        _check_type(self, "rewrap_each_step", bool)

        warnings = []
        if self.width != 2 * self.height:
            warnings.append(
                f"{self.width}×{self.height} is not 2:1; equirectangular panoramas are twice as wide as tall."
            )
        elif (self.width, self.height) != TRAINED_SIZE:
            warnings.append(f"DiT360 was trained at 2048×1024; {self.width}×{self.height} may look worse.")
        return warnings

    @property
    def uses_true_cfg(self) -> bool:
        return self.true_cfg_scale > 1.0 and bool(self.negative_prompt.strip())

    @property
    def is_img2img(self) -> bool:
        return self.init_image is not None

    def with_seed(self) -> GenerationRequest:
        """Return a copy whose seed is fixed, drawing one if the request asked for a random seed."""
        if self.seed is not None:
            return self
        return dataclasses.replace(self, seed=secrets.randbelow(MAX_SEED + 1))

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """Build from stored metadata, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        if "prompt" not in data:
            raise RequestError("prompt", "is missing from the stored parameters")
        return cls(**{key: value for key, value in data.items() if key in known})


def _check_type(request: GenerationRequest, name: str, kind: type) -> None:
    value = getattr(request, name)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise RequestError(name, f"must be of type {kind.__name__} (got {type(value).__name__})")


def _check_int(request: GenerationRequest, name: str, low: int, high: int) -> None:
    _check_type(request, name, int)
    value = getattr(request, name)
    if not low <= value <= high:
        raise RequestError(name, f"must be between {low} and {high} (got {value})")


def _check_range(request: GenerationRequest, name: str, low: float, high: float) -> None:
    value = getattr(request, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise RequestError(name, f"must be a number between {low} and {high} (got {value!r})")
    if not low <= value <= high:
        raise RequestError(name, f"must be between {low} and {high} (got {value})")
