"""Offline model packs for studios: write the installed models to a folder, import them on another machine.

``make_pack`` copies every complete registered component into ``<output>/<component id>/`` while hashing
it (a copy that no longer matches the registry is refused), then writes the manifest last, so a folder
with a manifest is always a whole pack. ``import_pack`` checks the manifest and every file's size first,
then copies into ``<models>/.pack-import/`` hashing the bytes as they pass (one read of the pack), keeps
a journal of verified files so an interrupted import resumes where it stopped (a half-copied file
continues from its last byte), and registers each component only after all of its files matched.
The pack is only ever read, so it works from a read-only drive.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dit360_desktop import __version__
from dit360_desktop.models.catalog import Catalog, load_catalog
from dit360_desktop.models.errors import DiskFullError
from dit360_desktop.models.fsutil import atomic_write_json, format_bytes, free_bytes, read_json
from dit360_desktop.models.hashing import CHUNK, Stopped, copy_and_hash
from dit360_desktop.models.layouts import diffusers_folder_problems, lora_path_in
from dit360_desktop.models.location import resolve_models_dir
from dit360_desktop.models.pack_manifest import (
    ENTRY_FILE,
    ENTRY_FOLDER,
    FORMAT_VERSION,
    MANIFEST_NAME,
    PackComponent,
    PackDamagedError,
    PackFile,
    PackManifest,
    read_manifest,
)
from dit360_desktop.models.registry import (
    SOURCE_COPY,
    SOURCE_DOWNLOAD,
    FileRecord,
    RegistryEntry,
    component_path,
    read_registry,
    update_registry,
)
from dit360_desktop.models.verify import entry_file
from dit360_desktop.panorama.errors import DiT360Error, ModelInvalidError, ModelMissingError
from dit360_desktop.panorama.fileio import is_disk_full
from dit360_desktop.panorama.safetensors_check import check_weights_folder

log = logging.getLogger(__name__)

STAGING_DIR = ".pack-import"
README_NAME = "README.txt"
_NAMES_SHOWN = 8


class PackOutputError(DiT360Error):
    """The pack's output folder cannot be used (not empty, or a file)."""

    exit_code = 2


@dataclass(frozen=True)
class PackProgress:
    component_id: str
    path: str
    done_bytes: int
    total_bytes: int


ProgressFn = Callable[[PackProgress], None]


@dataclass(frozen=True)
class PackResult:
    path: Path
    manifest: PackManifest
    total_bytes: int


@dataclass
class PackImport:
    entries: list[RegistryEntry] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    copied_bytes: int = 0  # read from the pack in this run (less than the total after a resume)


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_NAMES_SHOWN])
    return shown + (f" and {len(items) - _NAMES_SHOWN} more" if len(items) > _NAMES_SHOWN else "")


def _disk_full(error: OSError, where: Path, advice: str) -> DiskFullError:
    return DiskFullError(f"The disk holding {where} is full ({error.strerror}). {advice}")


# --- making a pack --------------------------------------------------------------------------------------
def packable_entries(models_dir: Path | None = None, catalog: Catalog | None = None) -> list[RegistryEntry]:
    """Registered components that are complete, undamaged and loadable: what a pack holds."""
    catalog = catalog or load_catalog()
    known = {c.id: c for c in catalog.components}
    entries = []
    for component_id, entry in sorted(read_registry(models_dir).items()):
        component = known.get(component_id)
        if component is None or entry.problems or not entry.files:
            continue
        if component_path(entry, component) is not None:
            entries.append(entry)
    return entries


def make_pack(
    output: Path,
    *,
    models_dir: Path | None = None,
    components: list[str] | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    catalog: Catalog | None = None,
) -> PackResult:
    """Write an offline pack of the installed models into ``output`` (a new or empty folder)."""
    catalog = catalog or load_catalog()
    models_dir = resolve_models_dir(models_dir)
    output = Path(output).expanduser()
    entries = packable_entries(models_dir, catalog)
    if components:
        unknown = sorted(set(components) - {e.component_id for e in entries})
        if unknown:
            raise ModelMissingError(
                f"Not installed (or not complete) in {models_dir}: {', '.join(unknown)}. "
                "Only complete, verified components can be packed."
            )
        entries = [e for e in entries if e.component_id in components]
    if not entries:
        raise ModelMissingError(
            f"Nothing complete is installed in {models_dir} to pack. Download or import the models first."
        )
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise PackOutputError(f"{output} is not an empty folder; choose a new or empty folder for the pack.")
    total = sum(r.size for e in entries for r in e.files.values())
    free = free_bytes(output)
    if total > free:
        raise DiskFullError(
            f"The pack needs {format_bytes(total)} but the drive holding {output} has {format_bytes(free)} "
            "free. Choose a larger drive or fewer components."
        )
    created_output = not output.exists()
    done = 0
    packed = []
    try:
        output.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            component = catalog.component(entry.component_id)
            files: dict[str, PackFile] = {}
            for rel, record in sorted(entry.files.items()):

                def progress(n: int, rel: str = rel, cid: str = entry.component_id) -> None:
                    nonlocal done
                    done += n
                    if on_progress is not None:
                        on_progress(PackProgress(cid, rel, done, total))

                sha256 = copy_and_hash(
                    entry_file(entry, rel), output / entry.component_id / rel, progress, should_stop
                )
                if record.sha256 is not None and sha256 != record.sha256:
                    raise PackDamagedError(
                        f"The installed file {entry.component_id}/{rel} no longer matches the hash it was "
                        "installed with; run 'dit360 models verify --repair' before making a pack.",
                        files=(f"{entry.component_id}/{rel}",),
                    )
                files[rel] = PackFile(record.size, sha256, record.git_sha1)
            packed.append(
                PackComponent(
                    id=component.id,
                    name=component.name,
                    role=component.role,
                    layout=component.layout,
                    repo_id=entry.repo_id or component.repo_id,
                    revision=entry.commit,
                    licence=component.licence,
                    licence_url=component.licence_url,
                    source=entry.source,
                    entry=ENTRY_FILE if entry.path.is_file() else ENTRY_FOLDER,
                    files=files,
                )
            )
        manifest = PackManifest(
            format_version=FORMAT_VERSION,
            app_version=__version__,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            components=tuple(packed),
        )
        (output / README_NAME).write_text(_readme(manifest), encoding="utf-8")
        # Last: a folder with a manifest is a whole pack.
        atomic_write_json(output / MANIFEST_NAME, manifest.to_json())
    except BaseException as error:
        _remove_partial_pack(output, entries, created_output)
        if isinstance(error, OSError) and is_disk_full(error):
            raise _disk_full(error, output, "Nothing was left in the pack folder.") from error
        raise
    log.info("Wrote a model pack of %s to %s", ", ".join(c.id for c in packed), output)
    return PackResult(output, manifest, total)


def _remove_partial_pack(output: Path, entries: list[RegistryEntry], created_output: bool) -> None:
    for entry in entries:
        shutil.rmtree(output / entry.component_id, ignore_errors=True)
    for name in (README_NAME, MANIFEST_NAME):
        (output / name).unlink(missing_ok=True)
    if created_output:
        shutil.rmtree(output, ignore_errors=True)


def _readme(manifest: PackManifest) -> str:
    lines = [
        "DiT360 Desktop offline model pack",
        f"Made by DiT360 Desktop {manifest.app_version} on {manifest.created}.",
        "",
        "Import it on a machine without network: in the app, Models > Import from folder..., and choose",
        "this folder; or run: dit360 models import <this folder>",
        "Every file is checked against dit360-pack.json while it is copied.",
        "",
        "Components and their licences (the recipients must accept them too):",
    ]
    for c in manifest.components:
        lines.append(f"- {c.id}: {c.name} ({c.repo_id} at {c.revision or 'an unrecorded revision'})")
        lines.append(f"  licence: {c.licence} <{c.licence_url}>")
    return "\n".join(lines) + "\n"


# --- importing a pack -----------------------------------------------------------------------------------
def import_pack(
    pack_dir: Path,
    *,
    models_dir: Path | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    catalog: Catalog | None = None,
) -> PackImport:
    """Verify and copy a pack into the models folder; resumes an earlier interrupted import of it."""
    catalog = catalog or load_catalog()
    models_dir = resolve_models_dir(models_dir)
    pack_dir = Path(pack_dir).expanduser()
    manifest = read_manifest(pack_dir)
    result = PackImport()
    if manifest.format_version > FORMAT_VERSION or manifest.unknown_fields:
        result.notices.append(
            f"The pack was made by DiT360 Desktop {manifest.app_version} (pack format "
            f"{manifest.format_version}; this app reads format {FORMAT_VERSION}). Fields this version does "
            f"not know were ignored: {_names(list(manifest.unknown_fields)) or 'none'}."
        )
    known = {c.id for c in catalog.components}
    wanted = []
    for component in manifest.components:
        if component.id in known:
            wanted.append(component)
        else:
            result.notices.append(
                f"{component.id} ({component.name}) is not a component this version knows; "
                "it was not imported."
            )
    _check_pack_files(pack_dir, wanted)
    staging_root = models_dir / STAGING_DIR
    journals = {c.id: _Journal(staging_root, c) for c in wanted}
    needed = sum(j.missing_bytes() for j in journals.values())
    free = free_bytes(models_dir)
    if needed > free:
        raise DiskFullError(
            f"Importing the pack needs {format_bytes(needed)} more in {models_dir}, which has "
            f"{format_bytes(free)} free. Free up space or choose another models location, then import again."
        )
    total = sum(c.total_bytes for c in wanted)
    done = 0

    def progress(component_id: str, rel: str, n: int) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(PackProgress(component_id, rel, done, total))

    bad: list[str] = []
    for component in wanted:
        bad += _stage(pack_dir, component, journals[component.id], progress, should_stop, result)
    if bad:
        raise PackDamagedError(
            f"The pack in {pack_dir} is damaged: {_names(bad)} did not match the SHA-256 in its manifest. "
            "Nothing was registered; the files that matched are kept, so importing a good copy of the pack "
            "only copies the damaged ones again.",
            files=tuple(bad),
        )
    for component in wanted:
        entry = _register(models_dir, component, journals[component.id].staging)
        journals[component.id].remove()
        result.entries.append(entry)
    with contextlib.suppress(OSError):
        staging_root.rmdir()  # only when no other pack's import waits there to be resumed
    log.info("Imported the pack %s: %s", pack_dir, ", ".join(e.component_id for e in result.entries))
    return result


def _check_pack_files(pack_dir: Path, components: list[PackComponent]) -> None:
    """Every listed file is there with its size, before a byte is copied."""
    missing, wrong = [], []
    for component in components:
        for rel, record in component.files.items():
            path = pack_dir / component.id / rel
            try:
                size = path.stat().st_size if path.is_file() else None
            except OSError:
                size = None
            if size is None:
                missing.append(f"{component.id}/{rel}")
            elif size != record.size:
                wrong.append(f"{component.id}/{rel} ({format_bytes(size)}, not {format_bytes(record.size)})")
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"missing: {_names(missing)}")
        if wrong:
            parts.append(f"wrong size: {_names(wrong)}")
        raise PackDamagedError(
            f"The pack in {pack_dir} is incomplete ({'; '.join(parts)}). Nothing was imported; copy the "
            "whole pack again.",
            files=tuple(missing + [w.split(" (")[0] for w in wrong]),
        )


class _Journal:
    """Which files of one component are already staged and verified, and the one half-copied file."""

    def __init__(self, staging_root: Path, component: PackComponent) -> None:
        self.path = staging_root / f"{component.id}.journal.json"
        self.staging = staging_root / component.id
        data = read_json(self.path) or {}
        verified = data.get("verified") if isinstance(data, dict) else None
        # Only entries whose hash is still what this pack wants: another pack's files are copied anew.
        self.verified: dict[str, str] = {
            rel: sha
            for rel, sha in (verified or {}).items()
            if rel in component.files and component.files[rel].sha256 == sha
        }
        partial = data.get("partial") if isinstance(data, dict) else None
        self.partial = (
            partial
            if isinstance(partial, dict)
            and partial.get("path") in component.files
            and component.files[partial["path"]].sha256 == partial.get("sha256")
            else None
        )
        self.component = component
        for rel in list(self.verified):
            target = self.staging / rel
            if not target.is_file() or target.stat().st_size != component.files[rel].size:
                del self.verified[rel]

    def missing_bytes(self) -> int:
        return sum(f.size for rel, f in self.component.files.items() if rel not in self.verified)

    def save(self) -> None:
        atomic_write_json(self.path, {"verified": self.verified, "partial": self.partial})

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _stage(
    pack_dir: Path,
    component: PackComponent,
    journal: _Journal,
    progress: Callable[[str, str, int], None],
    should_stop: Callable[[], bool] | None,
    result: PackImport,
) -> list[str]:
    """Copy and verify one component's files into ``staging``; the ``component/path`` names that failed."""
    bad = []
    for rel, record in sorted(component.files.items()):
        if rel in journal.verified:
            progress(component.id, rel, record.size)
            continue
        target = journal.staging / rel
        part = target.with_name(target.name + ".part")
        offset = 0
        if journal.partial is not None and journal.partial["path"] == rel and part.is_file():
            offset = min(part.stat().st_size, record.size)
        journal.partial = {"path": rel, "sha256": record.sha256}
        try:
            journal.save()
            source = pack_dir / component.id / rel
            sha256, copied = _copy_resuming(
                source, part, offset, lambda n, rel=rel: progress(component.id, rel, n), should_stop
            )
        except OSError as e:
            if is_disk_full(e):
                raise _disk_full(
                    e,
                    journal.staging,
                    "What was copied is kept: free up space and import the pack again to resume.",
                ) from e
            raise
        result.copied_bytes += copied
        if sha256 != record.sha256:
            part.unlink(missing_ok=True)
            bad.append(f"{component.id}/{rel}")
            log.warning("Pack file %s/%s: sha256 %s, manifest %s", component.id, rel, sha256, record.sha256)
            continue
        part.replace(target)
        journal.verified[rel] = sha256
        journal.partial = None
        journal.save()
    return bad


def _copy_resuming(
    src: Path,
    part: Path,
    offset: int,
    on_bytes: Callable[[int], None],
    should_stop: Callable[[], bool] | None,
) -> tuple[str, int]:
    """Append ``src[offset:]`` to ``part`` and return (sha256 of all of ``part``, bytes read from src).

    The first ``offset`` bytes are hashed from the local partial copy, never read from the pack again.
    """
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    part.parent.mkdir(parents=True, exist_ok=True)
    if offset:
        with part.open("rb", buffering=0) as existing:
            remaining = offset
            while remaining and (n := existing.readinto(view[: min(CHUNK, remaining)])):
                digest.update(view[:n])
                remaining -= n
                on_bytes(n)
    copied = 0
    with src.open("rb", buffering=0) as reader, part.open("r+b" if offset else "wb") as writer:
        reader.seek(offset)
        writer.seek(offset)
        writer.truncate()
        while n := reader.readinto(buffer):
            digest.update(view[:n])
            writer.write(view[:n])
            copied += n
            on_bytes(n)
            if should_stop is not None and should_stop():
                raise Stopped(str(src))
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest(), copied


def _prune(staging: Path, component: PackComponent) -> None:
    """Remove staged files the manifest does not list (left by an import of another pack)."""
    for path in sorted(staging.rglob("*"), reverse=True):
        rel = path.relative_to(staging).as_posix()
        if path.is_file() and rel not in component.files:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _register(models_dir: Path, component: PackComponent, staging: Path) -> RegistryEntry:
    """Check the staged folder, move it into place and register it; undone if registering fails."""
    _prune(staging, component)
    check_weights_folder(staging)
    if component.layout == "diffusers":
        problems = diffusers_folder_problems(staging)
        if problems:
            raise ModelInvalidError(
                f"{component.name} in the pack is not loadable: {'; '.join(problems[:5])}."
            )
    elif component.layout == "lora" and lora_path_in(staging) is None:
        raise ModelInvalidError(
            f"{component.name} in the pack holds no LoRA weights in a layout we can load."
        )
    final = models_dir / component.id
    replaced = models_dir / STAGING_DIR / f"{component.id}.replaced"
    shutil.rmtree(replaced, ignore_errors=True)
    if final.exists():
        final.replace(replaced)
    staging.replace(final)
    path = final / next(iter(component.files)) if component.entry == ENTRY_FILE else final
    # A component downloaded on the making machine is the hub's files at that commit: registered as a
    # download, ``models verify --repair`` can fetch a damaged file again once a network is there.
    downloaded = component.source == SOURCE_DOWNLOAD and component.repo_id and component.revision
    entry = RegistryEntry(
        component_id=component.id,
        path=path,
        source=SOURCE_DOWNLOAD if downloaded else SOURCE_COPY,
        complete=True,
        repo_id=component.repo_id if downloaded else None,
        commit=component.revision if downloaded else None,
        files={rel: FileRecord(f.size, f.sha256, f.git_sha1) for rel, f in component.files.items()},
    )
    try:
        update_registry(models_dir, entry)
    except BaseException as error:
        final.replace(staging)
        if replaced.exists():
            replaced.replace(final)
        if isinstance(error, OSError) and is_disk_full(error):
            raise _disk_full(
                error, models_dir, f"{component.id} was not registered; free up space and import again."
            ) from error
        raise
    shutil.rmtree(replaced, ignore_errors=True)
    return entry
