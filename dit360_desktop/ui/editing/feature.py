"""Editing in the main window: the edit and placement panels, their menu entries, the drop choices, the
history's "Edit" action and re-use of an edit (its mask comes back too).

``EditingFeature(context)`` does all the wiring through the ``AppContext`` (the form, the job queue, the
viewer, the history hub, the menus); the main window only creates it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.context import AppContext, DropAction
from dit360_desktop.ui.common.jobs import ErrorKind, ErrorReport, FinishedJob
from dit360_desktop.ui.editing.controller import EditController
from dit360_desktop.ui.editing.panel import EditPanel
from dit360_desktop.ui.editing.placement import PlacementController, PlacementPanel

log = logging.getLogger(__name__)

_IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff)"


class EditingFeature(QObject):
    def __init__(self, context: AppContext) -> None:
        super().__init__(context.parent)
        self.context = context
        # The library file of the panorama last generated: what "Edit panorama" opens.
        self.last_saved: str | None = None
        # Masks and placed canvases wait here until their job runs; the library keeps its own copies.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="dit360-edits-"))
        self.edit_panel = EditPanel(context.form)
        self.placement_panel = PlacementPanel()
        context.side_panel.add_section(self.edit_panel)
        context.side_panel.add_section(self.placement_panel)
        viewer = context.viewer.current  # the viewer may be replaced (OpenGL fallback)
        parent = context.parent
        self.edit = EditController(
            context.form, self.edit_panel, viewer, self._enqueue, self.temp_dir, parent
        )
        self.placement = PlacementController(
            context.form, self.placement_panel, viewer, self._enqueue, self.temp_dir, parent
        )
        for controller in (self.edit, self.placement):
            controller.error.connect(self._error)
            controller.message.connect(context.status.show_message)
        # One tool at a time on the viewer.
        self.edit.mode_changed.connect(lambda on: on and self.placement.stop(restore_view=False))
        self.placement.mode_changed.connect(lambda on: on and self.edit.stop())
        self._mode_actions()
        context.jobs.result_ready.connect(self._on_result)

        self.act_edit = QAction("&Edit panorama (paint a mask)…", parent)
        # Not Ctrl+E: the gallery exports with it while it has the focus.
        self.act_edit.setShortcut(QKeySequence("Ctrl+Shift+E"))
        self.act_edit.setToolTip("Paint over part of a panorama and regenerate it (inpaint).")
        self.act_edit.triggered.connect(self.edit_current)
        self.act_place = QAction("&Place a photo in 360°…", parent)
        self.act_place.setToolTip("Put a photo on the sphere and outpaint the rest of the panorama.")
        self.act_place.triggered.connect(self.choose_photo_to_place)
        context.menus.generate.addSeparator()
        context.menus.generate.addAction(self.act_edit)
        context.menus.generate.addAction(self.act_place)
        context.drop.add_action(DropAction(
            "place", "Place in 360°", "Put the photo on the sphere and outpaint the rest of the panorama.",
            lambda path, _image: self.placement.start(path),
        ))  # fmt: skip
        context.drop.add_action(DropAction(
            "edit", "Edit (paint a mask)", "Open the panorama in edit mode to regenerate part of it.",
            lambda path, _image: self.edit.start(path),
        ))  # fmt: skip
        self._offer_on_history_entries()

    def _mode_actions(self) -> None:
        """Each mode's run button is the panel's one primary button while the mode is on (Ctrl+Enter runs it
        too); the grey copies inside the mode panels go."""
        self.act_run_edit = QAction("Run edit", self)
        self.act_run_edit.setToolTip(
            "Regenerate the painted part with the prompt above; queued like Generate (Ctrl+Enter)."
        )
        self.act_run_edit.setEnabled(False)
        self.act_run_edit.triggered.connect(self.edit_panel.run_button.click)
        self.edit_panel.run_enabled_changed.connect(self.act_run_edit.setEnabled)
        self.edit_panel.run_button.hide()
        self.act_outpaint = QAction("Outpaint the rest", self)
        self.act_outpaint.setToolTip(
            "Generate everything around the photo with the prompt above; queued like Generate (Ctrl+Enter)."
        )
        self.act_outpaint.triggered.connect(self.placement_panel.outpaint_button.click)
        self.placement_panel.outpaint_button.hide()
        for controller, action in ((self.edit, self.act_run_edit), (self.placement, self.act_outpaint)):
            controller.mode_changed.connect(lambda on, a=action: self._show_mode_action(on, a))

    def _show_mode_action(self, on: bool, action: QAction) -> None:
        panel = self.context.side_panel
        if on:
            panel.set_mode_action(action)
        elif panel.mode_action is action:
            panel.set_mode_action(None)

    def _enqueue(self, request: GenerationRequest) -> int:
        return self.context.jobs.enqueue(request)

    def _on_result(self, finished: FinishedJob) -> None:
        if finished.saved_path:
            self.last_saved = finished.saved_path
        self.edit.on_result(finished)

    def _error(self, title: str, text: str) -> None:
        self.context.status.show_error(ErrorReport(ErrorKind.IMAGE, title, text))

    # Entry points ------------------------------------------------------------------------------------

    def edit_current(self) -> None:
        """Edit the panorama last generated (its library file), or one chosen from disk."""
        if self.last_saved:
            self.edit.start(self.last_saved)
            return
        name, _ = QFileDialog.getOpenFileName(self.context.parent, "Edit panorama", "", _IMAGE_FILTER)
        if name:
            self.edit.start(name)

    def choose_photo_to_place(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self.context.parent, "Place a photo in 360°", "", _IMAGE_FILTER)
        if name:
            self.placement.start(name)

    def _offer_on_history_entries(self) -> None:
        history = self.context.history
        action = QAction("Edit (paint a mask)", self)
        action.setObjectName("act_edit_entry")
        action.setToolTip("Open this panorama in edit mode; the result is saved as a new entry linked to it.")
        action.triggered.connect(lambda: self.edit_entry(history.current_entry()))
        history.add_entry_action(action)
        history.reuse_requested.connect(self.reuse)
        history.entry_selected.connect(self._other_panorama_shown)

    def _other_panorama_shown(self, entry: Any) -> None:
        """The window shows a selected entry: a mask or a photo placed for another picture would mislead."""
        if self.edit.active and entry is not None and entry.path != self.edit.source:
            self.edit.stop()
            self.context.status.show_message("Edit mode closed: another panorama is shown.", 6000)
        self.placement.stop()

    def edit_entry(self, entry: Any) -> bool:
        if entry is None:
            return False
        if entry.missing or not entry.path.exists():
            self._error("The panorama is missing", f"{entry.path} is no longer there.")
            return False
        return self.edit.start(entry.path)

    def reuse(self, params: dict) -> None:
        """Re-use of an edit: besides the form (the window recalls it), reopen its source with its mask."""
        source, mask = params.get("init_image"), params.get("mask_image")
        if not (isinstance(source, str) and isinstance(mask, str)):
            return
        if Path(source).is_file() and Path(mask).is_file():
            self.edit.start(source, mask_path=mask)
        else:
            self.context.status.show_message(
                "Parameters restored; the edit's source or mask file is gone, so edit mode did not open.",
                8000,
            )

    def shutdown(self) -> None:
        self.edit.shutdown()
        self.placement.stop(restore_view=False)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
