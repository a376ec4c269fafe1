"""The history gallery in the main window.

``HistoryFeature(window)`` opens the library after the first frame (moving it first if Settings asked
for that), puts the gallery in the window's history dock, and connects the gallery's requests: show an
entry, re-use its parameters, queue variations, use it as the init image, and the finishing actions
(repair, upscale, edit). The window only creates it and calls ``attach()``.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject

from dit360_desktop.ui.generation.jobs import error_report
from dit360_desktop.ui.window_layout import orientation_for

log = logging.getLogger(__name__)


class HistoryFeature(QObject):
    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.gallery: Any = None

    def attach(self) -> None:
        # Imported here: the gallery and the library are not needed for the first frame.
        from dit360_desktop.history.library import Library
        from dit360_desktop.ui.gallery.export_dialog import export_chooser
        from dit360_desktop.ui.gallery.panel import GalleryPanel
        from dit360_desktop.ui.gallery.repair_action import attach_repair
        from dit360_desktop.ui.gallery.upscale_action import attach_upscale
        from dit360_desktop.ui.session import move_library_if_asked

        w = self.window
        try:
            move_library_if_asked(w)
            library = Library.open(w.library_dir)
        except Exception as e:
            log.exception("The history library could not be opened")
            w.show_error(error_report(e))
            return
        gallery = self.gallery = GalleryPanel(library, w)
        # Exports start from what the viewer shows and remember their folders (ui/gallery/export_dialog).
        gallery.choose_export = export_chooser(w, lambda: w.viewer.camera.view, w.settings.last_folders)
        dock = w.history_dock
        # Oriented before it is placed: stacked vertically its minimum height would stretch the strip.
        gallery.set_orientation(orientation_for(w.dockWidgetArea(dock)))
        dock.widget().set_content(gallery)
        dock.dockLocationChanged.connect(lambda area: gallery.set_orientation(orientation_for(area)))
        gallery.entry_selected.connect(self._show_entry)
        gallery.reuse_parameters_requested.connect(w.apply_parameters)
        gallery.reuse_as_init_requested.connect(lambda path: w.drop.open_path(path, offer_restore=False))
        gallery.variations_requested.connect(self._variations)
        gallery.status_message.connect(lambda text: w.statusBar().showMessage(text, 6000))
        w.editing.attach_gallery(gallery)
        attach_repair(gallery, w.worker, w)  # entry → Repair seam/poles… (docs/finishing.md)
        attach_upscale(gallery, w.worker, w)  # entry → Upscale… (docs/finishing.md)

    def open_worker_library(self) -> Any:
        """The worker thread's own connection (SQLite connections belong to the thread that opened them)."""
        from dit360_desktop.history.library import Library

        return Library.open(self.window.library_dir)

    def add_entry(self, entry: Any) -> None:
        if self.gallery is not None:
            self.gallery.add_entry(entry)

    def shutdown(self) -> None:
        if self.gallery is not None:
            self.gallery.shutdown()
            self.gallery.library.close()
            self.gallery = None

    def _show_entry(self, entry: Any) -> None:
        import numpy as np

        from dit360_desktop.panorama.imageio import load_user_image

        try:
            image = load_user_image(entry.path)
        except Exception as e:
            self.window.show_error(error_report(e))
            return
        self.window.show_panorama(np.asarray(image))

    def _variations(self, params: dict) -> None:
        self.window.apply_parameters(params)
        self.window.queue_variations()
