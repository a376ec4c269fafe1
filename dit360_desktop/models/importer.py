"""Import models that are already on disk: a diffusers folder, a Hugging Face cache, a ComfyUI LoRA file, a
Depth Anything V2 folder or a FLUX.1 Redux folder.

Everything imported is checked (folder shape, every safetensors header), hashed and registered, either
copied into the models folder or referenced where it is. A folder may hold several models (a ComfyUI
tree: the base model and a loras/ folder): each is checked on its own, what passes is imported, what does
not is refused, and one ``ImportReport`` says both.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dit360_desktop.models.catalog import Catalog, Component, load_catalog
from dit360_desktop.models.depth import depth_component_of
from dit360_desktop.models.errors import DiskFullError, ImportRejectedError
from dit360_desktop.models.folder_check import FolderExpectations, check_model_folder
from dit360_desktop.models.fsutil import format_bytes, free_bytes
from dit360_desktop.models.hashing import copy_and_hash, hash_file
from dit360_desktop.models.layouts import (
    diffusers_folder_problems,
    find_in_hf_cache,
    hf_cache_snapshots,
    is_redux_folder,
    lora_path_in,
    redux_folder_problems,
)
from dit360_desktop.models.location import resolve_models_dir
from dit360_desktop.models.registry import (
    SOURCE_COPY,
    SOURCE_IN_PLACE,
    FileRecord,
    RegistryEntry,
    update_registry,
)
from dit360_desktop.models.shape_check import shape_problems
from dit360_desktop.panorama.errors import DiT360Error, ModelInvalidError
from dit360_desktop.panorama.flux_layout import REDUX_PARTS, REDUX_WEIGHT_CLASSES
from dit360_desktop.panorama.safetensors_check import (
    check_safetensors_file,
    check_weights_folder,
    safetensors_tensor_names,
)

log = logging.getLogger(__name__)

COPY, IN_PLACE = "copy", "in-place"
# How deep to look below the chosen folder (e.g. a USB drive root holding FLUX.1-dev/ and loras/).
_SEARCH_DEPTH = 3


@dataclass(frozen=True)
class ImportCandidate:
    component_id: str
    root: Path  # a folder, or a single LoRA file
    kind: str  # "diffusers", "hf-cache", "peft", "lora-file", "depth-anything", "redux"


@dataclass(frozen=True)
class ImportRefusal:
    component_id: str
    root: Path
    error: DiT360Error


@dataclass
class ImportReport:
    """What an import registered and what it refused, with the reason for each refusal."""

    imported: list[RegistryEntry] = field(default_factory=list)
    refused: list[ImportRefusal] = field(default_factory=list)

    def summary(self, catalog: Catalog | None = None) -> str:
        catalog = catalog or load_catalog()
        parts = []
        if self.imported:
            how = {SOURCE_COPY: "copied", SOURCE_IN_PLACE: "in place"}
            names = ", ".join(
                f"{catalog.component(e.component_id).name} ({how.get(e.source, e.source)})"
                for e in self.imported
            )
            parts.append(f"Imported {names}.")
        for refusal in self.refused:
            name = catalog.component(refusal.component_id).name
            parts.append(f"Not imported: {name} from {refusal.root}: {refusal.error}")
        return " ".join(parts)


@dataclass(frozen=True)
class ImportProgress:
    component_id: str
    path: str
    done_bytes: int
    total_bytes: int


def _looks_like_flux_lora(path: Path) -> bool:
    names = safetensors_tensor_names(path)
    lora = any(("lora_A" in n or "lora_B" in n or "lora_down" in n or "lora_up" in n) for n in names)
    flux = any(("transformer_blocks" in n or "double_blocks" in n or "single_blocks" in n) for n in names)
    return lora and flux


def _may_be_flux_lora(path: Path) -> bool:
    """A FLUX LoRA, or a file named as one whose header is damaged: that one is offered, so that the
    import refuses it with the reason instead of the whole scan failing on it."""
    try:
        return _looks_like_flux_lora(path)
    except ModelInvalidError:
        return True


def _walk(root: Path, depth: int) -> list[Path]:
    folders = [root]
    frontier = [root]
    for _ in range(depth):
        frontier = [
            c for f in frontier for c in sorted(f.iterdir()) if c.is_dir() and not c.name.startswith(".")
        ]
        folders.extend(frontier)
    return folders


def _is_component(folder: Path, component: Component) -> bool:
    """Whether ``folder`` holds the optional component (a depth or Redux model), judged by its own files."""
    if component.role == "depth":
        return depth_component_of(folder) == component.id
    return component.role == "redux" and is_redux_folder(folder)


def _cached_component(cache: Path, component: Component) -> Path | None:
    for repo_id in component.repo_ids:
        for snapshot in hf_cache_snapshots(cache, repo_id):
            if _is_component(snapshot, component):
                return snapshot
    return None


def find_importable(path: Path, catalog: Catalog | None = None) -> list[ImportCandidate]:
    """What ``path`` holds that the catalog knows: at most one candidate per component."""
    catalog = catalog or load_catalog()
    base, lora = catalog.for_role("base"), catalog.for_role("lora")
    # Recognised by their files, not by a layout the hub lookup knows: Depth Anything by its config, Redux
    # by its pipeline's sub-folders.
    recognised = [c for c in catalog.components if c.supported and c.role in ("depth", "redux")]
    path = Path(path).expanduser()
    found: dict[str, ImportCandidate] = {}
    if path.is_file():
        if path.suffix == ".safetensors" and _looks_like_flux_lora(path):
            found[lora.id] = ImportCandidate(lora.id, path, "lora-file")
        return list(found.values())
    if not path.is_dir():
        return []
    for folder in _walk(path, _SEARCH_DEPTH):
        # A Hugging Face cache: the chosen folder, or a hub/ below it.
        for component in (base, lora):
            if component.id in found:
                continue
            hit = find_in_hf_cache(folder, component.repo_ids, component.layout)
            if hit is not None:
                found[component.id] = ImportCandidate(component.id, hit, "hf-cache")
        for component in recognised:
            if component.id not in found:
                hit = _cached_component(folder, component)
                if hit is not None:
                    found[component.id] = ImportCandidate(component.id, hit, "hf-cache")
        # A Redux folder has a model_index.json too; it is never the base model.
        redux = is_redux_folder(folder)
        if base.id not in found and (folder / "model_index.json").is_file() and not redux:
            found[base.id] = ImportCandidate(base.id, folder, "diffusers")
        for component in recognised if redux else ():
            if component.role == "redux" and component.id not in found:
                found[component.id] = ImportCandidate(component.id, folder, "redux")
        if (
            lora.id not in found
            and (folder / "adapter_config.json").is_file()
            and lora_path_in(folder) == folder
        ):
            found[lora.id] = ImportCandidate(lora.id, folder, "peft")
        depth_id = depth_component_of(folder)
        if depth_id is not None and depth_id not in found:
            found[depth_id] = ImportCandidate(depth_id, folder, "depth-anything")
        if lora.id not in found and folder.name == "loras":
            # ComfyUI keeps every LoRA in models/loras: take the one named after DiT360.
            for file in sorted(folder.glob("*.safetensors")):
                if "dit360" in file.name.lower() and _may_be_flux_lora(file):
                    found[lora.id] = ImportCandidate(lora.id, file, "lora-file")
                    break
    return list(found.values())


def _files_to_register(candidate: ImportCandidate, component: Component) -> dict[str, Path]:
    if candidate.root.is_file():
        return {candidate.root.name: candidate.root}
    files = {}
    for path in sorted(candidate.root.rglob("*")):
        rel = path.relative_to(candidate.root).as_posix()
        if (
            path.is_file()
            and not any(part.startswith(".") for part in Path(rel).parts)
            and component.wants(rel)
        ):
            files[rel] = path
    return files


def _validate(
    candidate: ImportCandidate, component: Component, base_expectations: FolderExpectations | None
) -> None:
    root = candidate.root
    if component.role == "redux":
        _validate_redux(root, component)
        return
    if root.is_dir():
        # Per sub-folder, so that a text encoder present only as a pickle is refused as unsafe rather than
        # reported as missing; this also checks every safetensors header.
        subfolders = sorted(p for p in root.iterdir() if p.is_dir())
        for folder in subfolders:
            check_weights_folder(folder)
        if subfolders:
            for file in sorted(root.glob("*.safetensors")):
                check_safetensors_file(file)
        else:
            check_weights_folder(root)
    elif not _looks_like_flux_lora(root):
        raise ModelInvalidError(f"{root} is not a FLUX LoRA (no lora_A/lora_B keys on transformer blocks).")
    if component.layout == "diffusers":
        problems = diffusers_folder_problems(root)
        if problems:
            raise ModelInvalidError(
                f"{root} is not a complete {component.name} folder: {'; '.join(problems[:5])}."
            )
        # Headers can be sound and still not fit the config (a swapped or re-exported file): only
        # generate would notice, minutes later.
        problems = shape_problems(root)
        if problems:
            raise ModelInvalidError(
                f"{root} holds weights that do not fit its configs: {'; '.join(problems[:5])}."
            )
        if base_expectations is not None:
            # The shape alone is what a 600 KB test model has too: the published model's configs and
            # sizes decide whether this is the real base model.
            verdict = check_model_folder(root, base_expectations)
            if verdict.reason is not None:
                raise ModelInvalidError(verdict.reason)
    elif lora_path_in(root) is None:
        raise ModelInvalidError(f"{root} holds no LoRA weights in a layout we can load.")


def _validate_redux(root: Path, component: Component) -> None:
    # Only the parts the catalog takes: a snapshot may also hold BFL's single-file
    # flux1-redux-dev.safetensors, which is never copied nor loaded.
    for part in REDUX_PARTS:
        if (root / part).is_dir():
            check_weights_folder(root / part)
    problems = redux_folder_problems(root)
    if problems:
        listed = "; ".join(problems[:5])
        raise ModelInvalidError(f"{root} is not a complete {component.name} folder: {listed}.")
    problems = shape_problems(root, REDUX_WEIGHT_CLASSES)
    if problems:
        listed = "; ".join(problems[:5])
        raise ModelInvalidError(f"{root} holds weights that do not fit its configs: {listed}.")


def import_model(
    path: Path,
    *,
    mode: str = COPY,
    models_dir: Path | None = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    catalog: Catalog | None = None,
    base_expectations: FolderExpectations | None = None,
) -> ImportReport:
    """Check, hash and register what ``path`` holds; ``mode`` is ``copy`` or ``in-place``.

    Each model found is checked on its own (``base_expectations``, when given, is what a base model must
    be beyond its shape): the valid ones are registered and the others refused in the report. When none
    is valid the refusal is raised: the model's own error for one, ``ImportRejectedError`` for several.
    """
    if mode not in (COPY, IN_PLACE):
        raise ValueError(f"mode must be {COPY!r} or {IN_PLACE!r}")
    catalog = catalog or load_catalog()
    models_dir = resolve_models_dir(models_dir)
    candidates = find_importable(path, catalog)
    if not candidates:
        raise ImportRejectedError(
            f"Nothing to import was found in {path}. Choose a FLUX.1-dev diffusers folder (with "
            "model_index.json), a Hugging Face cache (models--black-forest-labs--FLUX.1-dev), a PEFT LoRA "
            "folder (adapter_config.json), a DiT360 LoRA .safetensors file (e.g. ComfyUI models/loras), a "
            "Depth Anything V2 folder (config.json and model.safetensors) or a FLUX.1 Redux folder "
            "(image_embedder/, image_encoder/, feature_extractor/)."
        )
    report = ImportReport()
    for candidate in candidates:
        component = catalog.component(candidate.component_id)
        try:
            _validate(candidate, component, base_expectations)
        except DiT360Error as e:
            log.info("Not importing %s from %s: %s", component.id, candidate.root, e)
            report.refused.append(ImportRefusal(component.id, candidate.root, e))
            continue
        files = _files_to_register(candidate, component)
        total = sum(p.stat().st_size for p in files.values())
        done = 0

        def progress(n: int, rel: str, component_id: str = component.id, total: int = total) -> None:
            nonlocal done
            done += n
            if on_progress is not None:
                on_progress(ImportProgress(component_id, rel, done, total))

        if mode == COPY:
            entry = _copy(candidate, component, files, models_dir, total, progress, should_stop)
        else:
            records = {}
            for rel, src in files.items():
                sha = hash_file(src, lambda n, rel=rel: progress(n, rel), should_stop)
                records[rel] = FileRecord(src.stat().st_size, sha)
            entry = RegistryEntry(component.id, candidate.root, SOURCE_IN_PLACE, True, None, None, records)
        update_registry(models_dir, entry)
        log.info("Imported %s from %s (%s, %s)", component.id, candidate.root, candidate.kind, mode)
        report.imported.append(entry)
    if not report.imported:
        if len(report.refused) == 1:
            raise report.refused[0].error
        raise ImportRejectedError(report.summary(catalog)) from report.refused[0].error
    return report


def _copy(
    candidate: ImportCandidate,
    component: Component,
    files: dict[str, Path],
    models_dir: Path,
    total: int,
    progress: Callable[[int, str], None],
    should_stop: Callable[[], bool] | None,
) -> RegistryEntry:
    free = free_bytes(models_dir)
    if total > free:
        raise DiskFullError(
            f"Copying {component.name} needs {format_bytes(total)} but {models_dir} has {format_bytes(free)} "
            "free. Free up space, choose another models location, or import in place."
        )
    final = models_dir / component.id
    staging = models_dir / f".importing-{component.id}"
    shutil.rmtree(staging, ignore_errors=True)
    records = {}
    try:
        for rel, src in files.items():
            sha = copy_and_hash(src, staging / rel, lambda n, rel=rel: progress(n, rel), should_stop)
            records[rel] = FileRecord(src.stat().st_size, sha)
        # Check the copy, not only the source: a failing drive can hand back different bytes.
        check_weights_folder(staging)
        if final.exists():
            shutil.rmtree(final)
        staging.replace(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    root = final / candidate.root.name if candidate.root.is_file() else final
    return RegistryEntry(
        component.id, root if candidate.root.is_file() else final, SOURCE_COPY, True, None, None, records
    )
