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


@dataclass(frozen=True)
class Choice:
    """One value of a choice field, with the words a front end shows for it."""

    value: str
    label: str
    help: str


# Memory tiers (dit360_desktop.core.tiers): "auto" picks one from the device and its free memory. The
# figures are from docs/performance-tiers.md (H100, 2048×1024).
TIER_CHOICES: tuple[Choice, ...] = (
    Choice("auto", "Automatic", "Chosen from the GPU's free memory when the model loads."),
    Choice("full", "Full (≈ 38 GB GPU)", "bf16, everything on the GPU. The fastest."),
    Choice("24gb", "24 GB, full quality", "bf16; a few blocks and T5 stream from RAM. Peak 21.5 GiB."),
    Choice("24gb-fp8", "24 GB, fp8", "fp8-stored transformer and T5 (≈ 1 % different). Peak 20.5 GiB."),
    Choice("12gb", "12–16 GB", "fp8 (or a GGUF file) with block offload. Peak 6.4 GiB."),
    Choice("8gb", "8 GB", "fp8 with leaf offload, or a GGUF file. Peak 6.4 GiB."),
    Choice("apple", "Apple silicon", "fp16/bf16 on the Mac's GPU (MPS)."),
    Choice("cpu", "CPU", "fp32 on the processor: slow but exact."),
)
TIERS = tuple(choice.value for choice in TIER_CHOICES)
# The engine's attention kernels (``speed.py``); here so that the CLI can offer them without torch.
ATTENTION_CHOICES = ("auto", "native", "_native_cudnn", "flash", "_flash_3")
# The engine's "fast draft" step caches (``core/step_cache.py``): diffusers' First-Block Cache, TaylorSeer and
# MagCache. Not exact; off by default.
STEP_CACHE_CHOICES = ("off", "fbc", "taylorseer", "magcache")
# What `--cache` alone and the app's "Fast draft" choose: picked by measurement (docs/performance-tiers.md).
DEFAULT_STEP_CACHE = "magcache"
MIN_SIDE, MAX_SIDE = 64, 8192
MAX_STEPS = 200
MAX_PROMPT_CHARS = 4000
# Masked editing (docs/editing.md): "blend" is ours (seam-aware, kept pixels exact); "reference" is the
# published DiT360 editing.py method (RF inversion + token replacement), reproduced with its quirks.
EDIT_METHODS = ("blend", "reference")
# editing.py's tau: token replacement runs while the timestep (0..1) is above tau/100.
DEFAULT_TAU = 50.0
MAX_FEATHER = 256
# FLUX LoRAs stacked on top of DiT360 (style, or a step-distilled "turbo" LoRA), each with its scale.
MAX_EXTRA_LORAS = 16


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
    # An edit of init_image (a 2:1 panorama): white = regenerate, black = keep, grey = partial.
    mask_image: str | None = None
    edit_method: str = "blend"
    source_prompt: str = ""
    tau: float = DEFAULT_TAU
    feather: int = 8
    # Extra FLUX LoRAs on top of the DiT360 one: (file or PEFT folder, scale) pairs, applied in order.
    extra_loras: tuple[tuple[str, float], ...] = ()
    # "Fast draft": a diffusers step cache (STEP_CACHE_CHOICES); anything but "off" is not exact.
    step_cache: str = "off"
    # Structure control (docs/guides.md): a control image (depth, edges…) read by a FLUX.1 Control LoRA,
    # acting from control_start to control_end (fractions of the steps).
    control_image: str | None = None
    control_lora: str | None = None
    control_scale: float = 1.0
    control_start: float = 0.0
    control_end: float = 1.0
    # A reference image (FLUX.1 Redux, docs/guides.md): its tokens join the prompt's, scaled by the strength
    # (0: none); reference_model is the FLUX.1-Redux-dev folder.
    reference_image: str | None = None
    reference_strength: float = 1.0
    reference_model: str | None = None
    # Regional prompts (docs/guides.md): a REGIONS.json of {prompt, mask}, acting for the first
    # regions_until of the steps.
    regions_file: str | None = None
    regions_until: float = 0.5

    def __post_init__(self) -> None:
        # Stored requests (JSON) hold the pairs as lists or {"path", "scale"} objects; anything else is
        # left as it came for validate() to name.
        object.__setattr__(self, "extra_loras", normalise_extra_loras(self.extra_loras))

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
        _check_parameter(self, "true_cfg_scale")
        for name in ("width", "height"):
            _check_parameter(self, name)
            if getattr(self, name) % 16:
                raise RequestError(name, f"must be a multiple of 16 (got {getattr(self, name)})")
        _check_parameter(self, "steps")
        _check_parameter(self, "guidance")
        if self.seed is not None:
            _check_int(self, "seed", 0, MAX_SEED)
        if self.init_image is not None:
            _check_type(self, "init_image", str)
            if not self.init_image:
                raise RequestError("init_image", "must be a file path or None")
        _check_parameter(self, "strength")
        if self.fit not in FIT_MODES:
            raise RequestError("fit", f"must be one of {', '.join(FIT_MODES)} (got {self.fit!r})")
        if self.lora_path is not None:
            _check_type(self, "lora_path", str)
        _check_parameter(self, "lora_scale")
        if self.dtype not in DTYPES:
            raise RequestError("dtype", f"must be one of {', '.join(DTYPES)} (got {self.dtype!r})")
        if self.device not in DEVICES:
            raise RequestError("device", f"must be one of {', '.join(DEVICES)} (got {self.device!r})")
        if self.tier not in TIERS:
            raise RequestError("tier", f"must be one of {', '.join(TIERS)} (got {self.tier!r})")
        _check_type(self, "seamless_decode", bool)
        _check_type(self, "rewrap_each_step", bool)
        self._validate_extra_loras()
        if self.step_cache not in STEP_CACHE_CHOICES:
            raise RequestError(
                "step_cache", f"must be one of {', '.join(STEP_CACHE_CHOICES)} (got {self.step_cache!r})"
            )
        self._validate_edit()
        self._validate_control()

        warnings = []
        if self.width != 2 * self.height:
            warnings.append(
                f"{self.width}×{self.height} is not 2:1; equirectangular panoramas are twice as wide as tall."
            )
        elif (self.width, self.height) != TRAINED_SIZE:
            warnings.append(f"DiT360 was trained at 2048×1024; {self.width}×{self.height} may look worse.")
        return warnings

    def _validate_edit(self) -> None:
        if self.mask_image is not None:
            _check_type(self, "mask_image", str)
            if not self.mask_image:
                raise RequestError("mask_image", "must be a file path or None")
            if self.init_image is None:
                raise RequestError("init_image", "an edit needs the panorama to edit (mask_image is set)")
            if self.width != 2 * self.height:
                raise RequestError(
                    "width", f"an edit works on a 2:1 panorama; {self.width}×{self.height} is not 2:1"
                )
        if self.edit_method not in EDIT_METHODS:
            raise RequestError(
                "edit_method", f"must be one of {', '.join(EDIT_METHODS)} (got {self.edit_method!r})"
            )
        _check_type(self, "source_prompt", str)
        if len(self.source_prompt) > MAX_PROMPT_CHARS:
            raise RequestError("source_prompt", f"must be at most {MAX_PROMPT_CHARS} characters")
        _check_parameter(self, "tau")
        _check_parameter(self, "feather")

    def _validate_control(self) -> None:
        for name in ("control_image", "control_lora"):
            if getattr(self, name) is not None:
                _check_type(self, name, str)
                if not getattr(self, name):
                    raise RequestError(name, "must be a file path or None")
        if self.control_image is not None and self.control_lora is None:
            raise RequestError("control_lora", "a control image needs a Control LoRA to read it")
        if self.control_lora is not None and self.control_image is None:
            raise RequestError("control_image", "a Control LoRA needs a control image")
        for name in ("control_scale", "control_start", "control_end"):
            _check_parameter(self, name)
        for name in ("reference_image", "reference_model"):
            if getattr(self, name) is not None:
                _check_type(self, name, str)
                if not getattr(self, name):
                    raise RequestError(name, "must be a file path or None")
        if self.reference_image is not None and self.reference_model is None:
            raise RequestError("reference_model", "a reference image needs the FLUX.1-Redux-dev folder")
        _check_parameter(self, "reference_strength")
        if self.regions_file is not None:
            _check_type(self, "regions_file", str)
            if not self.regions_file:
                raise RequestError("regions_file", "must be a file path or None")
        _check_parameter(self, "regions_until")
        if self.control_start >= self.control_end:
            raise RequestError(
                "control_end", f"must be above control_start ({self.control_start} ≥ {self.control_end})"
            )

    def _validate_extra_loras(self) -> None:
        loras = self.extra_loras
        if not isinstance(loras, tuple):
            raise RequestError("extra_loras", f"must be a list of (path, scale) pairs (got {loras!r})")
        if len(loras) > MAX_EXTRA_LORAS:
            raise RequestError("extra_loras", f"must hold at most {MAX_EXTRA_LORAS} LoRAs (got {len(loras)})")
        spec = PARAMETERS["lora_scale"]
        seen = set()
        for index, pair in enumerate(loras):
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise RequestError("extra_loras", f"item {index} must be a (path, scale) pair (got {pair!r})")
            path, scale = pair
            if not isinstance(path, str) or not path.strip():
                raise RequestError("extra_loras", f"item {index}: the path must be a non-empty string")
            if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale != scale:
                raise RequestError("extra_loras", f"item {index}: the scale must be a number (got {scale!r})")
            if not spec.low <= scale <= spec.high:
                raise RequestError(
                    "extra_loras",
                    f"item {index}: the scale must be between {spec.low} and {spec.high} (got {scale})",
                )
            if path in seen:
                raise RequestError("extra_loras", f"item {index}: {path} is listed twice")
            seen.add(path)

    @property
    def is_edit(self) -> bool:
        return self.mask_image is not None

    @property
    def kind(self) -> str:
        """The engine task that runs this request (``core/tasks/table.py``)."""
        if self.mask_image is None:
            return "generate"
        return f"{self.edit_method}-edit"

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
        data = dataclasses.asdict(self)
        data["extra_loras"] = [{"path": path, "scale": scale} for path, scale in self.extra_loras]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """Build from stored metadata, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        if "prompt" not in data:
            raise RequestError("prompt", "is missing from the stored parameters")
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True)
class ParameterSpec:
    """A numeric request field's legal range and how front ends present it (the panel, the CLI's help).

    The default is the dataclass field's own, so it is written once, in ``GenerationRequest``.
    """

    name: str
    low: float
    high: float
    step: float  # one click of a spin box
    decimals: int  # 0: an integer field
    label: str
    help: str
    slider_high: float | None = None  # where a slider ends; the spin box still reaches ``high``

    @property
    def default(self) -> Any:
        return _FIELD_DEFAULTS[self.name]

    @property
    def is_int(self) -> bool:
        return self.decimals == 0


_FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(GenerationRequest)}

PARAMETERS: dict[str, ParameterSpec] = {
    spec.name: spec
    for spec in (
        ParameterSpec("width", MIN_SIDE, MAX_SIDE, 16, 0, "Width", "width in pixels, a multiple of 16"),
        ParameterSpec("height", MIN_SIDE, MAX_SIDE, 16, 0, "Height", "height in pixels, a multiple of 16"),
        ParameterSpec(
            "steps", 1, MAX_STEPS, 1, 0, "Steps",
            "Denoising steps. 28 is the reference; fewer is faster.", slider_high=60,
        ),
        ParameterSpec(
            "guidance", 0.0, 30.0, 0.1, 1, "Guidance",
            "Distilled guidance given to FLUX. 2.8 is the DiT360 reference value.", slider_high=10.0,
        ),
        ParameterSpec(
            "true_cfg_scale", 1.0, 20.0, 0.1, 1, "True CFG",
            "True classifier-free guidance. Above 1 the negative prompt is used and each step\n"
            "runs the model twice (twice as slow). 1 turns it off.", slider_high=8.0,
        ),
        ParameterSpec(
            "lora_scale", -2.0, 4.0, 0.05, 2, "LoRA scale",
            "Strength of the DiT360 LoRA on FLUX. 1 is the trained strength; 0 is plain FLUX.",
            slider_high=2.0,
        ),
        ParameterSpec(
            "strength", 0.01, 1.0, 0.01, 2, "Strength",
            "How much the init image may change: low keeps it, 1 replaces it entirely.",
        ),
        ParameterSpec(
            "tau", 0.0, 100.0, 1.0, 1, "Tau",
            "Reference edit: token replacement runs while the timestep (0-100) is above tau.\n"
            "Lower keeps more of the original; 50 is the published value.",
        ),
        ParameterSpec(
            "feather", 0, MAX_FEATHER, 1, 0, "Feather",
            "Blend edit: width in pixels of the soft edge where the result meets the kept pixels.",
            slider_high=64,
        ),
        ParameterSpec(
            "control_scale", 0.0, 2.0, 0.05, 2, "Control scale",
            "Strength of the Control LoRA. 1 is its trained strength.",
        ),
        ParameterSpec(
            "control_start", 0.0, 0.95, 0.05, 2, "Control from",
            "Fraction of the steps where structure control starts acting.",
        ),
        ParameterSpec(
            "control_end", 0.05, 1.0, 0.05, 2, "Control until",
            "Fraction of the steps where structure control stops acting (1: to the end).",
        ),
        ParameterSpec(
            "reference_strength", 0.0, 2.0, 0.05, 2, "Reference strength",
            "How strongly the reference image steers (FLUX.1 Redux). 0: not at all.",
        ),
        ParameterSpec(
            "regions_until", 0.05, 1.0, 0.05, 2, "Regions until",
            "Fraction of the steps during which regional prompts act; then plain attention.",
        ),
    )
}  # fmt: skip


def normalise_extra_loras(value: Any) -> Any:
    """``extra_loras`` as a tuple of (path, scale) tuples, from lists, pairs or {"path", "scale"} objects.

    A value of another shape is returned unchanged, so that ``validate()`` names the field.
    """
    if not isinstance(value, list | tuple):
        return value
    pairs = []
    for item in value:
        if isinstance(item, dict) and set(item) <= {"path", "scale"} and "path" in item:
            pairs.append((item["path"], item.get("scale", 1.0)))
        elif isinstance(item, list | tuple) and len(item) == 2:
            pairs.append(tuple(item))
        else:
            return value if isinstance(value, tuple) else tuple(value)
    return tuple(pairs)


def _check_parameter(request: GenerationRequest, name: str) -> None:
    spec = PARAMETERS[name]
    if spec.is_int:
        _check_int(request, name, int(spec.low), int(spec.high))
    else:
        _check_range(request, name, spec.low, spec.high)


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
