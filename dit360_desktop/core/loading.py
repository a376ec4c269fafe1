"""Loading FLUX.1-dev components and the DiT360 LoRA, strictly and from safetensors only.

Source: a diffusers-layout folder (``model_index.json``), given explicitly; which folder is installed is
decided above this layer (``models.selection``). Every weight file's header is checked before anything
is read, pickle formats are refused, and missing or unexpected keys are errors that name the keys.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dit360_desktop.panorama.errors import (
    LoraMismatchError,
    ModelInvalidError,
    ModelMissingError,
    UnsafeFileError,
)
from dit360_desktop.panorama.flux_layout import FLUX_COMPONENTS, FLUX_WEIGHT_CLASSES
from dit360_desktop.panorama.safetensors_check import check_safetensors_file

log = logging.getLogger(__name__)

BASE_REPO_ID = "black-forest-labs/FLUX.1-dev"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


@dataclass
class Components:
    folder: Path
    tokenizer: Any
    tokenizer_2: Any
    text_encoder: Any
    text_encoder_2: Any
    transformer: Any
    vae: Any
    scheduler_config: dict


def check_weight_file(path: Path) -> None:
    """Refuse pickles and broken safetensors before a single tensor is read."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise UnsafeFileError(
            f"{path.name} is a pickle checkpoint, which can run code when loaded; it was refused. "
            "Use the .safetensors version of this model."
        )
    check_safetensors_file(path)


def validate_model_folder(folder: Path, *, without_weights: tuple[str, ...] = ()) -> None:
    """Check the layout; components in ``without_weights`` (a GGUF transformer) need only config.json."""
    if not folder.is_dir():
        raise ModelMissingError(f"The model folder {folder} does not exist.")
    if not (folder / "model_index.json").is_file():
        raise ModelInvalidError(f"{folder} is not a diffusers model folder (model_index.json is missing).")
    missing = [name for name in FLUX_COMPONENTS if not (folder / name).is_dir()]
    if missing:
        raise ModelInvalidError(f"The model folder {folder} lacks {', '.join(missing)}.")
    for name in FLUX_WEIGHT_CLASSES:
        sub = folder / name
        if not (sub / "config.json").is_file():
            raise ModelInvalidError(f"{sub} has no config.json; the download is incomplete.")
        if name in without_weights:
            continue
        pickles = [p for p in sub.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES]
        weights = sorted(sub.glob("*.safetensors"))
        if pickles and not weights:
            check_weight_file(pickles[0])
        if not weights:
            raise ModelInvalidError(f"{sub} has no .safetensors weights.")
        for weight in weights:
            check_weight_file(weight)


def load_components(
    folder: Path,
    *,
    device: torch.device,
    dtype: torch.dtype,
    on_progress: Callable[[str], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
    place: Callable[[str, Any], Any] | None = None,
    load_transformer_from: Callable[[], Any] | None = None,
) -> Components:
    """Load every component in ``dtype``; ``place(name, module)`` (default: ``.to(device)``) puts each one
    where it belongs as soon as it is loaded, and ``load_transformer_from`` replaces the folder's
    transformer weights (a GGUF file)."""
    from transformers import CLIPTokenizer, T5TokenizerFast

    validate_model_folder(folder, without_weights=("transformer",) if load_transformer_from else ())
    _quiet_library_progress_bars()

    def step(name: str) -> None:
        if check_cancel is not None:
            check_cancel()
        if on_progress is not None:
            on_progress(name)

    step("tokenizers")
    try:
        tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
        tokenizer_2 = T5TokenizerFast.from_pretrained(folder / "tokenizer_2", local_files_only=True)
    except (OSError, ValueError, json.JSONDecodeError) as e:
        raise ModelInvalidError(f"The tokenizers in {folder} could not be read: {e}") from e
    for name, loaded_tokenizer in (("tokenizer", tokenizer), ("tokenizer_2", tokenizer_2)):
        check_tokenizer(loaded_tokenizer, folder / name)
    loaded = {}
    for name in FLUX_WEIGHT_CLASSES:
        step(name)
        if name == "transformer" and load_transformer_from is not None:
            module = load_transformer_from()
        else:
            module = _load_strict(weight_class(name), folder / name, dtype)
        loaded[name] = (place(name, module) if place is not None else module.to(device)).eval()
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    return Components(
        folder=folder,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        scheduler_config=scheduler_config,
        **loaded,
    )


def weight_class(component: str) -> type:
    """The diffusers or transformers class that loads ``component`` (``panorama/flux_layout.py``)."""
    library, name = FLUX_WEIGHT_CLASSES[component]
    return getattr(importlib.import_module(library), name)


def load_transformer(folder: Path, dtype: torch.dtype):
    """The folder's transformer alone, on the CPU (to re-fuse a different LoRA into fresh weights)."""
    return _load_strict(weight_class("transformer"), folder / "transformer", dtype).eval()


# With its vocabulary files missing, transformers 5 quietly builds an empty tokenizer that maps every word
# to the unknown token, and generation would go on ignoring the prompt.
_PROBE_TEXT = "a mountain lake at sunset"
TOKENIZER_FILES = {
    "tokenizer": (("tokenizer.json",), ("vocab.json", "merges.txt")),
    "tokenizer_2": (("tokenizer.json",), ("spiece.model",)),
}


def check_tokenizer(tokenizer, folder: Path) -> None:
    alternatives = TOKENIZER_FILES.get(folder.name, ())
    if alternatives and not any(all((folder / f).is_file() for f in files) for files in alternatives):
        wanted = " or ".join(" + ".join(files) for files in alternatives)
        raise ModelInvalidError(f"{folder} lacks its vocabulary ({wanted}); the download is incomplete.")
    ids = tokenizer(_PROBE_TEXT, add_special_tokens=False).input_ids
    unknown = tokenizer.unk_token_id
    if not ids or (unknown is not None and sum(i == unknown for i in ids) > len(ids) // 2):
        raise ModelInvalidError(f"The tokenizer in {folder} cannot read plain English; its files are broken.")


def _load_strict(cls, path: Path, dtype: torch.dtype):
    check_config_types(cls, path / "config.json")
    try:
        model, info = cls.from_pretrained(
            path, torch_dtype=dtype, use_safetensors=True, local_files_only=True, output_loading_info=True
        )
    except (OSError, ValueError, RuntimeError, TypeError, KeyError, json.JSONDecodeError) as e:
        raise ModelInvalidError(f"{path.name} in {path.parent} could not be loaded: {e}") from e
    problems = []
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        keys = info.get(kind) or []
        if keys:
            shown = ", ".join(str(k) for k in list(keys)[:8])
            more = f" and {len(keys) - 8} more" if len(keys) > 8 else ""
            problems.append(f"{kind.replace('_', ' ')}: {shown}{more}")
    if problems:
        raise ModelInvalidError(f"The weights in {path} do not match its config ({'; '.join(problems)}).")
    return model


def check_config_types(cls, config_path: Path) -> None:
    """Refuse a config.json whose values have the wrong JSON type, naming the key.

    The expected type is the one of the constructor's default (the diffusers model's, or the
    transformers config class's). Without this, ``"num_layers": "many"`` surfaces as a TypeError deep in
    the model's constructor.
    """
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return  # the folder check reports it
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelInvalidError(f"{config_path} cannot be read as JSON ({e}).") from e
    if not isinstance(config, dict):
        raise ModelInvalidError(f"{config_path} is not a JSON object.")
    target = getattr(cls, "config_class", None) or cls
    try:
        parameters = inspect.signature(target.__init__).parameters
    except (TypeError, ValueError):
        return
    problems = []
    for key, value in config.items():
        parameter = parameters.get(key)
        if value is None or parameter is None or parameter.default in (inspect.Parameter.empty, None):
            continue
        wanted = _JSON_KINDS.get(type(parameter.default))
        if wanted is not None and not _is_kind(value, wanted[0]):
            problems.append(f'"{key}" is {json.dumps(value)} but must be {wanted[1]}')
    if problems:
        raise ModelInvalidError(
            f"{config_path} has values of the wrong type: {'; '.join(problems[:5])}. "
            "The file was edited or damaged; download or import the model again."
        )


_JSON_KINDS = {
    bool: ("bool", "true or false"),
    int: ("int", "a whole number"),
    float: ("float", "a number"),
    str: ("str", "a text string"),
    tuple: ("list", "a list"),
    list: ("list", "a list"),
}


def _is_kind(value: object, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    return isinstance(value, list | tuple)


# --- LoRA -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoraInfo:
    path: Path
    file: Path
    adapter_name: str
    sha256: str
    rank: int
    modules: int


def lora_weight_file(path: Path) -> Path:
    """The safetensors file of a LoRA given as a PEFT folder or as a single file."""
    if path.is_dir():
        candidates = [path / "adapter_model.safetensors", path / "pytorch_lora_weights.safetensors"]
        found = [c for c in candidates if c.is_file()] or sorted(path.glob("*.safetensors"))
        if not found:
            pickles = [p for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES]
            if pickles:
                check_weight_file(pickles[0])
            raise ModelMissingError(f"The LoRA folder {path} holds no .safetensors file.")
        return found[0]
    if not path.exists():
        raise ModelMissingError(f"The LoRA file {path} does not exist.")
    return path


def load_lora(transformer, path: str | Path, adapter_name: str) -> LoraInfo:
    """Attach a LoRA to the transformer through diffusers, after checking every key fits."""
    from diffusers import FluxPipeline
    from safetensors.torch import load_file

    path = Path(path).expanduser()
    file = lora_weight_file(path)
    check_weight_file(file)
    raw = load_file(str(file))
    _refuse_other_base_models(raw, file)
    raw = _bfl_peft_as_kohya(raw)
    # diffusers converts the other common layouts (kohya, BFL) to PEFT keys; it is what the reference
    # pipeline's ``load_lora_weights`` runs, so the adapter config it derives matches the reference.
    try:
        state_dict, network_alphas = FluxPipeline.lora_state_dict(raw, return_alphas=True)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, RuntimeError) as e:
        raise LoraMismatchError(
            f"The LoRA {file.name} is not in a FLUX LoRA layout diffusers can read "
            f"({type(e).__name__}: {e}). Is it a LoRA for FLUX.1-dev?"
        ) from e
    rank = _check_lora_keys(transformer, state_dict, file)
    alpha_note = _peft_alpha(path)
    if alpha_note is not None and alpha_note != rank:
        log.warning(
            "adapter_config.json sets lora_alpha=%s (rank %d); diffusers applies alpha=rank.",
            alpha_note,
            rank,
        )
    with warnings.catch_warnings():
        # PEFT warns on every adapter after the first; stacked LoRAs are meant to be several adapters.
        warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
        try:
            FluxPipeline.load_lora_into_transformer(
                state_dict, network_alphas=network_alphas, transformer=transformer, adapter_name=adapter_name
            )
        except RuntimeError as e:
            if "size mismatch" not in str(e):
                raise
            raise LoraMismatchError(
                f"The LoRA {file} is damaged: its tensors disagree in shape ({e})."
            ) from e
    refresh_group_offload(transformer)
    modules = len({k.rsplit(".lora_", 1)[0] for k in state_dict})
    return LoraInfo(
        path=path, file=file, adapter_name=adapter_name, sha256=sha256_file(file), rank=rank, modules=modules
    )


# Key stems of LoRAs for UNet models (Stable Diffusion 1.x/2.x, SDXL), kohya and diffusers layouts alike.
_UNET_LORA_MARKS = (
    "lora_unet_down_blocks",
    "lora_unet_up_blocks",
    "lora_unet_mid_block",
    "lora_unet_input_blocks",
    "lora_unet_output_blocks",
    "unet.down_blocks",
    "unet.up_blocks",
    "unet.mid_block",
)


def _refuse_other_base_models(raw: dict[str, torch.Tensor], file: Path) -> None:
    unet = sorted(k for k in raw if any(mark in k for mark in _UNET_LORA_MARKS))
    if unet:
        raise LoraMismatchError(
            f"The LoRA {file.name} was made for a UNet model (Stable Diffusion 1.x/2.x or SDXL; keys such as "
            f"{unet[0]}), not for FLUX.1-dev. Use a FLUX LoRA such as DiT360."
        )


def _bfl_peft_as_kohya(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BFL module names with PEFT's ``lora_A``/``lora_B`` as kohya's ``lora_down``/``lora_up``.

    diffusers converts BFL-named FLUX.1 LoRAs only in kohya's naming (and Control LoRAs, which carry
    ``query_norm.scale``); the tensors are the same, and without ``.alpha`` keys both conventions scale
    by 1, so renaming lets diffusers' own converter split the fused qkv/linear1 layers.
    """
    bfl_peft = any(k.startswith("diffusion_model.") and ".lora_A." in k for k in raw)
    if not bfl_peft or any("query_norm.scale" in k for k in raw):
        return raw
    return {k.replace(".lora_A.", ".lora_down.").replace(".lora_B.", ".lora_up."): v for k, v in raw.items()}


def refresh_group_offload(transformer) -> None:
    """Set group offload up again after PEFT added or removed LoRA layers.

    With CUDA streams, group offload copies every parameter it sees when enabled into pinned RAM and
    later onloads from those copies; LoRA layers added afterwards have none (a ``KeyError`` at the first
    step, seen on an H100 with a GGUF transformer). diffusers does this itself when adapters are deleted,
    but on loading only through a pipeline, which the engine does not use. A no-op without offload.
    """
    from diffusers.hooks.group_offloading import _maybe_remove_and_reapply_group_offloading

    _maybe_remove_and_reapply_group_offloading(transformer)


def _check_lora_keys(transformer, state_dict: dict[str, torch.Tensor], file: Path) -> int:
    text_encoder = [key for key in state_dict if key.startswith("text_encoder")]
    if text_encoder:
        # kohya LoRAs may also train CLIP (lora_te1_…); the engine applies transformer LoRAs only.
        raise LoraMismatchError(
            f"The LoRA {file.name} also changes the text encoder ({len(text_encoder)} tensors such as "
            f"{text_encoder[0]}); only LoRAs of the FLUX transformer can be used."
        )
    modules = dict(transformer.named_modules())
    unexpected, wrong_shape = [], []
    ranks = set()
    # A damaged file can hold an A and a B of one layer that disagree in rank; PEFT would only fail on
    # them in the middle of loading, with a bare size mismatch.
    pair_ranks: dict[str, dict[str, int]] = {}
    for key, tensor in state_dict.items():
        if not key.startswith("transformer.") or ".lora_" not in key:
            unexpected.append(key)
            continue
        module_name, part = key[len("transformer.") :].rsplit(".lora_", 1)
        module = modules.get(module_name)
        # After a LoRA was loaded once, PEFT leaves its wrapper around the original Linear.
        module = getattr(module, "base_layer", module)
        if not isinstance(module, torch.nn.Linear):
            unexpected.append(key)
            continue
        if part.startswith("A"):
            ranks.add(tensor.shape[0])
            pair_ranks.setdefault(module_name, {})["lora_A"] = tensor.shape[0]
            if tensor.shape[1] != module.in_features:
                wrong_shape.append(f"{key} {tuple(tensor.shape)} vs in_features {module.in_features}")
        elif part.startswith("B"):
            ranks.add(tensor.shape[1])
            pair_ranks.setdefault(module_name, {})["lora_B"] = tensor.shape[1]
            if tensor.shape[0] != module.out_features:
                wrong_shape.append(f"{key} {tuple(tensor.shape)} vs out_features {module.out_features}")
        else:
            unexpected.append(key)
    disagree = [
        f"{name} (lora_A rank {pair['lora_A']}, lora_B rank {pair['lora_B']})"
        for name, pair in pair_ranks.items()
        if len(set(pair.values())) > 1
    ]
    if disagree:
        raise LoraMismatchError(
            f"The LoRA {file} is damaged: the two halves of {len(disagree)} layer(s) disagree in shape, "
            f"e.g. {disagree[0]}. Download or export it again."
        )
    if not state_dict:
        raise LoraMismatchError(f"The LoRA {file.name} holds no tensors.")
    if unexpected or wrong_shape:
        parts = []
        if unexpected:
            parts.append(f"keys with no matching transformer layer: {', '.join(unexpected[:6])}")
        if wrong_shape:
            parts.append(f"wrong shapes: {', '.join(wrong_shape[:6])}")
        raise LoraMismatchError(
            f"The LoRA {file.name} does not fit this FLUX transformer ({'; '.join(parts)}). "
            "Is it a LoRA for FLUX.1-dev?"
        )
    return max(ranks)


def _peft_alpha(path: Path) -> float | None:
    config = path / "adapter_config.json" if path.is_dir() else None
    if config is None or not config.is_file():
        return None
    try:
        return json.loads(config.read_text()).get("lora_alpha")
    except json.JSONDecodeError as e:
        raise ModelInvalidError(f"{config} is not valid JSON: {e}") from e


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def _quiet_library_progress_bars() -> None:
    # The libraries' tqdm bars would interleave with our own progress output on stderr.
    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
