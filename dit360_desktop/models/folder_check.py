"""Is this folder really FLUX.1-dev? A check that runs the moment a folder is chosen, not at Generate.

``layouts.diffusers_folder_problems`` says whether a folder has the diffusers shape; it passes a 600 KB
test model as readily as the 33 GB original. Here the shape is checked, then what the configs say the
model is (FLUX.1-dev, not schnell or a pruned test model), then every safetensors header, then whether
the weights are anywhere near the published sizes. Only headers and file sizes are read (milliseconds,
no hashing), so the UI can run it before accepting a folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dit360_desktop.models.catalog import load_catalog
from dit360_desktop.models.fsutil import format_bytes
from dit360_desktop.models.layouts import diffusers_folder_problems
from dit360_desktop.models.registry import installed_model_paths, read_registry
from dit360_desktop.panorama.errors import ModelInvalidError
from dit360_desktop.panorama.safetensors_check import check_weights_folder

PIPELINE_CLASS = "FluxPipeline"
REQUIRED_COMPONENTS = (
    "transformer",
    "vae",
    "text_encoder",
    "text_encoder_2",
    "tokenizer",
    "tokenizer_2",
    "scheduler",
)
WEIGHT_FOLDERS = ("transformer", "text_encoder_2", "text_encoder", "vae")
# Weights may be stored in fp8 (half the bf16 bytes); anything below this share of the published size is
# a truncated, pruned or test copy.
MIN_SHARE_OF_PUBLISHED = 0.45


@dataclass(frozen=True)
class FolderExpectations:
    """What a folder must hold to count as the model; ``name`` goes into the messages."""

    name: str
    # Published safetensors bytes per weight folder (bf16/fp16 as on the hub).
    published_bytes: dict[str, int] = field(default_factory=dict)
    # transformer/config.json values that identify the model.
    transformer_config: dict[str, object] = field(default_factory=dict)


# Sizes of black-forest-labs/FLUX.1-dev's diffusers files; the config values are from its
# transformer/config.json (FLUX.1-schnell differs in guidance_embeds).
FLUX1_DEV = FolderExpectations(
    name="FLUX.1-dev",
    published_bytes={
        "transformer": 23_802_932_552,
        "text_encoder_2": 9_524_621_424,
        "text_encoder": 246_144_152,
        "vae": 167_666_902,
    },
    transformer_config={
        "_class_name": "FluxTransformer2DModel",
        "guidance_embeds": True,
        "num_layers": 19,
        "num_single_layers": 38,
        "num_attention_heads": 24,
        "attention_head_dim": 128,
    },
)
# The diffusers shape and safe headers only: what the tiny random-weight test models pass.
ANY_FLUX_SHAPE = FolderExpectations(
    name="a FLUX model", transformer_config={"_class_name": "FluxTransformer2DModel"}
)


@dataclass(frozen=True)
class FolderVerdict:
    folder: Path
    # One sentence for the user; None when the folder is usable.
    reason: str | None
    weight_bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.reason is None


def check_model_folder(folder: str | Path, expect: FolderExpectations = FLUX1_DEV) -> FolderVerdict:
    folder = Path(folder).expanduser()
    try:
        reason, weight_bytes = _first_problem(folder, expect)
    except OSError as e:
        reason, weight_bytes = f"{folder} could not be read ({e.strerror or e}).", 0
    return FolderVerdict(folder, reason, weight_bytes)


def ensure_model_folder(folder: str | Path, expect: FolderExpectations = FLUX1_DEV) -> Path:
    """The folder when it passes; ModelInvalidError with the one-sentence reason when it does not."""
    verdict = check_model_folder(folder, expect)
    if verdict.reason is not None:
        raise ModelInvalidError(verdict.reason)
    return verdict.folder


def _first_problem(folder: Path, expect: FolderExpectations) -> tuple[str | None, int]:
    if not folder.is_dir():
        return f"{folder} is not a folder.", 0
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        inner = _model_folder_below(folder)
        if inner is not None:
            return f"This folder holds a model one level down: choose {inner} instead.", 0
        return (
            f"{folder.name} is not a diffusers model folder (it has no model_index.json); choose the "
            f"folder of {expect.name} that holds model_index.json.",
            0,
        )
    index = _read_json(index_path)
    if index is None:
        return f"{index_path} cannot be read as JSON, so the folder is damaged.", 0
    if index.get("_class_name") != PIPELINE_CLASS:
        return (
            f"This folder holds a {index.get('_class_name') or 'unknown'} model, not {expect.name} "
            f"(a {PIPELINE_CLASS}).",
            0,
        )
    absent = [name for name in REQUIRED_COMPONENTS if name not in index]
    if absent:
        return f"model_index.json lists no {', '.join(absent)}, which {expect.name} needs.", 0
    problems = diffusers_folder_problems(folder)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        return f"The folder is incomplete: {problems[0]}{more}.", 0
    mismatch = _transformer_mismatch(folder, expect)
    if mismatch is not None:
        return mismatch, 0
    weight_bytes = 0
    for name in WEIGHT_FOLDERS:
        try:
            files = check_weights_folder(folder / name)
        except ModelInvalidError as e:
            # Only the finding: the loader's advice ("Verify & repair") fits managed folders, not this one.
            return f"In {name}/, {first_sentence(str(e))}", 0
        size = sum(f.stat().st_size for f in files)
        weight_bytes += size
        published = expect.published_bytes.get(name)
        if published and size < MIN_SHARE_OF_PUBLISHED * published:
            return (
                f"The {name} weights are {format_bytes(size)} but {expect.name}'s are about "
                f"{format_bytes(published)}, so this is a test model, a pruned copy or an unfinished "
                "download.",
                weight_bytes,
            )
    return None, weight_bytes


def _transformer_mismatch(folder: Path, expect: FolderExpectations) -> str | None:
    config = _read_json(folder / "transformer" / "config.json")
    if config is None:
        return "transformer/config.json cannot be read as JSON, so the folder is damaged."
    for key, wanted in expect.transformer_config.items():
        found = config.get(key)
        if found != wanted:
            if key == "guidance_embeds" and found is False:
                return f"This is FLUX.1-schnell or another undistilled variant, not {expect.name}."
            return (
                f"The transformer is not {expect.name}'s: its config has {key} = {found!r} where "
                f"{expect.name} has {wanted!r}."
            )
    return None


def first_sentence(text: str) -> str:
    """The first sentence of a message, ending with its full stop."""
    head, dot, _ = text.partition(". ")
    return head + "." if dot else text


def _model_folder_below(folder: Path) -> Path | None:
    for child in sorted(folder.iterdir()):
        if child.is_dir() and (child / "model_index.json").is_file():
            return child
    return None


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class ModelReadiness:
    """Whether the app can generate panoramas, and which component to set up first when it cannot."""

    base: Path | None
    lora: Path | None
    # Catalog id of the first component to set up (the base model, then the LoRA); None when ready.
    setup_component: str | None
    # One or two sentences for the first-run banner; empty when ready.
    message: str = ""

    @property
    def ready(self) -> bool:
        return self.setup_component is None


def model_readiness(model_dir: Path | None = None, models_dir: Path | None = None) -> ModelReadiness:
    """What the app would run with: the chosen folder or the installed FLUX.1-dev, and the DiT360 LoRA.

    Structural checks only (no hashing): fast enough to run after the first paint.
    """
    catalog = load_catalog()
    base_id, lora_id = catalog.for_role("base").id, catalog.for_role("lora").id
    installed = installed_model_paths(models_dir)
    lora = installed.lora if installed is not None else None
    if model_dir is not None:
        problems = diffusers_folder_problems(model_dir) if model_dir.is_dir() else [f"{model_dir} is missing"]
        if problems:
            return ModelReadiness(
                None, lora, base_id,
                f"The chosen model folder cannot be used ({problems[0]}). Set up FLUX.1-dev to generate.",
            )  # fmt: skip
        base: Path | None = model_dir
    else:
        base = installed.base if installed is not None else None
    if base is None:
        return ModelReadiness(
            None, lora, base_id,
            "No model is installed yet, so nothing can be generated. FLUX.1-dev (about 34 GB) and the "
            "DiT360 LoRA can be downloaded or imported in a few steps.",
        )  # fmt: skip
    if lora is None:
        return ModelReadiness(
            base, None, lora_id,
            "The DiT360 LoRA is not installed: FLUX.1-dev alone makes ordinary pictures, not seamless "
            "360° panoramas.",
        )  # fmt: skip
    return ModelReadiness(base, lora, None)


def is_managed_folder(path: Path, models_dir: Path | None = None) -> bool:
    """Whether the model manager registered ``path`` (or a folder holding it): only then can it repair it."""
    path = Path(path).expanduser().absolute()
    for entry in read_registry(models_dir).values():
        root = Path(entry.path).expanduser().absolute()
        if path == root or path.is_relative_to(root):
            return True
    return False
