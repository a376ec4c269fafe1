"""The history gallery in the main window.

``HistoryFeature(context, dock)`` opens the library after the first frame (moving it first if Settings asked
for that), puts the gallery in the history dock, and speaks for it through the context's history hub: the
selection and the requests (show an entry, re-use its parameters, queue variations, use it as the init
image) go out as the hub's signals, entries saved elsewhere and commands other features offer on an entry
come in. The finishing actions (repair, upscale) are the gallery's own. The window only creates it and
calls ``attach()``.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QDockWidget

from dit360_desktop.ui.common.context import AppContext
from dit360_desktop.ui.common.jobs import error_report
from dit360_desktop.ui.window_layout import orientation_for

log = logging.getLogger(__name__)


class HistoryFeature(QObject):
    def __init__(self, context: AppContext, dock: QDockWidget) -> None:
        super().__init__(context.parent)
        self.context = context
        self.dock = dock
        self.gallery: Any = None
        self._closed = False

    def attach(self) -> None:
        """Open the library on the thread pool (its integrity check and reconcile take 0.1–0.5 s on a
        large library; the connection may be used from any thread), then build the gallery."""
        # Imported here: the gallery and the library are not needed for the first frame.
        from dit360_desktop.history.library import Library
        from dit360_desktop.ui.widgets.background import BackgroundOp

        c = self.context
        try:
            self._move_library_if_asked()
        except Exception as e:
            self._open_failed(e)
            return
        op = BackgroundOp(self, lambda _ctx: Library.open(c.library_dir), self._build)
        op.failure(self._open_failed).run_in_background()

    def _open_failed(self, error: Exception) -> None:
        log.error("The history library could not be opened: %s", error)
        self.context.status.show_error(error_report(error))

    def _build(self, library: Any) -> None:
        from dit360_desktop.ui.gallery.panel import GalleryPanel

        if self._closed:  # the window closed while the library was opening
            library.close()
            return
        # In three turns of the event loop: the panel's widgets, their style (the polish the dock would do
        # when it takes them), then its place in the dock and its links. In one, the window could not react
        # for 90-150 ms on a 2-core machine (issue 21, item 12).
        gallery = GalleryPanel(library, self.context.parent)
        QTimer.singleShot(0, self, lambda: self._polish(gallery))

    def _polish(self, gallery: Any) -> None:
        if not self._closed:
            gallery.ensurePolished()
        QTimer.singleShot(0, self, lambda: self._place(gallery))

    def _place(self, gallery: Any) -> None:
        from dit360_desktop.ui.gallery.export_dialog import export_chooser
        from dit360_desktop.ui.gallery.repair_action import attach_repair
        from dit360_desktop.ui.gallery.upscale_action import attach_upscale

        if self._closed:  # the window closed between the turns
            gallery.shutdown()
            gallery.library.close()
            gallery.deleteLater()
            return
        c = self.context
        self.gallery = gallery
        # Exports start from what the viewer shows and remember their folders (ui/gallery/export_dialog).
        gallery.choose_export = export_chooser(
            c.parent, lambda: c.viewer.current().camera.view, c.settings.last_folders
        )
        dock = self.dock
        # Oriented before it is placed: stacked vertically its minimum height would stretch the strip.
        gallery.set_orientation(orientation_for(c.docks.area_of(dock)))
        dock.widget().set_content(gallery)
        dock.dockLocationChanged.connect(lambda area: gallery.set_orientation(orientation_for(area)))
        hub = c.history
        hub.set_current_entry(gallery.current_entry)
        gallery.entry_selected.connect(self._show_entry)
        gallery.entry_selected.connect(hub.entry_selected)
        gallery.reuse_parameters_requested.connect(hub.reuse_requested)
        gallery.reuse_as_init_requested.connect(lambda path: c.drop.open_path(path, offer_restore=False))
        gallery.variations_requested.connect(hub.variations_requested)
        gallery.status_message.connect(lambda text: c.status.show_message(text, 6000))
        hub.entry_added.connect(gallery.add_entry)
        for action in hub.entry_actions():
            self._offer(action)
        hub.entry_action_added.connect(self._offer)
        attach_repair(gallery, c.jobs, c.parent)  # entry → Repair seam/poles… (docs/finishing.md)
        attach_upscale(gallery, c.jobs, c.parent)  # entry → Upscale… (docs/finishing.md)

    def _offer(self, action: Any) -> None:
        if self.gallery is None:  # shut down: the hub still has it for nobody
            return
        action.setParent(self.gallery)  # the gallery's context menu owns it from now on
        self.gallery.add_entry_action(action)

    def _move_library_if_asked(self) -> None:
        """A library move chosen in Settings runs at start-up, before any connection to it is open."""
        c = self.context
        source = c.settings.library_move_from
        if not source:
            return
        from pathlib import Path

        from dit360_desktop.history.move import move_library

        c.settings.library_move_from = None
        c.save_settings()
        moved = move_library(Path(source), c.library_dir)
        c.status.show_message(f"Library moved to {c.library_dir} ({moved} parts)", 8000)

    def open_worker_library(self) -> Any:
        """The worker thread's own connection (SQLite connections belong to the thread that opened them)."""
        from dit360_desktop.history.library import Library

        return Library.open(self.context.library_dir)

    def shutdown(self) -> None:
        self._closed = True
        if self.gallery is not None:
            hub = self.context.history
            hub.entry_added.disconnect(self.gallery.add_entry)
            hub.entry_action_added.disconnect(self._offer)
            self.gallery.shutdown()
            self.gallery.library.close()
            self.gallery = None

    def _show_entry(self, entry: Any) -> None:
        import numpy as np

        from dit360_desktop.panorama.imageio import load_user_image

        try:
            image = load_user_image(entry.path)
        except Exception as e:
            self.context.status.show_error(error_report(e))
            return
        self.context.viewer.show_panorama(np.asarray(image))
