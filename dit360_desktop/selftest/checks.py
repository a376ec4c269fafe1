"""Self-test checks: each takes a ``CheckContext`` and returns a one-line detail, or raises CheckFailed."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dit360_desktop.panorama.errors import DiT360Error


class CheckFailed(DiT360Error):
    """A self-test check found a problem; the message names what is missing or broken."""


@dataclass
class CheckContext:
    gui: bool = False
    require_gl: bool = False
    resources_dir: Path | None = None
    model_dir: Path | None = None
    device: str = "auto"
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float
    facts: dict[str, Any]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "facts": self.facts,
            "error": self.error,
        }


def run_check(name: str, check: Callable[[CheckContext], str], context: CheckContext) -> CheckResult:
    """Run one check; any exception fails it with the error text (a self-test must report, not crash)."""
    context.facts = {}
    started = time.perf_counter()
    try:
        detail = check(context)
    except CheckFailed as error:
        return CheckResult(name, False, str(error), time.perf_counter() - started, context.facts, None)
    except Exception as error:
        return CheckResult(
            name,
            False,
            f"{type(error).__name__}: {error}",
            time.perf_counter() - started,
            context.facts,
            traceback.format_exc(),
        )
    return CheckResult(name, True, detail, time.perf_counter() - started, context.facts)


# Modules that the product imports, directly or lazily. diffusers and transformers resolve their public
# names on first attribute access, which is exactly what breaks in frozen builds, so names are resolved too.
REQUIRED_MODULES = (
    "numpy",
    "PIL.Image",
    "PIL.PngImagePlugin",
    "PIL.JpegImagePlugin",
    "torch",
    "safetensors.torch",
    "tokenizers",
    "sentencepiece",
    "google.protobuf",
    "huggingface_hub",
    "accelerate",
    "peft",
    "diffusers",
    "transformers",
    "platformdirs",
    "psutil",
    "send2trash",
    "OpenGL.GL",
    "PySide6.QtCore",
    "PySide6.QtGui",
    "PySide6.QtWidgets",
    "PySide6.QtOpenGL",
)
LAZY_NAMES = {
    "diffusers": (
        "FluxTransformer2DModel",
        "AutoencoderKL",
        "FlowMatchEulerDiscreteScheduler",
        "FluxPipeline",
    ),
    "transformers": (
        "CLIPTextModel",
        "CLIPTokenizer",
        "CLIPTokenizerFast",
        "T5EncoderModel",
        "T5TokenizerFast",
    ),
    "peft": ("LoraConfig", "set_peft_model_state_dict"),
}
OPTIONAL_MODULES = ("gguf",)


def check_imports(context: CheckContext) -> str:
    failures: list[str] = []
    for name in REQUIRED_MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:
            failures.append(f"{name} ({type(error).__name__}: {error})")
    for module_name, names in LAZY_NAMES.items():
        if module_name not in sys.modules:
            continue
        module = sys.modules[module_name]
        for attr in names:
            try:
                getattr(module, attr)
            except Exception as error:
                failures.append(f"{module_name}.{attr} ({type(error).__name__}: {error})")
    own = _import_own_modules(failures)
    optional = {}
    for name in OPTIONAL_MODULES:
        try:
            importlib.import_module(name)
            optional[name] = True
        except ImportError:
            optional[name] = False
    versions = _versions()
    context.facts.update({"own_modules": own, "optional": optional, "versions": versions})
    if failures:
        raise CheckFailed("could not import " + "; ".join(failures))
    return f"{len(REQUIRED_MODULES)} libraries and {len(own)} app modules import; " + ", ".join(
        f"{key} {value}" for key, value in versions.items()
    )


def _import_own_modules(failures: list[str]) -> list[str]:
    import dit360_desktop

    names = []
    for info in pkgutil.walk_packages(dit360_desktop.__path__, "dit360_desktop.", onerror=failures.append):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
            names.append(info.name)
        except Exception as error:
            failures.append(f"{info.name} ({type(error).__name__}: {error})")
    return names


def _versions() -> dict[str, str]:
    import diffusers
    import PySide6
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "mps_built": str(torch.backends.mps.is_built()),
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "PySide6": PySide6.__version__,
    }


def check_resources(context: CheckContext) -> str:
    from dit360_desktop import paths
    from dit360_desktop.selftest import resource_scan

    target = context.resources_dir or paths.resources_dir()
    manifest = _load_manifest(resource_scan)
    problems = resource_scan.find_problems(manifest, target)
    context.facts.update(
        {
            "resources_dir": str(target),
            "referenced": len(manifest["referenced"]),
            "files": len(manifest["files"]),
            "problems": problems,
        }
    )
    if problems:
        raise CheckFailed("; ".join(problems))
    files, refs = len(manifest["files"]), len(manifest["referenced"])
    return f"{files} files and {refs} code references present in {target}"


def _load_manifest(resource_scan: Any) -> dict:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        path = Path(frozen_root) / resource_scan.MANIFEST_NAME
        if not path.is_file():
            raise CheckFailed(f"the bundle has no resource manifest ({path}); rebuild the bundle")
        return json.loads(path.read_text(encoding="utf-8"))
    from dit360_desktop import paths

    package_dir = Path(__file__).resolve().parent.parent
    return resource_scan.build_manifest(package_dir, paths.resources_dir())


def check_user_dirs(context: CheckContext) -> str:
    """Settings, data, caches and models must live outside the install folder so updates never touch them."""
    from dit360_desktop import paths

    install_root = _install_root()
    locations = {
        "config": paths.config_dir(),
        "data": paths.data_dir(),
        "cache": paths.cache_dir(),
        "logs": paths.log_dir(),
        "models": paths.default_models_dir(),
        "library": paths.default_library_dir(),
    }
    context.facts.update({key: str(value) for key, value in locations.items()})
    context.facts["install_root"] = str(install_root)
    inside = [key for key, value in locations.items() if _is_within(value, install_root)]
    if inside:
        raise CheckFailed(f"user folders inside the install folder {install_root}: {', '.join(inside)}")
    return f"user folders are outside the install folder {install_root}"


def _install_root() -> Path:
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    # From source: the folder holding the dit360_desktop package (a checkout or site-packages).
    return Path(__file__).resolve().parent.parent.parent


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.expanduser().resolve().relative_to(root)
    except ValueError:
        return False
    return True


def check_qt(context: CheckContext) -> str:
    from dit360_desktop.selftest.qt_probe import run_probe

    outcome = run_probe(gui=context.gui, require_gl=context.require_gl)
    context.facts.update(outcome.facts)
    if not outcome.ok:
        raise CheckFailed(outcome.summary)
    return outcome.summary


def check_generation(context: CheckContext) -> str:
    import numpy as np

    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.panorama.request import MIN_SIDE, PANORAMA_PREFIX, GenerationRequest

    # The smallest legal 2:1 panorama; the request validator sets the floor.
    height = max(MIN_SIDE, 128)
    with tempfile.TemporaryDirectory(prefix="dit360-selftest-") as scratch:
        if context.model_dir:
            model_dir, lora_dir = context.model_dir, None
        else:
            model_dir, lora_dir = _build_tiny_model(Path(scratch))
        request = GenerationRequest(
            prompt=f"{PANORAMA_PREFIX} A lighthouse on a cliff above the sea.",
            width=2 * height,
            height=height,
            steps=2,
            seed=0,
            lora_path=str(lora_dir) if lora_dir else None,
            device=context.device,
        )
        events: list[str] = []
        engine = PanoramaEngine(model_dir)
        started = time.perf_counter()
        result = engine.run(request, on_event=lambda event: events.append(type(event).__name__))
        seconds = time.perf_counter() - started
        device = engine.device_name
        text = engine.text_encoder
        tokenizer_problems = [
            _tokenizer_problem(label, tokenizer)
            for label, tokenizer in (("CLIP", text.tokenizer), ("T5", text.tokenizer_2))
        ]
        engine.unload()
    pixels = np.asarray(result.image.convert("RGB"), dtype=np.float32)
    context.facts.update(
        {
            "model_dir": str(model_dir) if context.model_dir else "tiny random-weight FLUX in a temp dir",
            "lora": request.lora_path is not None,
            "device": device,
            "size": list(result.image.size),
            "seconds": round(seconds, 3),
            "events": sorted(set(events)),
            "pixel_std": float(pixels.std()),
            "seed": result.metadata.get("seed"),
        }
    )
    tokenizer_problems = [problem for problem in tokenizer_problems if problem]
    if tokenizer_problems:
        raise CheckFailed("; ".join(tokenizer_problems))
    if result.image.size != (request.width, request.height):
        raise CheckFailed(f"the image is {result.image.size}, expected {(request.width, request.height)}")
    if not np.isfinite(pixels).all() or float(pixels.std()) == 0.0:
        raise CheckFailed("the generated image is blank (a single flat colour)")
    if result.metadata.get("seed") != 0:
        raise CheckFailed(f"the result metadata reports seed {result.metadata.get('seed')!r}, expected 0")
    if "StepEvent" not in events:
        raise CheckFailed("the engine reported no denoising steps")
    lora = " with a LoRA" if request.lora_path else ""
    return f"{request.width}×{request.height}, {request.steps} steps{lora} on {device} in {seconds:.1f} s"


# Lower-case words that both the real FLUX tokenizers and the tiny test ones can spell.
_TOKENIZER_PROBE = "this is a panorama image of a lighthouse on a cliff above the sea"


def _tokenizer_problem(label: str, tokenizer: Any) -> str | None:
    """A tokenizer that lost its vocabulary files still loads (as all-unknown); a round trip exposes it."""
    ids = tokenizer(_TOKENIZER_PROBE, add_special_tokens=False).input_ids
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    if re.sub(r"\W+", "", decoded.lower()) == re.sub(r"\W+", "", _TOKENIZER_PROBE):
        return None
    return (
        f"the {label} tokenizer cannot spell plain English ({type(tokenizer).__name__}, "
        f"{len(tokenizer)} tokens; decoded {decoded[:60]!r}): its tokenizer files are missing or broken"
    )


def _build_tiny_model(scratch: Path) -> tuple[Path, Path]:
    """A tiny FLUX folder and a PEFT LoRA in DiT360's layout, so the LoRA loading path runs too."""
    from dit360_desktop.testing.tiny_flux import build_tiny_flux, build_tiny_lora

    model = build_tiny_flux(scratch / "tiny-flux")
    return model, build_tiny_lora(scratch / "tiny-lora", model / "transformer")


CHECKS: tuple[tuple[str, Callable[[CheckContext], str]], ...] = (
    ("imports", check_imports),
    ("resources", check_resources),
    ("user_dirs", check_user_dirs),
    ("qt", check_qt),
    ("generation", check_generation),
)
