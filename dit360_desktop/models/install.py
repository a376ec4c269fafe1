"""Registry bookkeeping for downloads: one verified file at a time, then the whole component."""

from __future__ import annotations

import logging
from pathlib import Path

from dit360_desktop.models.catalog import Component
from dit360_desktop.models.hub import RemoteFile, RemoteSnapshot
from dit360_desktop.models.layouts import diffusers_folder_problems, lora_path_in
from dit360_desktop.models.registry import SOURCE_DOWNLOAD, FileRecord, RegistryEntry, modify_entry
from dit360_desktop.panorama.errors import ModelInvalidError
from dit360_desktop.panorama.safetensors_check import check_weights_folder

log = logging.getLogger(__name__)


def record_file(
    models_dir: Path, component: Component, snapshot: RemoteSnapshot, install_dir: Path, remote: RemoteFile,
    sha256: str,
) -> None:  # fmt: skip
    """Note a verified file in place, so a restart does not fetch it again. The entry stays incomplete."""
    record = FileRecord(remote.size, sha256, remote.git_sha1)

    def change(old: RegistryEntry | None) -> RegistryEntry:
        keep = old is not None and old.path == install_dir
        files = dict(old.files) if keep and old is not None else {}
        files[remote.path] = record
        return RegistryEntry(
            component_id=component.id,
            path=install_dir,
            # A repair into an imported folder keeps its source (copy / in-place).
            source=old.source if keep and old is not None else SOURCE_DOWNLOAD,
            complete=False,
            repo_id=snapshot.repo_id,
            commit=snapshot.commit,
            files=files,
        )

    modify_entry(models_dir, component.id, change)


def complete_component(
    models_dir: Path, component: Component, snapshot: RemoteSnapshot, install_dir: Path
) -> RegistryEntry | None:
    """All files are in place: check the folder shape and every safetensors header, then mark it ready.

    Raises ModelInvalidError (or UnsafeFileError) when the folder is not loadable.
    """
    if component.layout == "diffusers":
        problems = diffusers_folder_problems(install_dir)
        if problems:
            raise ModelInvalidError(
                f"{component.name} in {install_dir} is incomplete: {'; '.join(problems[:5])}. "
                "Run the download again."
            )
    elif component.layout == "lora" and lora_path_in(install_dir) is None:
        raise ModelInvalidError(f"{install_dir} holds no LoRA weights after the download. Run it again.")
    check_weights_folder(install_dir)
    wanted = {f.path for f in snapshot.files}

    def change(old: RegistryEntry | None) -> RegistryEntry:
        keep = old is not None and old.path == install_dir
        source = old.source if keep and old is not None else SOURCE_DOWNLOAD
        files = dict(old.files) if keep and old is not None else {}
        if source == SOURCE_DOWNLOAD:
            files = {k: v for k, v in files.items() if k in wanted}
        return RegistryEntry(
            component_id=component.id,
            path=install_dir,
            source=source,
            complete=True,
            repo_id=snapshot.repo_id,
            commit=snapshot.commit,
            files=files,
        )

    entry = modify_entry(models_dir, component.id, change)
    if entry is not None:
        for stale in sorted(set(entry.files) - wanted):
            log.info("%s: %s is not part of %s at %s", component.id, stale, snapshot.repo_id, snapshot.commit)
    return entry
