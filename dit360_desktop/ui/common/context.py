"""What a feature of the window receives: the services it uses, never the window.

A feature (``ui.editing``, ``ui.gallery``, ``ui.cluster``) is built with an ``AppContext`` and reaches the
rest of the app only through it: the job queue, the form, the settings, the viewer, the status line, the
history hub, the menus and the docks. Features never import each other (the import-linter
``independence`` contract in pyproject.toml checks it); what one offers another travels through these
services and their signals. ``MainWindow`` builds the context and connects the hub's requests to the
features that answer them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QWidget

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.settings import Settings
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.common.jobs import (
    DepthJob,
    ErrorReport,
    JobInfo,
    JobStatus,
    RepairJob,
    StereoJob,
    UpscaleJob,
)

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from dit360_desktop.ui.common.camera import PanoramaCamera
    from dit360_desktop.ui.common.overlay import ViewerOverlay
    from dit360_desktop.ui.menus import Menus


class QueueBackend(Protocol):
    """What ``JobQueue`` needs of the generation worker."""

    def enqueue(self, request: GenerationRequest) -> int: ...
    def enqueue_many(self, requests: list[GenerationRequest]) -> list[int]: ...
    def enqueue_repair(self, repair: RepairJob, request: GenerationRequest) -> int: ...
    def enqueue_upscale(self, upscale: UpscaleJob, request: GenerationRequest) -> int: ...
    def enqueue_depth(self, depth: DepthJob, request: GenerationRequest) -> int: ...
    def enqueue_stereo(self, stereo: StereoJob, request: GenerationRequest) -> int: ...
    def remove(self, job_id: int) -> bool: ...
    def snapshot(self) -> list[JobInfo]: ...


class JobQueue(QObject):
    """The one generation queue as features use it.

    Every way in runs ``before_enqueue`` first (the window remembers the form and starts the generation
    thread), so a job queued by the edit panel or the gallery behaves as one queued by Generate.
    """

    result_ready = Signal(object)  # FinishedJob, once the window has shown it
    job_finished = Signal(object)  # FinishedJob, as the worker reports it (before the window shows it)

    def __init__(self, backend: QueueBackend, before_enqueue: Callable[[], None]) -> None:
        super().__init__()
        self._backend = backend
        self._before_enqueue = before_enqueue

    def enqueue(self, request: GenerationRequest) -> int:
        self._before_enqueue()
        return self._backend.enqueue(request)

    def enqueue_many(self, requests: list[GenerationRequest]) -> list[int]:
        self._before_enqueue()
        return self._backend.enqueue_many(requests)

    def enqueue_repair(self, repair: RepairJob, request: GenerationRequest) -> int:
        self._before_enqueue()
        return self._backend.enqueue_repair(repair, request)

    def enqueue_upscale(self, upscale: UpscaleJob, request: GenerationRequest) -> int:
        self._before_enqueue()
        return self._backend.enqueue_upscale(upscale, request)

    def enqueue_depth(self, depth: DepthJob, request: GenerationRequest) -> int:
        self._before_enqueue()
        return self._backend.enqueue_depth(depth, request)

    def enqueue_stereo(self, stereo: StereoJob, request: GenerationRequest) -> int:
        self._before_enqueue()
        return self._backend.enqueue_stereo(stereo, request)

    def remove(self, job_id: int) -> bool:
        return self._backend.remove(job_id)

    def waiting(self) -> list[JobInfo]:
        return [job for job in self._backend.snapshot() if job.status is JobStatus.QUEUED]


class PanoramaSurface(Protocol):
    """What the editing tools use of the viewer widget (the GL viewer or its CPU fallback)."""

    camera: PanoramaCamera
    panorama: np.ndarray | None
    input: Any
    edit_mask_rows_changed: Any  # Signal(int, int)

    def set_panorama(self, image: np.ndarray) -> None: ...
    def set_preview(self, image: np.ndarray) -> None: ...
    def add_overlay(self, overlay: ViewerOverlay) -> None: ...
    def remove_overlay(self, overlay: ViewerOverlay) -> None: ...
    def request_frame(self) -> None: ...
    def set_edit_mask(self, *args: Any, **kwargs: Any) -> None: ...
    def set_pointer_tool(self, tool: Any) -> None: ...


class ViewerAccess(Protocol):
    def current(self) -> PanoramaSurface:
        """The viewer on screen now (OpenGL may fail and leave the CPU viewer in its place)."""
        ...

    def show_panorama(self, image: np.ndarray) -> None:
        """Show ``image`` as the window's current panorama (not a preview)."""
        ...


class StatusReporter(Protocol):
    def show_message(self, text: str, timeout_ms: int = 0) -> None: ...
    def show_error(self, report: ErrorReport) -> None: ...


class SectionHost(Protocol):
    """The Generate panel: features add their own sections (shown only in their mode) and, while their
    mode is on, put its one primary action in place of Generate."""

    mode_action: QAction | None

    def add_section(self, widget: QWidget) -> None: ...
    def set_mode_action(self, action: QAction | None) -> None: ...


class DockHost(Protocol):
    def add_dock(self, dock: QDockWidget) -> None:
        """A dock beside the queue, shown and hidden with it (F10)."""
        ...

    def area_of(self, dock: QDockWidget) -> Qt.DockWidgetArea: ...


@dataclass(frozen=True)
class DropAction:
    """Another use for a dropped picture, offered next to "Use as init image" (e.g. "Place in 360°").

    ``handler(path, image)`` gets the file and its decoded picture (RGB, EXIF-rotated).
    """

    key: str
    label: str
    tooltip: str
    handler: Callable[[Path, Image.Image], None]


class DropTarget(Protocol):
    def add_action(self, action: DropAction) -> None: ...
    def open_path(self, path: str | Path, *, offer_restore: bool = True) -> Any: ...


class HistoryHub(QObject):
    """The history gallery as the other features see it: its selection and requests (signals), the entries
    they save (``add_entry``) and the commands they offer on an entry (``add_entry_action``).

    The gallery opens after the first frame; actions offered before that wait here.
    """

    entry_selected = Signal(object)  # a library Entry, or None
    reuse_requested = Signal(object)  # dict: an entry's stored parameters
    variations_requested = Signal(object)  # dict: queue variations of an entry's parameters
    entry_added = Signal(object)  # a new library Entry (a local result or a cluster job)
    entry_action_added = Signal(object)  # QAction

    def __init__(self) -> None:
        super().__init__()
        self._actions: list[QAction] = []
        self._current: Callable[[], Any] = lambda: None

    def add_entry_action(self, action: QAction) -> None:
        self._actions.append(action)
        self.entry_action_added.emit(action)

    def entry_actions(self) -> list[QAction]:
        return list(self._actions)

    def set_current_entry(self, source: Callable[[], Any]) -> None:
        self._current = source

    def current_entry(self) -> Any:
        return self._current()

    def add_entry(self, entry: Any) -> None:
        self.entry_added.emit(entry)


@dataclass(frozen=True)
class AppContext:
    parent: QWidget  # the parent of dialogs and actions; no feature reads anything else from it
    settings: Settings
    save_settings: Callable[[], None]
    library_dir: Path
    form: GenerationForm
    jobs: JobQueue
    viewer: ViewerAccess
    status: StatusReporter
    history: HistoryHub
    menus: Menus
    side_panel: SectionHost
    drop: DropTarget
    docks: DockHost
