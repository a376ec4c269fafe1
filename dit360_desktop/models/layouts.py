"""Recognise model folders by their shape: diffusers FLUX and FLUX.1 Redux folders, PEFT LoRAs, the Hugging
Face cache.

These checks are structural and cheap (no hashing): they run every time the engine resolves its default
model. Hash checks belong to verify.
"""

from __future__ import annotations

import json
from pathlib import Path

from dit360_desktop.panorama.flux_layout import REDUX_PARTS, REDUX_PIPELINE_CLASS, REDUX_WEIGHT_CLASSES
from dit360_desktop.panorama.safetensors_check import PICKLE_SUFFIXES

# Folders of a FLUX diffusers pipeline that hold weights, as opposed to tokenizers and the scheduler.
_WEIGHT_FOLDERS = ("transformer", "text_encoder", "text_encoder_2", "vae")
# Names diffusers and PEFT use for a LoRA saved as one file, tried in this order.
_LORA_FILE_NAMES = ("adapter_model.safetensors", "pytorch_lora_weights.safetensors")


def diffusers_folder_problems(folder: Path) -> list[str]:
    """What keeps ``folder`` from being a loadable FLUX diffusers folder; an empty list when it is one."""
    index_path = folder / "model_index.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{folder} has no model_index.json"]
    except (OSError, ValueError) as e:
        return [f"{index_path} cannot be read ({e})"]
    if not isinstance(index, dict):
        return [f"{index_path} is not a JSON object"]
    problems: list[str] = []
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or not spec or spec[0] is None:
            continue
        sub = folder / name
        if not sub.is_dir():
            problems.append(f"{name}/ is missing")
            continue
        if name in _WEIGHT_FOLDERS:
            problems.extend(weight_folder_problems(sub, name))
        elif not any(sub.iterdir()):
            problems.append(f"{name}/ is empty")
    return problems


def weight_folder_problems(sub: Path, name: str) -> list[str]:
    """What keeps the weight folder ``sub`` (called ``name`` in the sentences) from loading: its config,
    its sharded index's files, or safetensors weights at all."""
    if not (sub / "config.json").is_file():
        return [f"{name}/config.json is missing"]
    indexes = sorted(sub.glob("*.safetensors.index.json"))
    if indexes:
        try:
            weight_map = json.loads(indexes[0].read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError) as e:
            return [f"{name}/{indexes[0].name} cannot be read ({e})"]
        # A dangling symlink in the HF cache (an interrupted download) fails is_file().
        missing = sorted({f for f in weight_map.values() if not (sub / f).is_file()})
        return [f"{name}/{f} is missing" for f in missing]
    if any(p.is_file() for p in sub.glob("*.safetensors")):
        return []
    if any(p.suffix in PICKLE_SUFFIXES for p in sub.iterdir()):
        return [f"{name}/ has only pickle weights; a safetensors copy is required"]
    return [f"{name}/ has no .safetensors weights"]


def is_redux_folder(folder: Path) -> bool:
    """Whether ``folder`` is laid out as FLUX.1-Redux-dev's diffusers folder: its model_index.json names the
    Redux pipeline, or (no index) it has the Redux sub-folders. Complete or not: the import says what is
    missing rather than finding nothing."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return all((folder / part).is_dir() for part in REDUX_PARTS)
    except (OSError, ValueError):
        return False
    return isinstance(index, dict) and index.get("_class_name") == REDUX_PIPELINE_CLASS


def redux_folder_problems(folder: Path) -> list[str]:
    """What keeps ``folder`` from loading as FLUX.1 Redux (``core/guides/redux.py``); empty when it loads."""
    problems = [f"{part}/ is missing" for part in REDUX_PARTS if not (folder / part).is_dir()]
    for part in REDUX_WEIGHT_CLASSES:
        if (folder / part).is_dir():
            problems.extend(weight_folder_problems(folder / part, part))
    extractor = folder / "feature_extractor"
    if extractor.is_dir() and not (extractor / "preprocessor_config.json").is_file():
        problems.append("feature_extractor/preprocessor_config.json is missing")
    return problems


def lora_path_in(location: Path) -> Path | None:
    """The LoRA to load from ``location``: a PEFT folder, a single .safetensors file, or None."""
    if location.is_file():
        return location if location.suffix == ".safetensors" else None
    if not location.is_dir():
        return None
    if (location / "adapter_config.json").is_file() and (location / "adapter_model.safetensors").is_file():
        return location
    for name in _LORA_FILE_NAMES:
        if (location / name).is_file():
            return location / name
    candidates = sorted(p for p in location.glob("*.safetensors") if p.is_file())
    return candidates[0] if len(candidates) == 1 else None


def hf_cache_repo_folder(cache_dir: Path, repo_id: str) -> Path:
    return cache_dir / ("models--" + repo_id.replace("/", "--"))


def hf_cache_snapshots(cache_dir: Path, repo_id: str) -> list[Path]:
    """Snapshot folders of ``repo_id`` in a Hugging Face cache, the one ``refs/main`` names first."""
    repo = hf_cache_repo_folder(cache_dir, repo_id)
    snapshots_dir = repo / "snapshots"
    if not snapshots_dir.is_dir():
        return []
    snapshots = [p for p in snapshots_dir.iterdir() if p.is_dir()]
    main_commit = ""
    try:
        main_commit = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        main_commit = ""
    # refs/main first, then newest first: the user most likely wants the copy they fetched last.
    snapshots.sort(key=lambda p: (p.name != main_commit, -p.stat().st_mtime))
    return snapshots


def find_in_hf_cache(cache_dir: Path, repo_ids: tuple[str, ...], layout: str) -> Path | None:
    """The first complete copy of any of ``repo_ids`` in the cache (a snapshot folder, or a LoRA path)."""
    for repo_id in repo_ids:
        for snapshot in hf_cache_snapshots(cache_dir, repo_id):
            if layout == "diffusers" and not diffusers_folder_problems(snapshot):
                return snapshot
            if layout == "lora":
                found = lora_path_in(snapshot)
                if found is not None:
                    return found
    return None
