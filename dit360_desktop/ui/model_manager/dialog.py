"""The model manager dialog: component states, downloads with speed and ETA, token, location, import.

Every piece of work runs on ModelManagerWorker's thread; this dialog only renders snapshots and progress
events (plain dataclasses) and forwards button presses.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.models.downloads import DONE, DOWNLOADING, FAILED, PAUSED, QUEUED, VERIFYING, FileProgress
from dit360_desktop.models.fsutil import format_bytes
from dit360_desktop.models.hub import DEFAULT_ENDPOINT, TOKEN_SETTINGS_URL
from dit360_desktop.models.importer import COPY, IN_PLACE
from dit360_desktop.models.pack_manifest import is_pack
from dit360_desktop.models.status import PLANNED, READY, ComponentStatus
from dit360_desktop.models.transfer import TransferSettings
from dit360_desktop.ui.model_manager.worker import ModelManagerWorker, Snapshot

log = logging.getLogger(__name__)

COLUMNS = ("Component", "State", "Progress", "Size", "Speed", "ETA", "Location")
COL_NAME, COL_STATE, COL_PROGRESS, COL_SIZE, COL_SPEED, COL_ETA, COL_WHERE = range(len(COLUMNS))


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


def summarise(files: list[FileProgress]) -> tuple[str, int, float, float | None, int]:
    """(state text, percent, speed in B/s, ETA in s, total bytes) for one component's live file events."""
    total = sum(f.total_bytes for f in files)
    done = sum(f.done_bytes for f in files)
    percent = int(100 * done / total) if total else 0
    states = {f.state for f in files}
    speed = sum(f.speed_bps for f in files if f.state == DOWNLOADING)
    eta = (total - done) / speed if speed > 0 else None
    if DOWNLOADING in states:
        return f"downloading {percent}%", percent, speed, eta, total
    if FAILED in states:
        return "failed", percent, 0.0, None, total
    if VERIFYING in states:
        return "verifying", percent, 0.0, None, total
    if QUEUED in states:
        return "queued", percent, 0.0, None, total
    if PAUSED in states:
        return f"paused {percent}%", percent, 0.0, None, total
    if states <= {DONE}:
        return READY, 100, 0.0, None, total
    return "cancelled", percent, 0.0, None, total


# The first-run guide: what is needed and the three ways to get it, in the order most people take.
GUIDE = (
    "<b>To generate panoramas this app needs two models:</b> FLUX.1-dev (about 34 GB) and the DiT360 "
    "panorama LoRA (about 0.4 GB). <b>Download</b> fetches them from Hugging Face; FLUX.1-dev is gated, so "
    "the steps under <i>Hugging Face access</i> come first. <b>Import</b> uses copies you already have "
    "(a diffusers folder, a Hugging Face cache or a ComfyUI LoRA file)."
)


class ModelManagerDialog(QDialog):
    # Emitted when a download, import or repair has finished (or stopped): what is installed may differ.
    installed_changed = Signal()
    _request_refresh = Signal()
    _request_download = Signal(list, str, str)
    _request_verify = Signal(list, str, str)
    _request_import = Signal(str, str)
    _request_pack = Signal(str)
    _request_location = Signal(str)
    _request_discard = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        models_dir: Path | None = None,
        *,
        transfer_settings: TransferSettings | None = None,
        focus_component: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model manager")
        self.resize(980, 600)
        self._focus = focus_component
        self._snapshot: Snapshot | None = None
        self._live: dict[str, dict[str, FileProgress]] = {}
        self._busy = ""
        self.messages: list[tuple[str, bool]] = []

        self._build()
        self._thread = QThread(self)
        self._thread.setObjectName("dit360-model-manager")
        self.worker = ModelManagerWorker(models_dir, transfer_settings)
        self.worker.moveToThread(self._thread)
        self._request_refresh.connect(self.worker.refresh)
        self._request_download.connect(self.worker.download)
        self._request_verify.connect(self.worker.verify_and_repair)
        self._request_import.connect(self.worker.import_from)
        self._request_pack.connect(self.worker.make_pack)
        self._request_location.connect(self.worker.change_location)
        self._request_discard.connect(self.worker.discard)
        self.worker.snapshot_ready.connect(self._on_snapshot)
        self.worker.file_progress.connect(self._on_progress)
        self.worker.busy_changed.connect(self._on_busy)
        self.worker.message.connect(self._on_message)
        self._thread.start()
        self._request_refresh.emit()

    # --- layout ----------------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.guide_label = QLabel(GUIDE)
        self.guide_label.setObjectName("ModelGuide")
        self.guide_label.setWordWrap(True)
        self.guide_label.setTextFormat(Qt.TextFormat.RichText)
        self.guide_label.setVisible(self._focus is not None)
        layout.addWidget(self.guide_label)

        where = QHBoxLayout()
        self.location_label = QLabel("Models location: …")
        self.location_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.location_button = QPushButton("Change location…")
        self.location_button.clicked.connect(self.choose_location)
        where.addWidget(self.location_label, 1)
        where.addWidget(self.location_button)
        layout.addLayout(where)
        self.disk_label = QLabel("")
        layout.addWidget(self.disk_label)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_STATE, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(90)
        header.setSectionResizeMode(COL_WHERE, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)

        row = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the selected component, or everything missing")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel download")
        self.import_button = QPushButton("Import from folder…")
        import_menu = QMenu(self.import_button)
        import_menu.addAction("Folder (diffusers, Hugging Face cache, ComfyUI)…", self.choose_import_folder)
        import_menu.addAction("Single LoRA file…", self.choose_import_file)
        self.import_button.setMenu(import_menu)
        self.pack_button = QPushButton("Make an offline pack…")
        self.pack_button.setToolTip(
            "Copy the installed models, with a manifest of their hashes and licences, to a folder or drive "
            "for machines without network (import it there with Import from folder)"
        )
        self.pack_button.clicked.connect(self.choose_pack_folder)
        self.verify_button = QPushButton("Verify && repair")
        self.download_button.clicked.connect(self.start_download)
        self.pause_button.clicked.connect(self.pause_selected)
        self.resume_button.clicked.connect(self.resume_selected)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.verify_button.clicked.connect(self.verify_and_repair)
        for button in (self.download_button, self.pause_button, self.resume_button, self.cancel_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.import_button)
        row.addWidget(self.pack_button)
        row.addWidget(self.verify_button)
        layout.addLayout(row)

        access = QGroupBox("Hugging Face access")
        form = QFormLayout(access)
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("hf_…  (kept in memory for this session only)")
        self.token_status = QLabel("")
        token_row = QHBoxLayout()
        token_row.addWidget(self.token_edit, 1)
        token_row.addWidget(self.token_status)
        form.addRow("Token:", token_row)
        self.endpoint_edit = QLineEdit(os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT))
        self.endpoint_edit.setToolTip("The hub or a mirror; a change applies to the files not started yet")
        self.endpoint_edit.editingFinished.connect(self._endpoint_changed)
        form.addRow("Endpoint:", self.endpoint_edit)
        self.licence_label = QLabel("")
        self.licence_label.setWordWrap(True)
        self.licence_label.setOpenExternalLinks(True)
        self.licence_label.setTextFormat(Qt.TextFormat.RichText)
        form.addRow(self.licence_label)
        layout.addWidget(access)

        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message_label)

        close_row = QHBoxLayout()
        close_row.addStretch(1)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        close_row.addWidget(self.close_button)
        layout.addLayout(close_row)
        self._update_buttons()

    # --- rendering -------------------------------------------------------------------------------------
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self.location_label.setText(f"Models location: {snapshot.models_dir}")
        self.token_status.setText(
            "A stored Hugging Face token was found." if snapshot.has_stored_token else ""
        )
        gated = [s.component for s in snapshot.statuses if s.component.gated and s.component.supported]
        self.licence_label.setText(
            "<br>".join(licence_steps(c.name, c.licence, c.licence_url) for c in gated)
        )
        if self.table.rowCount() != len(snapshot.statuses):
            self.table.setRowCount(len(snapshot.statuses))
            for row in range(len(snapshot.statuses)):
                bar = QProgressBar()
                bar.setRange(0, 100)
                self.table.setCellWidget(row, COL_PROGRESS, bar)
        for row, status in enumerate(snapshot.statuses):
            self._render_row(row, status)
        self._render_disk()
        if self._focus is not None:
            # Opened from the first-run banner or an error: start on the component that is missing.
            self.select_component(self._focus)
            self.token_edit.setFocus()
            self._focus = None
        self._update_buttons()

    def _set(self, row: int, column: int, text: str) -> None:
        item = self.table.item(row, column)
        if item is None:
            item = QTableWidgetItem()
            self.table.setItem(row, column, item)
        item.setText(text)

    def _render_row(self, row: int, status: ComponentStatus) -> None:
        component = status.component
        self._set(row, COL_NAME, component.name)
        self.table.item(row, COL_NAME).setData(Qt.ItemDataRole.UserRole, component.id)
        self.table.item(row, COL_NAME).setToolTip(f"{component.repo_id}\n{component.purpose}")
        live = list(self._live.get(component.id, {}).values())
        bar: QProgressBar = self.table.cellWidget(row, COL_PROGRESS)
        if live:
            state, percent, speed, eta, total = summarise(live)
            bar.setValue(percent)
            self._set(row, COL_STATE, state)
            self._set(row, COL_SIZE, format_bytes(total))
            self._set(row, COL_SPEED, f"{format_bytes(speed)}/s" if speed else "")
            self._set(row, COL_ETA, _clock(eta))
        else:
            state = status.state
            bar.setValue(100 if state.startswith(READY) else 0)
            if status.partial_bytes and not state.startswith(READY):
                approx = max(component.approx_size_bytes, 1)
                bar.setValue(min(99, int(100 * (status.installed_bytes + status.partial_bytes) / approx)))
            self._set(row, COL_STATE, state)
            size = status.installed_bytes if state.startswith(READY) else component.approx_size_bytes
            self._set(row, COL_SIZE, ("" if state.startswith(READY) else "~") + format_bytes(size))
            self._set(row, COL_SPEED, "")
            self._set(row, COL_ETA, "")
        self._set(row, COL_WHERE, str(status.path) if status.path else "")
        bar.setEnabled(state != PLANNED)

    def _render_disk(self) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        needed = 0
        for status in snapshot.statuses:
            if status.state.startswith(READY) or status.state == PLANNED:
                continue
            live = list(self._live.get(status.component.id, {}).values())
            if live and any(f.path for f in live):
                needed += sum(f.total_bytes - f.done_bytes for f in live)
            else:
                needed += max(status.component.approx_size_bytes - status.partial_bytes, 0)
        fits = needed <= snapshot.free_bytes
        text = (
            f"To download: {format_bytes(needed)} · Free: {format_bytes(snapshot.free_bytes)} · "
            f"Models folder uses {format_bytes(snapshot.used_bytes)}"
        )
        if not fits:
            text += " · Not enough space: free some up or change the location."
        self.disk_label.setText(text)
        self.disk_label.setStyleSheet("" if fits else "color: #e05050;")

    def _on_progress(self, event: FileProgress) -> None:
        files = self._live.setdefault(event.component_id, {})
        if event.path:
            # A whole-component verify event ("" path) is over once per-file repair events arrive.
            files.pop("", None)
        files[event.path] = event
        if self._snapshot is None:
            return
        for row, status in enumerate(self._snapshot.statuses):
            if status.component.id == event.component_id:
                self._render_row(row, status)
        self._render_disk()

    def _on_busy(self, what: str) -> None:
        finished = self._busy if not what else ""
        self._busy = what
        if finished in ("Downloading", "Importing", "Repairing"):
            self.installed_changed.emit()
        if not what:
            # Idle: the rows show what is on disk again, not the last progress events.
            self._live.clear()
            if self._snapshot is not None:
                self._on_snapshot(self._snapshot)
        self._update_buttons()

    def _on_message(self, text: str, is_error: bool) -> None:
        self.messages.append((text, is_error))
        self.message_label.setText(text)
        self.message_label.setStyleSheet("color: #e05050;" if is_error else "")

    def _update_buttons(self) -> None:
        busy = bool(self._busy)
        component_id = self.selected_component()
        downloading = self._busy in ("Downloading", "Repairing")
        self.download_button.setEnabled(not busy)
        self.verify_button.setEnabled(not busy)
        self.import_button.setEnabled(not busy)
        self.pack_button.setEnabled(not busy)
        self.location_button.setEnabled(not busy)
        self.pause_button.setEnabled(downloading and component_id is not None)
        self.cancel_button.setEnabled(
            component_id is not None and (downloading or self._has_partial(component_id))
        )
        self.resume_button.setEnabled(component_id is not None and self._is_paused(component_id))

    def _has_partial(self, component_id: str) -> bool:
        status = self._status(component_id)
        return status is not None and status.partial_bytes > 0 and not self._busy

    def _is_paused(self, component_id: str) -> bool:
        live = self._live.get(component_id, {})
        if live:
            return any(f.state == PAUSED for f in live.values())
        status = self._status(component_id)
        return not self._busy and status is not None and status.partial_bytes > 0

    def _status(self, component_id: str) -> ComponentStatus | None:
        for status in self._snapshot.statuses if self._snapshot else ():
            if status.component.id == component_id:
                return status
        return None

    # --- actions ---------------------------------------------------------------------------------------
    def selected_component(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), COL_NAME)
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def select_component(self, component_id: str) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, COL_NAME).data(Qt.ItemDataRole.UserRole) == component_id:
                self.table.selectRow(row)
                self.table.scrollToItem(self.table.item(row, COL_NAME))

    def _endpoint(self) -> str:
        return self.endpoint_edit.text().strip()

    def start_download(self) -> None:
        component_id = self.selected_component()
        status = self._status(component_id) if component_id else None
        if status is not None and status.state == PLANNED:
            self._on_message(
                f"{status.component.name} waits for engine support and cannot be downloaded yet.", True
            )
            return
        ids = [component_id] if component_id else []
        self._request_download.emit(ids, self._endpoint(), self.token_edit.text().strip())

    def pause_selected(self) -> None:
        component_id = self.selected_component()
        if component_id:
            self.worker.pause(component_id)

    def resume_selected(self) -> None:
        component_id = self.selected_component()
        if component_id and not self.worker.resume(component_id):
            self._request_download.emit([component_id], self._endpoint(), self.token_edit.text().strip())

    def cancel_selected(self) -> None:
        component_id = self.selected_component()
        if not component_id:
            return
        if self._busy:
            self.worker.cancel(component_id)
        else:
            # Nothing is running: cancelling drops the partial files and the queue entry.
            self._request_discard.emit(component_id)

    def verify_and_repair(self) -> None:
        self._request_verify.emit([], self._endpoint(), self.token_edit.text().strip())

    def _endpoint_changed(self) -> None:
        self.worker.set_endpoint(self._endpoint())

    def choose_location(self) -> None:
        start = str(self._snapshot.models_dir) if self._snapshot else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose where to keep models", start)
        if folder:
            self._request_location.emit(folder)

    def choose_import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import models from a folder", str(Path.home()))
        if folder:
            self.import_from(Path(folder))

    def choose_import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a DiT360 LoRA file", str(Path.home()), "safetensors (*.safetensors)"
        )
        if path:
            self.import_from(Path(path))

    def choose_pack_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Make an offline pack in (a drive or folder)", str(Path.home())
        )
        if folder:
            self.make_pack_in(Path(folder))

    def make_pack_in(self, folder: Path) -> None:
        """The pack goes into a new dated folder inside ``folder``, so a drive's root can be chosen."""
        self._request_pack.emit(str(folder / f"DiT360 model pack {time.strftime('%Y-%m-%d %H%M')}"))

    def import_from(self, path: Path, mode: str | None = None) -> None:
        if mode is None and is_pack(path):
            mode = COPY  # a pack is always copied and verified; there is nothing to ask
        if mode is None:
            box = QMessageBox(self)
            box.setWindowTitle("Import models")
            box.setText(f"Import from {path}?")
            box.setInformativeText(
                "Copy puts the files in the models folder, so the original can be removed. In place uses "
                "them where they are (the drive must stay connected)."
            )
            copy = box.addButton("Copy into the models folder", QMessageBox.ButtonRole.AcceptRole)
            in_place = box.addButton("Use in place", QMessageBox.ButtonRole.AcceptRole)
            box.addButton(QMessageBox.StandardButton.Cancel)
            box.exec()
            clicked = box.clickedButton()
            if clicked not in (copy, in_place):
                return
            mode = COPY if clicked is copy else IN_PLACE
        self._request_import.emit(str(path), mode)

    # --- closing ---------------------------------------------------------------------------------------
    def done(self, result: int) -> None:
        self.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Pause running downloads (they resume next time) and stop the worker thread."""
        if self._thread.isRunning():
            self.worker.stop()
            self._thread.quit()
            self._thread.wait()


def licence_steps(name: str, licence: str, url: str) -> str:
    """The numbered steps before a gated model can be downloaded (rich text with links)."""
    return (
        f"<b>{name}</b> is gated. 1. Log in at huggingface.co (a free account) and accept the {licence} "
        f'on <a href="{url}">its page</a>. 2. Create a <i>read</i> token in <a href="{TOKEN_SETTINGS_URL}">'
        "your token settings</a> and paste it into Token (a token saved by the Hugging Face tools on this "
        "computer is found by itself). 3. Press Download."
    )
