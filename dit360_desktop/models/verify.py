"""Verify & repair: re-hash installed files against the registry, re-download only the bad ones."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from dit360_desktop.models.catalog import Catalog, load_catalog
from dit360_desktop.models.downloads import DownloadManager, DownloadReport
from dit360_desktop.models.hashing import hash_file
from dit360_desktop.models.layouts import find_in_hf_cache
from dit360_desktop.models.location import hf_hub_cache_dir, resolve_models_dir
from dit360_desktop.models.registry import RegistryEntry, modify_entry, read_registry
from dit360_desktop.panorama.errors import ModelInvalidError
from dit360_desktop.panorama.safetensors_check import check_safetensors_file

log = logging.getLogger(__name__)

OK, CORRUPT, MISSING = "ok", "corrupt", "missing"
_SHA256_NAME = re.compile(r"[0-9a-f]{64}")
_SHA1_NAME = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class FileCheck:
    component_id: str
    path: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class VerifyProgress:
    component_id: str
    path: str
    done_bytes: int
    total_bytes: int


def entry_file(entry: RegistryEntry, rel_path: str) -> Path:
    """Where a registered file lives: a single-file LoRA is registered as the file itself."""
    if entry.path.suffix == ".safetensors" and entry.path.name == rel_path:
        return entry.path
    return entry.path / rel_path


def verify_entry(
    entry: RegistryEntry,
    on_progress: Callable[[VerifyProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[FileCheck]:
    total = sum(r.size for r in entry.files.values())
    done = 0
    checks = []
    for rel_path, record in sorted(entry.files.items()):
        path = entry_file(entry, rel_path)

        def progress(n: int, rel_path: str = rel_path) -> None:
            nonlocal done
            done += n
            if on_progress is not None:
                on_progress(VerifyProgress(entry.component_id, rel_path, done, total))

        checks.append(
            _check_file(entry.component_id, rel_path, path, record.size, record.sha256, progress, should_stop)
        )
    return checks


def _check_file(
    component_id: str,
    rel_path: str,
    path: Path,
    size: int,
    sha256: str | None,
    progress: Callable[[int], None],
    should_stop: Callable[[], bool] | None,
) -> FileCheck:
    if not path.is_file():
        return FileCheck(component_id, rel_path, MISSING, f"{path} is missing")
    actual_size = path.stat().st_size
    if actual_size != size:
        return FileCheck(component_id, rel_path, CORRUPT, f"{path} has {actual_size} bytes, expected {size}")
    if sha256 is not None:
        actual = hash_file(path, progress, should_stop)
        if actual != sha256:
            return FileCheck(
                component_id, rel_path, CORRUPT, f"{path} has sha256 {actual[:12]}…, expected {sha256[:12]}…"
            )
    else:
        progress(size)
    if path.suffix == ".safetensors":
        try:
            check_safetensors_file(path)
        except ModelInvalidError as e:
            return FileCheck(component_id, rel_path, CORRUPT, str(e))
    return FileCheck(component_id, rel_path, OK)


def verify_installed(
    component_ids: Iterable[str] | None = None,
    models_dir: Path | None = None,
    *,
    on_progress: Callable[[VerifyProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    catalog: Catalog | None = None,
) -> list[FileCheck]:
    """Re-hash every registered file, and the HF-cache copies in use. A component with a bad file is
    marked incomplete so it is not loaded."""
    models_dir = resolve_models_dir(models_dir)
    catalog = catalog or load_catalog()
    registry = read_registry(models_dir)
    if component_ids is None:
        ids = sorted(set(registry) | {c.id for c in catalog.default_components})
    else:
        ids = list(component_ids)
    checks: list[FileCheck] = []
    for component_id in ids:
        entry = registry.get(component_id)
        if entry is None:
            component = catalog.component(component_id)
            cached = find_in_hf_cache(hf_hub_cache_dir(), component.repo_ids, component.layout)
            if cached is not None:
                checks.extend(_verify_hf_cache_copy(component_id, cached, on_progress, should_stop))
            elif component_ids is not None:
                checks.append(FileCheck(component_id, "", MISSING, f"{component_id} is not installed"))
            continue
        found = verify_entry(entry, on_progress, should_stop)
        checks.extend(found)
        bad = tuple(c.path for c in found if c.status != OK)
        if bad or entry.problems:
            # An entry with a bad file stays registered (for repair) but is no longer handed to the engine.
            modify_entry(
                models_dir,
                component_id,
                lambda old, bad=bad: _after_verify(old, bad),
            )
    return checks


def _verify_hf_cache_copy(
    component_id: str,
    location: Path,
    on_progress: Callable[[VerifyProgress], None] | None,
    should_stop: Callable[[], bool] | None,
) -> list[FileCheck]:
    """The HF cache names each blob after its content: sha256 for LFS files, git's blob id otherwise."""
    snapshot = location.parent if location.is_file() else location
    links = sorted(p for p in snapshot.rglob("*") if p.is_file() or p.is_symlink())
    total = sum(p.stat().st_size for p in links if p.exists())
    done = 0
    advice = "Delete it from the Hugging Face cache ('hf cache delete') and download it again."
    checks = []
    for link in links:
        rel = link.relative_to(snapshot).as_posix()
        if not link.exists():
            checks.append(FileCheck(component_id, rel, MISSING, f"{link} points to a missing blob. {advice}"))
            continue
        blob = link.resolve().name

        def progress(n: int, rel: str = rel) -> None:
            nonlocal done
            done += n
            if on_progress is not None:
                on_progress(VerifyProgress(component_id, rel, done, total))

        if _SHA256_NAME.fullmatch(blob):
            actual = hash_file(link, progress, should_stop)
        elif _SHA1_NAME.fullmatch(blob):
            actual = _git_blob_id(link)
            progress(link.stat().st_size)
        else:
            checks.append(FileCheck(component_id, rel, OK, "not content-addressed; size only"))
            continue
        status = OK if actual == blob else CORRUPT
        detail = "" if status == OK else f"{link} does not match its blob name {blob[:12]}…. {advice}"
        checks.append(FileCheck(component_id, rel, status, detail))
    return checks


def _git_blob_id(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()


def _after_verify(old: RegistryEntry | None, bad: tuple[str, ...]) -> RegistryEntry | None:
    if old is None:
        return None
    # "problems" remembers that the entry was complete before a verify found damage, so a clean verify
    # after a manual fix makes it usable again; a half-finished download stays incomplete.
    was_complete = old.complete or bool(old.problems)
    return replace(old, complete=was_complete and not bad, problems=bad)


def split_repairable(
    checks: Iterable[FileCheck], models_dir: Path | None = None
) -> tuple[list[FileCheck], list[FileCheck]]:
    """(bad files repair can fetch again, bad files it cannot: HF-cache copies, owned by huggingface_hub)."""
    registry = read_registry(models_dir)
    bad = [c for c in checks if c.status != OK]
    return [c for c in bad if c.component_id in registry], [c for c in bad if c.component_id not in registry]


def repair(
    checks: Iterable[FileCheck],
    models_dir: Path | None = None,
    *,
    manager: DownloadManager | None = None,
    catalog: Catalog | None = None,
) -> DownloadReport:
    """Delete the bad files (nothing corrupt stays at a final path) and download only those again."""
    models_dir = resolve_models_dir(models_dir)
    catalog = catalog or load_catalog()
    bad: dict[str, set[str]] = {}
    for check in checks:
        if check.status != OK and check.path:
            bad.setdefault(check.component_id, set()).add(check.path)
    if not bad:
        return DownloadReport()
    registry = read_registry(models_dir)
    # Copies found in the HF cache belong to huggingface_hub; they are reported, not rewritten.
    bad = {k: v for k, v in bad.items() if k in registry}
    if not bad:
        return DownloadReport()
    for component_id, paths in bad.items():
        entry = registry[component_id]
        for rel_path in paths:
            path = entry_file(entry, rel_path)
            log.info("Removing damaged %s before downloading it again", path)
            path.unlink(missing_ok=True)

        def drop(old: RegistryEntry | None, paths: set[str] = paths) -> RegistryEntry | None:
            if old is None:
                return None
            files = {k: v for k, v in old.files.items() if k not in paths}
            return replace(old, complete=False, files=files, problems=())

        modify_entry(models_dir, component_id, drop)
    manager = manager or DownloadManager(models_dir, catalog=catalog)
    return manager.download(sorted(bad), pinned=True)
