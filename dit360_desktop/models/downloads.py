"""The download queue: plans components from the hub listing, runs 2-4 files at once, persists itself.

The queue (``<models dir>/.downloads/queue.json``) survives restarts, so ``download`` with no arguments
carries on with whatever was left; partial files sit under ``.downloads/`` until verified and moved into
the component folder. Tokens are never written to disk here.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dit360_desktop.models.catalog import Catalog, Component, load_catalog
from dit360_desktop.models.errors import DiskFullError, DownloadCancelled
from dit360_desktop.models.fsutil import format_bytes, free_bytes
from dit360_desktop.models.hashing import hash_file
from dit360_desktop.models.hub import (
    MetadataRetry,
    RemoteFile,
    RemoteSnapshot,
    file_url,
    normalise_endpoint,
    resolve_snapshot,
    token_and_source,
)
from dit360_desktop.models.install import complete_component, record_file
from dit360_desktop.models.location import resolve_models_dir
from dit360_desktop.models.queue_file import QueueFile
from dit360_desktop.models.registry import (
    RegistryEntry,
    read_registry,
)
from dit360_desktop.models.transfer import FileControl, FileJob, TransferSettings, download_file
from dit360_desktop.panorama.errors import DiT360Error

log = logging.getLogger(__name__)

PARTIAL_DIR = ".downloads"
QUEUE_FILE = "queue.json"

QUEUED, DOWNLOADING, VERIFYING, DONE, PAUSED, CANCELLED, FAILED = (
    "queued",
    "downloading",
    "verifying",
    "done",
    "paused",
    "cancelled",
    "failed",
)


@dataclass(frozen=True)
class FileProgress:
    """One file's state for the UI and the CLI: plain values only."""

    component_id: str
    path: str
    state: str
    done_bytes: int
    total_bytes: int
    speed_bps: float = 0.0
    eta_s: float | None = None
    message: str = ""


@dataclass(frozen=True)
class ComponentPlan:
    component: Component
    snapshot: RemoteSnapshot
    install_dir: Path
    pending: tuple[RemoteFile, ...]
    remaining_bytes: int  # pending bytes not yet in .part files


@dataclass
class DownloadReport:
    completed: list[str] = field(default_factory=list)
    files_downloaded: int = 0
    bytes_received: int = 0
    failures: list[tuple[str, DiT360Error]] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.paused and not self.cancelled


def install_dir_for(models_dir: Path, component_id: str) -> Path:
    return models_dir / component_id


def partial_path(models_dir: Path, component_id: str, repo_path: str) -> Path:
    return models_dir / PARTIAL_DIR / component_id / (repo_path + ".part")


def _file_in_place(entry: RegistryEntry | None, install_dir: Path, remote: RemoteFile) -> bool:
    """True when a verified copy of ``remote`` already sits at its final path."""
    if entry is None or entry.path != install_dir:
        return False
    record = entry.files.get(remote.path)
    if record is None or record.size != remote.size:
        return False
    if remote.sha256 is not None and record.sha256 != remote.sha256:
        return False
    if remote.git_sha1 is not None and record.git_sha1 not in (None, remote.git_sha1):
        return False
    target = install_dir / remote.path
    return target.is_file() and target.stat().st_size == remote.size


def _digest_if_matching(path: Path, remote: RemoteFile) -> str | None:
    """The file's sha256 when its bytes are the hub's (LFS sha256, or git blob id), else None."""
    if remote.sha256 is None and remote.git_sha1 is None:
        return None  # nothing to compare with: fetch it
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size != remote.size:
            return None
        sha256 = hash_file(path)
        if remote.sha256 is not None:
            return sha256 if sha256 == remote.sha256 else None
        blob = hashlib.sha1(f"blob {remote.size}\0".encode())
        blob.update(path.read_bytes())
        return sha256 if blob.hexdigest() == remote.git_sha1 else None
    except OSError as e:
        log.warning("Could not check %s against the hub (%s); it will be fetched again", path, e)
        return None


class _Speed:
    """Bytes per second over a sliding few seconds, for a steady speed and ETA readout."""

    def __init__(self, window_s: float = 3.0) -> None:
        self._window = window_s
        self._samples: list[tuple[float, int]] = []

    def add(self, received: int) -> float:
        now = time.monotonic()
        self._samples.append((now, received))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window:
            self._samples.pop(0)
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


class DownloadManager:
    """Plans and runs downloads; ``pause``/``resume``/``cancel``/``set_endpoint`` may come from any thread."""

    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        settings: TransferSettings | None = None,
        max_parallel: int = 3,
        on_progress: Callable[[FileProgress], None] | None = None,
        catalog: Catalog | None = None,
        metadata_retry: MetadataRetry | None = None,
    ) -> None:
        self.models_dir = resolve_models_dir(models_dir)
        self.catalog = catalog or load_catalog()
        # Resolved once, here, so the metadata calls and every file transfer send the same token.
        self.token, self.token_source = token_and_source(token)
        log.info("Hub token: %s", self.token_source)
        self.settings = settings or TransferSettings()
        self.max_parallel = max(1, min(4, max_parallel))
        self.on_progress = on_progress or (lambda _p: None)
        self.metadata_retry = metadata_retry  # None: hub.DEFAULT_METADATA_RETRY
        # Set by pause_all: while planning no file has a FileControl yet, so this is what cuts short the
        # wait before a metadata retry.
        self._planning_stop = threading.Event()
        self._queue = QueueFile(self.models_dir / PARTIAL_DIR / QUEUE_FILE)
        self._endpoint = normalise_endpoint(endpoint or self._queue.endpoint())
        self._lock = threading.Lock()
        self._controls: dict[tuple[str, str], FileControl] = {}
        self._work: queue.Queue[tuple[ComponentPlan, RemoteFile] | None] | None = None
        self._plans: dict[str, ComponentPlan] = {}
        self._left: dict[str, set[str]] = {}
        self._active = 0

    # --- endpoint and persistent queue ----------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return self._endpoint

    def set_endpoint(self, endpoint: str | None) -> None:
        """Switch mirrors; files not started yet, and the next attempt of running ones, use the new one."""
        with self._lock:
            self._endpoint = normalise_endpoint(endpoint)
        self._queue.edit(lambda _data: None, endpoint=self._endpoint)  # records the new endpoint

    def queued_components(self) -> list[str]:
        return self._queue.components()

    def paused_files(self) -> dict[str, list[str]]:
        return self._queue.paused()

    def _set_paused(self, component_id: str, path: str, paused: bool) -> None:
        self._queue.set_paused(component_id, path, paused, endpoint=self._endpoint)

    def clear_paused(self, component_ids: Iterable[str] | None = None) -> None:
        """Forget pause marks (all, or for some components) so the next run fetches those files too."""
        self._queue.clear_paused(component_ids, endpoint=self._endpoint)

    def _dequeue(self, component_id: str) -> None:
        self._queue.remove(component_id, endpoint=self._endpoint)

    # --- planning --------------------------------------------------------------------------------------
    def plan(self, component_ids: Iterable[str], *, pinned: bool = False) -> list[ComponentPlan]:
        """Ask the hub for each component's files (auth first) and work out what is left to fetch.

        ``pinned`` keeps an installed component at the commit it was installed from (repair), instead of
        the catalog's revision (usually ``main``).
        """
        self._planning_stop.clear()
        plans = []
        registry = read_registry(self.models_dir)
        for component_id in component_ids:
            component = self.catalog.component(component_id)
            if not component.supported:
                raise ValueError(
                    f"{component.name} is listed for a future engine version and cannot be downloaded yet."
                )
            entry = registry.get(component_id)
            revision = entry.commit if pinned and entry is not None and entry.commit else None
            snapshot = resolve_snapshot(
                component,
                endpoint=self._endpoint,
                token=self.token,
                revision=revision,
                retry=self.metadata_retry,
                stop=self._planning_stop,
            )
            if self._planning_stop.is_set():
                # Stopped while that request was in flight: its answer arrived, but nothing may start.
                raise DownloadCancelled(
                    f"Stopped while asking the hub about {component.repo_id}; nothing was downloaded. "
                    "Start the download again to continue.",
                    paused=True,
                )
            # Files go where the component already is (a repair of an imported folder included), unless
            # it was registered as a single LoRA file.
            install_dir = entry.path if entry is not None and entry.path.is_dir() else None
            install_dir = install_dir or install_dir_for(self.models_dir, component_id)
            pending = tuple(
                f
                for f in snapshot.files
                if not _file_in_place(entry, install_dir, f)
                and not self._adopt_verified(component, snapshot, install_dir, entry, f)
            )
            remaining = 0
            for remote in pending:
                part = partial_path(self.models_dir, component_id, remote.path)
                have = part.stat().st_size if part.exists() else 0
                remaining += max(remote.size - have, 0)
            plans.append(ComponentPlan(component, snapshot, install_dir, pending, remaining))
        return plans

    def _adopt_verified(
        self,
        component: Component,
        snapshot: RemoteSnapshot,
        install_dir: Path,
        entry: RegistryEntry | None,
        remote: RemoteFile,
    ) -> bool:
        """A file already at its place but not known to the registry (a rebuilt or lost registry): hash
        it and keep it when it matches the hub, instead of fetching it again."""
        record = entry.files.get(remote.path) if entry is not None and entry.path == install_dir else None
        if record is not None and record.sha256 is not None:
            return False  # known and hashed: _file_in_place already judged it
        sha256 = _digest_if_matching(install_dir / remote.path, remote)
        if sha256 is None:
            return False
        log.info(
            "%s/%s is already in place and matches the hub; not fetched again", component.id, remote.path
        )
        record_file(self.models_dir, component, snapshot, install_dir, remote, sha256)
        return True

    def check_disk(self, plans: Iterable[ComponentPlan]) -> None:
        """Refuse to start when the remaining bytes plus the margin do not fit; the message has numbers."""
        needed = sum(p.remaining_bytes for p in plans)
        if needed == 0:
            return
        free = free_bytes(self.models_dir)
        margin = self.settings.disk_margin_bytes
        if needed + margin > free:
            raise DiskFullError(
                f"Not enough free space in {self.models_dir}: the download needs {format_bytes(needed)} more "
                f"(plus a {format_bytes(margin)} margin) but only {format_bytes(free)} is free. "
                "Free up space or choose another models location."
            )

    # --- running ---------------------------------------------------------------------------------------
    def download(self, component_ids: Iterable[str] | None = None, *, pinned: bool = False) -> DownloadReport:
        """Download the components (default: the saved queue, else the catalog's supported set). Blocks."""
        ids = list(component_ids) if component_ids is not None else self.queued_components()
        if not ids:
            ids = [c.id for c in self.catalog.default_components]
        self._queue.add(ids, endpoint=self._endpoint)
        plans = self.plan(ids, pinned=pinned)
        self.check_disk(plans)
        report = DownloadReport()
        paused = self.paused_files()
        work: queue.Queue[tuple[ComponentPlan, RemoteFile] | None] = queue.Queue()
        with self._lock:
            self._work = work
            self._plans = {p.component.id: p for p in plans}
            self._left = {p.component.id: {f.path for f in p.pending} for p in plans}
        for plan in plans:
            for remote in plan.pending:
                was_paused = remote.path in paused.get(plan.component.id, [])
                state = PAUSED if was_paused else QUEUED
                self._emit(plan, remote, state, self._part_size(plan, remote))
                if not was_paused:
                    work.put((plan, remote))
                else:
                    report.paused.append(f"{plan.component.id}: {remote.path}")
        for plan in plans:
            if not plan.pending:
                self._finish_component(plan, report)
        workers = [
            threading.Thread(
                target=self._worker, args=(work, report), name=f"dit360-download-{i}", daemon=True
            )
            for i in range(self.max_parallel)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        with self._lock:
            self._work = None
        return report

    def _part_size(self, plan: ComponentPlan, remote: RemoteFile) -> int:
        part = partial_path(self.models_dir, plan.component.id, remote.path)
        return part.stat().st_size if part.exists() else 0

    def _worker(self, work: queue.Queue, report: DownloadReport) -> None:
        while True:
            with self._lock:
                try:
                    item = work.get_nowait()
                except queue.Empty:
                    item = None
                if item is None and self._active == 0:
                    return
                if item is not None:
                    self._active += 1
            if item is None:
                time.sleep(0.05)  # another worker is busy and may hand work back through resume()
                continue
            try:
                self._run_file(*item, report)
            finally:
                with self._lock:
                    self._active -= 1

    def _run_file(self, plan: ComponentPlan, remote: RemoteFile, report: DownloadReport) -> None:
        component_id = plan.component.id
        control = FileControl()
        with self._lock:
            self._controls[(component_id, remote.path)] = control
        snapshot = plan.snapshot

        def url_for() -> tuple[str, str]:
            endpoint = self._endpoint
            return file_url(endpoint, snapshot.repo_id, snapshot.commit, remote.path), endpoint

        job = FileJob(
            label=f"{component_id}: {remote.path}",
            dest=plan.install_dir / remote.path,
            part=partial_path(self.models_dir, component_id, remote.path),
            size=remote.size,
            sha256=remote.sha256,
            git_sha1=remote.git_sha1,
            url_for=url_for,
            token=self.token,
        )
        speed = _Speed()

        def progress(done: int, received: int) -> None:
            bps = speed.add(received)
            eta = (remote.size - done) / bps if bps > 0 else None
            self._emit(plan, remote, DOWNLOADING, done, bps, eta)

        def already_done() -> bool:
            entry = read_registry(self.models_dir).get(component_id)
            return _file_in_place(entry, plan.install_dir, remote)

        try:
            result = download_file(job, self.settings, control, progress, already_done=already_done)
        except DownloadCancelled as e:
            state = PAUSED if e.paused else CANCELLED
            self._set_paused(component_id, remote.path, e.paused)
            (report.paused if e.paused else report.cancelled).append(job.label)
            self._emit(plan, remote, state, self._part_size(plan, remote), message=str(e))
            return
        except DiT360Error as e:
            report.failures.append((job.label, e))
            self._emit(plan, remote, FAILED, self._part_size(plan, remote), message=str(e))
            if isinstance(e, DiskFullError):
                # Every other file writes to the same drive: stop them too, keeping their .part files.
                self.pause_all()
            return
        finally:
            with self._lock:
                self._controls.pop((component_id, remote.path), None)
        report.files_downloaded += 1 if result.sha256 else 0
        report.bytes_received += result.received_bytes
        if result.sha256 is not None:
            record_file(
                self.models_dir, plan.component, plan.snapshot, plan.install_dir, remote, result.sha256
            )
        self._emit(plan, remote, DONE, remote.size)
        with self._lock:
            left = self._left.get(component_id, set())
            left.discard(remote.path)
            last = not left
        if last:
            self._finish_component(plan, report)

    def _finish_component(self, plan: ComponentPlan, report: DownloadReport) -> None:
        """All files are in place: check the folder shape and every safetensors header, then mark it ready."""
        component = plan.component
        for remote in plan.snapshot.files:
            self._emit(plan, remote, VERIFYING, remote.size)
        try:
            complete_component(self.models_dir, component, plan.snapshot, plan.install_dir)
        except DiT360Error as e:
            report.failures.append((component.id, e))
            for remote in plan.snapshot.files:
                self._emit(plan, remote, FAILED, remote.size, message=str(e))
            return
        self._dequeue(component.id)
        partial_root = self.models_dir / PARTIAL_DIR / component.id
        if partial_root.is_dir() and not any(partial_root.rglob("*.part")):
            shutil.rmtree(partial_root, ignore_errors=True)  # only lock files are left
        report.completed.append(component.id)
        for remote in plan.snapshot.files:
            self._emit(plan, remote, DONE, remote.size)

    def _emit(
        self,
        plan: ComponentPlan,
        remote: RemoteFile,
        state: str,
        done: int,
        speed: float = 0.0,
        eta: float | None = None,
        message: str = "",
    ) -> None:
        self.on_progress(
            FileProgress(plan.component.id, remote.path, state, done, remote.size, speed, eta, message)
        )

    # --- control ---------------------------------------------------------------------------------------
    def _matching(self, component_id: str, path: str | None) -> list[FileControl]:
        with self._lock:
            return [c for (cid, p), c in self._controls.items() if cid == component_id and path in (None, p)]

    def pause(self, component_id: str, path: str | None = None) -> None:
        for control in self._matching(component_id, path):
            control.pause()
        plan = self._plans.get(component_id)
        if plan is not None:
            for remote in plan.pending:
                if path in (None, remote.path) and self._take_queued(component_id, remote.path):
                    self._set_paused(component_id, remote.path, True)
                    self._emit(plan, remote, PAUSED, self._part_size(plan, remote))

    def pause_all(self) -> None:
        self._planning_stop.set()
        for component_id in list(self._plans):
            self.pause(component_id)

    def resume(self, component_id: str, path: str | None = None) -> bool:
        """Un-pause; True when a running download picked the files up, False when a new run is needed."""
        files = self.paused_files().get(component_id, [])
        targets = [p for p in files if path in (None, p)]
        for target in targets:
            self._set_paused(component_id, target, False)
        with self._lock:
            work, plan = self._work, self._plans.get(component_id)
        if work is None or plan is None:
            return False
        for remote in plan.pending:
            if remote.path in targets:
                self._emit(plan, remote, QUEUED, self._part_size(plan, remote))
                work.put((plan, remote))
        return True

    def cancel(self, component_id: str, path: str | None = None) -> None:
        """Stop and delete the partial files; a whole-component cancel also drops it from the queue."""
        for control in self._matching(component_id, path):
            control.cancel()
        plan = self._plans.get(component_id)
        for remote in plan.pending if plan else ():
            if path in (None, remote.path) and self._take_queued(component_id, remote.path):
                partial = partial_path(self.models_dir, component_id, remote.path)
                partial.unlink(missing_ok=True)
                partial.with_name(partial.name + ".json").unlink(missing_ok=True)
                self._emit(plan, remote, CANCELLED, 0)
        if path is None:
            self._dequeue(component_id)
        else:
            self._set_paused(component_id, path, False)

    def discard(self, component_id: str) -> None:
        """Outside a run: delete a component's partial files and drop it from the saved queue."""
        shutil.rmtree(self.models_dir / PARTIAL_DIR / component_id, ignore_errors=True)
        self._dequeue(component_id)

    def _take_queued(self, component_id: str, path: str) -> bool:
        """Remove a not-yet-started file from the work queue; True when it was there."""
        with self._lock:
            work = self._work
            if work is None:
                return False
            with work.mutex:
                for item in list(work.queue):
                    if item is not None and item[0].component.id == component_id and item[1].path == path:
                        work.queue.remove(item)
                        return True
        return False


def partial_bytes(models_dir: Path | None = None) -> int:
    """Bytes held in unfinished .part files (shown next to disk usage)."""
    root = resolve_models_dir(models_dir) / PARTIAL_DIR
    return sum(p.stat().st_size for p in root.rglob("*.part")) if root.is_dir() else 0
