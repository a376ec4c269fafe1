"""What goes into the frozen bundle: data, hidden imports, package metadata and exclusions.

Kept out of ``dit360.spec`` so that the packaging tests can import the exact lists the spec uses
(``tests/packaging``) without running PyInstaller.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

APP_NAME = "DiT360 Desktop"
GUI_EXE = "dit360-desktop"
CLI_EXE = "dit360"
BUNDLE_ID = "org.dit360.desktop"
REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO_ROOT / "dit360_desktop"
RESOURCES_DIR = REPO_ROOT / "resources"
TORCH_FLAVOURS = ("cpu", "cuda", "mps")

# transformers and diffusers check these distributions' metadata (importlib.metadata) at import time and
# refuse to run without it; PyInstaller only copies metadata when told. The spec also copies the metadata of
# every installed requirement of dit360-desktop, recursively; this list names the ones that must be there.
METADATA_PACKAGES = (
    "torch",
    "transformers",
    "diffusers",
    "tokenizers",
    "safetensors",
    "huggingface_hub",
    "peft",
    "accelerate",
    "numpy",
    "tqdm",
    "regex",
    "requests",
    "filelock",
    "packaging",
    "pyyaml",
    "pillow",
    "sentencepiece",
    "protobuf",
    "psutil",
    "platformdirs",
    "fsspec",
    "dit360-desktop",
)

# Model families the app loads. transformers/diffusers import model code lazily by name, which static
# analysis cannot see; every other model family is left out (thousands of modules). Besides these, the
# families that importing the classes below pulls in are kept (FluxPipeline, used for LoRA loading,
# reaches into a few more), found by importing them at build time.
# Depth Anything V2 (depth, 3D and stereo) is a DINOv2 backbone with a DPT head and DPT's image processor.
TRANSFORMERS_MODELS = ("auto", "clip", "t5", "depth_anything", "dinov2", "dpt")
DIFFUSERS_PIPELINES = ("flux",)
RUNTIME_IMPORTS = (
    "from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler",
    "from diffusers import FluxPipeline, FluxTransformer2DModel",
    "from transformers import CLIPTextModel, CLIPTokenizer, CLIPTokenizerFast",
    "from transformers import T5EncoderModel, T5TokenizerFast",
    "from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation, DPTImageProcessor",
)
_FAMILY_PARENTS = ("transformers.models.", "diffusers.pipelines.")

# Qt modules the app does not use. PySide6-Essentials has no WebEngine; the rest would only arrive through
# an accidental import and would drag in QML/Quick plugins and libraries.
QT_EXCLUDES = (
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickControls2",
    "PySide6.QtQuickWidgets",
    "PySide6.QtQuick3D",
    "PySide6.Qt3DCore",
    "PySide6.Qt3DRender",
    "PySide6.Qt3DInput",
    "PySide6.Qt3DLogic",
    "PySide6.Qt3DAnimation",
    "PySide6.Qt3DExtras",
    "PySide6.QtMultimedia",
    "PySide6.QtMultimediaWidgets",
    "PySide6.QtSpatialAudio",
    "PySide6.QtWebEngineCore",
    "PySide6.QtWebEngineWidgets",
    "PySide6.QtWebEngineQuick",
    "PySide6.QtWebChannel",
    "PySide6.QtWebSockets",
    "PySide6.QtCharts",
    "PySide6.QtDataVisualization",
    "PySide6.QtGraphs",
    "PySide6.QtPdf",
    "PySide6.QtPdfWidgets",
    "PySide6.QtBluetooth",
    "PySide6.QtNfc",
    "PySide6.QtPositioning",
    "PySide6.QtLocation",
    "PySide6.QtSensors",
    "PySide6.QtSerialPort",
    "PySide6.QtSerialBus",
    "PySide6.QtRemoteObjects",
    "PySide6.QtScxml",
    "PySide6.QtStateMachine",
    "PySide6.QtTextToSpeech",
    "PySide6.QtHttpServer",
    "PySide6.QtDesigner",
    "PySide6.QtUiTools",
    "PySide6.QtHelp",
    "PySide6.QtTest",
    "PySide6.QtSql",
    "PySide6.QtAxContainer",
)
PYTHON_EXCLUDES = (
    "tkinter",
    "_tkinter",
    "matplotlib",
    "IPython",
    "jupyter_client",
    "notebook",
    "pytest",
    "_pytest",
    "pytestqt",
    "pytest_xvfb",
    "pyvirtualdisplay",
    "tensorboard",
    "torch.utils.tensorboard",
    "PyQt5",
    "PyQt6",
    "PySide2",
    # Optional extras that a test environment may hold but the double-click app leaves out: the cluster
    # driver (ray, ~250 MB installed; docs/packaging.md "Ray" says why), fp8 kernels, and the test-only
    # readers. The app reports each as "not installed" where it is needed. The features the app shows
    # (Upscale, EXR) are bundled: see FEATURE_MODULES.
    "ray",
    "torchao",
    "cv2",
    "piexif",
    "py360convert",
)

# Files the torch wheel ships for its own test-suite and C++ builds; nothing at run time loads them.
# Paths are bundle destinations (POSIX), matched with fnmatch.
TORCH_DROP_PATTERNS = (
    "torch/test/*",
    "torch/include/*",
    "torch/share/cmake/*",
    "torch/bin/test_*",
    "torch/bin/*Test",
    "torch/bin/protoc*",
    "torch/lib/libtorchbind_test*",
    "torch/lib/libjitbackend_test*",
    "torch/lib/libbackend_with_compiler*",
    "torch/lib/libaoti_custom_ops*",
    "torch/lib/*.a",
    "torch/lib/*.lib",
)


def resource_datas(resources_dir: Path = RESOURCES_DIR) -> list[tuple[str, str]]:
    """The whole resources tree, as ``<bundle>/resources`` (where ``paths.resources_dir`` looks)."""
    return [(str(resources_dir), "resources")]


def snapshot_resources(target: Path) -> Path:
    """Copy ``resources/`` to ``target`` so the bundle and its manifest come from one unchanging copy."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(RESOURCES_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def package_datas() -> list[tuple[str, str]]:
    """Non-Python files inside the ``dit360_desktop`` package itself, at their package-relative place."""
    datas = []
    for file in sorted(PACKAGE_DIR.rglob("*")):
        if file.is_file() and file.suffix not in {".py", ".pyc"} and "__pycache__" not in file.parts:
            dest = file.parent.relative_to(REPO_ROOT).as_posix()
            datas.append((str(file), dest))
    return datas


def families_to_keep() -> frozenset[str]:
    """``transformers.models.X`` / ``diffusers.pipelines.Y`` packages the bundle must contain."""
    code = "import sys\n" + "\n".join(RUNTIME_IMPORTS) + "\nprint('\\n'.join(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    found = {".".join(name.split(".")[:3]) for name in loaded.split() if name.startswith(_FAMILY_PARENTS)}
    static = {f"transformers.models.{name}" for name in TRANSFORMERS_MODELS}
    static |= {f"diffusers.pipelines.{name}" for name in DIFFUSERS_PIPELINES}
    return frozenset(found | static)


def submodule_filter(name: str, keep: frozenset[str]) -> bool:
    """Which submodules of transformers/diffusers/peft to bundle, given ``families_to_keep()``."""
    parts = name.split(".")
    if len(parts) > 2 and name.startswith(_FAMILY_PARENTS):
        family = ".".join(parts[:3])
        return family in keep or (parts[1] == "pipelines" and parts[2].startswith("pipeline_"))
    # Test helpers and benchmark code inside the libraries import pytest and friends.
    return not any(part in {"tests", "testing_utils", "benchmarks"} for part in parts[1:])


def unused_model_packages(keep: frozenset[str]) -> list[str]:
    """Model families of transformers and pipelines of diffusers that the app never loads.

    Both libraries import every family under ``if TYPE_CHECKING:``, which static analysis follows, so
    without these excludes the bundle would carry all ~550 transformers models (about 90 MB).
    """
    excludes = []
    for parent in _FAMILY_PARENTS:
        package = parent.rstrip(".")
        for info in pkgutil.iter_modules(importlib.util.find_spec(package).submodule_search_locations):
            if info.ispkg and f"{package}.{info.name}" not in keep:
                excludes.append(f"{package}.{info.name}")
    return excludes


def available_features() -> list[str]:
    """The app features (``selftest.features.FEATURE_MODULES``) whose libraries this build can bundle."""
    from dit360_desktop.selftest.features import FEATURE_MODULES

    return sorted(
        feature
        for feature, modules in FEATURE_MODULES.items()
        if all(importlib.util.find_spec(module) is not None for module in modules)
    )


def missing_feature_modules() -> dict[str, list[str]]:
    """Feature -> the modules this build environment lacks for it (empty when every feature is there)."""
    from dit360_desktop.selftest.features import FEATURE_MODULES

    missing = {
        feature: [m for m in modules if importlib.util.find_spec(m) is None]
        for feature, modules in FEATURE_MODULES.items()
    }
    return {feature: modules for feature, modules in missing.items() if modules}


def feature_excludes(features: list[str]) -> list[str]:
    """Modules of features left out of this build: never bundled half (torchvision alone is ~30 MB)."""
    from dit360_desktop.selftest.features import FEATURE_MODULES

    return sorted({m for f, modules in FEATURE_MODULES.items() if f not in features for m in modules})


# Libraries that read data files of their own at import time, which PyInstaller does not collect by
# itself. transformers imports kernels (hub kernels), whose import fails without
# kernels/_internals/python_depends.json ("Cannot load dependency data"); seen in the frozen self-test.
DATA_PACKAGES = ("kernels",)


def data_packages() -> list[str]:
    """The DATA_PACKAGES installed in this build environment."""
    return [name for name in DATA_PACKAGES if importlib.util.find_spec(name) is not None]


def optional_hidden_imports() -> list[str]:
    """Optional extras bundled when installed in the build environment (GGUF loading)."""
    return [name for name in ("gguf",) if importlib.util.find_spec(name) is not None]


def should_drop(dest: str) -> bool:
    """Whether a collected file (bundle destination path) is left out of the bundle."""
    dest = dest.replace("\\", "/")
    return any(fnmatch.fnmatch(dest, pattern) for pattern in TORCH_DROP_PATTERNS)
