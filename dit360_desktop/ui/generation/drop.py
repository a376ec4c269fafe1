"""Drag and drop: a dropped picture becomes the img2img init image, or gives back its parameters.

All decoding goes through ``panorama.imageio.load_user_image``, which sniffs the real format, refuses
decompression bombs before decoding and turns every failure into an ``ImageLoadError``; here such a
failure becomes a plain message, never a crash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QDragMoveEvent, QDropEvent, QImage, QPixmap, QWindow
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QRadioButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama.errors import ImageLoadError
from dit360_desktop.panorama.request import FIT_MODES, TRAINED_SIZE
from dit360_desktop.ui.common.context import DropAction
from dit360_desktop.ui.widgets.drop_zone import DropHighlight
from dit360_desktop.ui.widgets.icons import icon

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

# Pillow and panorama.imageio are imported on the first drop, not at start-up: the window must appear fast.

log = logging.getLogger(__name__)

DROP_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
# Within this relative distance of 2:1 an image is treated as equirectangular and used as it is.
_ASPECT_TOLERANCE = 0.01
_PREVIEW_SIZE = (2048, 1024)
_FIT_LABELS = {
    "crop": ("Crop", "Cut the centre to 2:1; nothing is distorted, the edges are lost."),
    "pad": ("Pad", "Keep the whole picture and extend its edges to fill 2:1."),
    "stretch": ("Stretch", "Resize to 2:1, distorting the picture."),
}


def numpy_to_qimage(array: np.ndarray) -> QImage:
    """Wrap an HxWx3 uint8 array; the returned QImage owns a copy, so the array may go away."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width = array.shape[:2]
    return QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def pil_to_qimage(image: Image.Image) -> QImage:
    import numpy as np

    return numpy_to_qimage(np.asarray(image.convert("RGB")))


def is_two_to_one(width: int, height: int) -> bool:
    return height > 0 and abs(width / height - 2.0) <= 2.0 * _ASPECT_TOLERANCE


@dataclass(frozen=True)
class InitImage:
    path: str
    fit: str
    # The picture as the engine will see it (fitted to 2:1), for the viewer and the thumbnail.
    preview: np.ndarray
    source_size: tuple[int, int]


def request_fields_from_metadata(dit360: dict[str, Any] | None, parameters: str | None) -> dict[str, Any]:
    """The GenerationRequest fields a file records: ours first (complete), else the A1111 text."""
    if dit360 and isinstance(dit360.get("request"), dict):
        return dict(dit360["request"])
    if not parameters:
        return {}
    from dit360_desktop.panorama.imageio import parse_a1111_parameters

    parsed = parse_a1111_parameters(parameters)
    # Forge's "CFG scale" is real classifier-free guidance (our true CFG); "Distilled CFG Scale" is guidance.
    renames = {"cfg_scale": "true_cfg_scale", "denoising_strength": "strength"}
    fields: dict[str, Any] = {}
    for key in (
        "prompt",
        "negative_prompt",
        "steps",
        "guidance",
        "seed",
        "width",
        "height",
        "lora_scale",
        "fit",
        # An edit's settings (its picture and mask are not in the text; the edit panel asks for them).
        "edit_method",
        "tau",
        "feather",
        "source_prompt",
        "step_cache",
    ):
        if key in parsed:
            fields[key] = parsed[key]
    for source, target in renames.items():
        if source in parsed:
            fields[target] = parsed[source]
    return fields


class FitDialog(QDialog):
    """Choose how a picture that is not 2:1 becomes an equirectangular init image, with a preview."""

    def __init__(self, image: Image.Image, parent: QWidget | None = None, initial: str = "crop") -> None:
        super().__init__(parent)
        self.setObjectName("FitDialog")
        self.setWindowTitle("Fit the picture to 2:1")
        self._small = image.copy()
        self._small.thumbnail((1024, 1024))
        layout = QVBoxLayout(self)
        text = QLabel(
            f"This picture is {image.width}×{image.height}. A 360° panorama is twice as wide as it is high; "
            "choose how to make it fit."
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        self.preview_label = QLabel()
        self.preview_label.setObjectName("FitPreview")
        self.preview_label.setFixedSize(480, 240)
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setToolTip("How the init image will look with the chosen fit.")
        layout.addWidget(self.preview_label)
        row = QHBoxLayout()
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for mode in FIT_MODES:
            label, tip = _FIT_LABELS[mode]
            button = QRadioButton(label)
            button.setToolTip(tip)
            self.group.addButton(button)
            self.buttons[mode] = button
            row.addWidget(button)
            button.toggled.connect(lambda checked, m=mode: checked and self._show(m))
        layout.addLayout(row)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.button(QDialogButtonBox.StandardButton.Ok).setText("Use picture")
        box.button(QDialogButtonBox.StandardButton.Ok).setToolTip("Use the picture with this fit.")
        box.button(QDialogButtonBox.StandardButton.Cancel).setToolTip("Do not use this picture.")
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout.addWidget(box)
        self.buttons[initial if initial in self.buttons else "crop"].setChecked(True)

    def _show(self, mode: str) -> None:
        from dit360_desktop.panorama.imageio import fit_image

        fitted = fit_image(self._small, 480, 240, mode)
        self.preview_label.setPixmap(QPixmap.fromImage(pil_to_qimage(fitted)))

    @property
    def mode(self) -> str:
        return next(mode for mode, button in self.buttons.items() if button.isChecked())


class InitImageCard(QFrame):
    """The init image's thumbnail with a remove button, shown above the Generate button."""

    remove_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("InitImageCard")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.thumbnail = QLabel()
        self.thumbnail.setObjectName("InitThumbnail")
        self.thumbnail.setFixedSize(128, 64)
        self.thumbnail.setToolTip("The init image: generation starts from this picture (img2img).")
        layout.addWidget(self.thumbnail)
        self.caption = QLabel()
        self.caption.setObjectName("Hint")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption, 1)
        self.remove_button = QToolButton()
        self.remove_button.setObjectName("RemoveInitImage")
        self.remove_button.setIcon(icon("remove"))
        self.remove_button.setToolTip("Remove the init image and generate from noise again.")
        self.remove_button.clicked.connect(self.remove_requested)
        layout.addWidget(self.remove_button)
        self.setVisible(False)

    def show_image(self, init: InitImage) -> None:
        from PIL import Image

        thumb = Image.fromarray(init.preview)
        thumb.thumbnail((128, 64))
        self.thumbnail.setPixmap(QPixmap.fromImage(pil_to_qimage(thumb)))
        width, height = init.source_size
        self.caption.setText(f"{Path(init.path).name}\n{width}×{height} · {init.fit}")
        self.setVisible(True)


class DropController(QObject):
    """Accepts files dropped on the watched widgets and turns them into an init image or parameters.

    Every watched widget offers the same choices. While a file is over one, the drop zone is
    highlighted: an overlay on the widget's window, and the widget's own ``set_drop_highlight`` where
    it has one (the 3D viewer, which a widget overlay cannot cover).
    """

    init_image_chosen = Signal(object)  # InitImage
    parameters_restored = Signal(dict)  # GenerationRequest fields
    panorama_opened = Signal(object)  # HxWx3 ndarray: the picture, shown in the viewer only
    failed = Signal(str, str)  # title, plain message
    notice = Signal(str)  # a sentence for the status bar (a guide picture saved with a file is missing)

    RESTORE, INIT, CANCEL = "restore", "init", "cancel"
    # Moving from one watched widget to another is a leave then an enter; wait this long before
    # hiding the highlight so it does not flicker.
    LEAVE_GRACE_MS = 80

    def __init__(self, dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self._parent = dialog_parent
        self._actions: list[DropAction] = []
        self._watched: list[QWidget] = []
        self._overlays: dict[QWidget, DropHighlight] = {}
        self._highlighted = False
        self._drag_files: list[Path] = []  # what the drag in progress carries
        self._handles: list[QWindow] = []
        self._unhighlight = QTimer(self)
        self._unhighlight.setSingleShot(True)
        self._unhighlight.setInterval(self.LEAVE_GRACE_MS)
        self._unhighlight.timeout.connect(lambda: self._set_highlight(False))

    @property
    def highlighted(self) -> bool:
        """True while a file is dragged over a watched widget."""
        return self._highlighted

    def add_action(self, action: DropAction) -> None:
        """Offer another use for dropped pictures (the choice is asked on every drop)."""
        self._actions = [a for a in self._actions if a.key != action.key] + [action]

    def watch(self, widget: QWidget) -> None:
        """Accept dropped files on ``widget``; on a window, over every part of it (text fields too)."""
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)
        self._watched.append(widget)
        widget.destroyed.connect(lambda _=None, w=widget: self._forget(w))
        if widget.isWindow():
            self._watch_window_handle(widget)

    def _watch_window_handle(self, widget: QWidget) -> None:
        # Drags reach the native window before Qt picks the widget under the pointer. Taking files
        # there means a text field (the prompt) or a list that accepts drops of its own does not
        # swallow a picture meant for the whole window; other drags (text) still go to the widgets.
        handle = widget.windowHandle()
        if handle is not None and handle not in self._handles:
            self._handles.append(handle)
            handle.installEventFilter(self)
            handle.destroyed.connect(lambda _=None, h=handle: self._forget(h))

    def _forget(self, widget: QObject) -> None:
        self._watched = [w for w in self._watched if w is not widget]
        self._handles = [h for h in self._handles if h is not widget]
        self._overlays.pop(widget, None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Show and isinstance(watched, QWidget) and watched.isWindow():
            self._watch_window_handle(watched)  # the native window exists once shown
            return False
        if kind == QEvent.Type.DragEnter and isinstance(event, QDragMoveEvent):
            self._drag_files = _local_files(event)
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            # A move is a QDragMoveEvent; only the first of them is the QDragEnterEvent subclass.
            if isinstance(event, QDragMoveEvent) and self._drag_files:
                event.acceptProposedAction()
                self._unhighlight.stop()
                self._set_highlight(True)
                return True
        elif kind == QEvent.Type.DragLeave:
            self._unhighlight.start()
        elif kind == QEvent.Type.Drop and isinstance(event, QDropEvent):
            self._unhighlight.stop()
            self._set_highlight(False)
            # The files read at the drag-enter, not again from the drop: on X11 that is one more
            # round trip to the dragging application, and a Qt application dragging under Xvfb
            # never answered it (the drop then stalled 5 s and came with no files).
            files, self._drag_files = self._drag_files or _local_files(event), []
            if files:
                event.acceptProposedAction()
                # Not inside the drop: the source application waits for the drop to finish, and a
                # dialog (fit, parameters) would hold it and the pointer until it is answered.
                QTimer.singleShot(0, self, lambda path=files[0]: self.open_path(path))
                return True
        return super().eventFilter(watched, event)

    def _set_highlight(self, on: bool) -> None:
        if on == self._highlighted:
            return
        self._highlighted = on
        for widget in self._watched:
            if hasattr(widget, "set_drop_highlight"):
                widget.set_drop_highlight(on)
            window = widget.window()
            overlay = self._overlays.get(window)
            if overlay is None and on:
                overlay = self._overlays[window] = DropHighlight(window)
                window.destroyed.connect(lambda _=None, w=window: self._forget(w))
            if overlay is not None and on:
                overlay.show_over_window()
            elif overlay is not None:
                overlay.hide()

    # ---- decisions, overridable in tests -------------------------------------------------------

    def choose_fit(self, image: Image.Image) -> str | None:
        dialog = FitDialog(image, self._parent)
        return dialog.mode if dialog.exec() == QDialog.DialogCode.Accepted else None

    def ask_use(self, path: Path, fields: dict[str, Any], choices: list[tuple[str, str, str]]) -> str:
        """Ask what to do with the picture; ``choices`` are (key, label, tooltip). Returns a key or CANCEL."""
        box = QMessageBox(self._parent)
        box.setObjectName("DropChoice")
        box.setWindowTitle("Use the picture")
        if fields:
            prompt = str(fields.get("prompt", ""))
            box.setText(f"{path.name} records the parameters it was made with.")
            box.setInformativeText(
                f"Prompt: {prompt[:160]}{'…' if len(prompt) > 160 else ''}\n\n"
                "Restore them into the panel, or use the picture?"
            )
        else:
            box.setText(f"What should {path.name} be used for?")
        buttons = {}
        for key, label, tooltip in choices:
            role = QMessageBox.ButtonRole.AcceptRole if not buttons else QMessageBox.ButtonRole.ActionRole
            button = box.addButton(label, role)
            button.setToolTip(tooltip)
            buttons[key] = button
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(next(iter(buttons.values())))
        box.exec()
        clicked = box.clickedButton()
        return next((key for key, button in buttons.items() if button is clicked), self.CANCEL)

    def _choices(self, fields: dict[str, Any]) -> list[tuple[str, str, str]]:
        choices = []
        if fields:
            choices.append(
                (self.RESTORE, "Restore parameters", "Put the prompt and settings it records into the panel.")
            )
        choices.append(
            (self.INIT, "Use as init image", "Start the next generation from this picture (img2img).")
        )
        choices.extend((action.key, action.label, action.tooltip) for action in self._actions)
        return choices

    # ---- the flow ------------------------------------------------------------------------------

    def open_path(self, path: str | Path, *, offer_restore: bool = True) -> InitImage | None:
        """Load ``path`` as the init image; with ``offer_restore``, offer its recorded parameters first."""
        import numpy as np

        from dit360_desktop.panorama.imageio import fit_image, load_user_image

        path = Path(path)
        try:
            image = load_user_image(path)
        except ImageLoadError as e:
            log.info("Refused dropped file %s: %s", path, e)
            self.failed.emit("The picture could not be used", str(e))
            return None
        fields, notes = self._recorded_fields(path) if offer_restore else ({}, [])
        choices = self._choices(fields) if offer_restore else [(self.INIT, "", "")]
        choice = self.ask_use(path, fields, choices) if len(choices) > 1 else self.INIT
        if choice == self.CANCEL:
            return None
        if choice == self.RESTORE:
            self.parameters_restored.emit(fields)
            for note in notes:
                self.notice.emit(note)
            self.panorama_opened.emit(np.asarray(image))
            return None
        action = next((a for a in self._actions if a.key == choice), None)
        if action is not None:
            action.handler(path, image)
            return None
        fit = "crop"
        if not is_two_to_one(image.width, image.height):
            chosen = self.choose_fit(image)
            if chosen is None:
                return None
            fit = chosen
        preview = image.copy()
        preview.thumbnail(_PREVIEW_SIZE)
        if is_two_to_one(image.width, image.height):
            fitted = preview
        else:
            width = min(_PREVIEW_SIZE[0], TRAINED_SIZE[0])
            fitted = fit_image(preview, width, width // 2, fit)
        init = InitImage(str(path), fit, np.ascontiguousarray(np.asarray(fitted.convert("RGB"))), image.size)
        self.init_image_chosen.emit(init)
        return init

    def _recorded_fields(self, path: Path) -> tuple[dict[str, Any], list[str]]:
        from dit360_desktop.panorama.guide_copies import restore_guide_paths
        from dit360_desktop.panorama.imageio import read_metadata

        try:
            metadata = read_metadata(path)
        except ImageLoadError as e:
            # The pixels loaded; a file without readable metadata (WebP, TIFF, damaged text) is still usable.
            log.info("No parameters read from %s: %s", path, e)
            return {}, []
        fields = request_fields_from_metadata(metadata.dit360, metadata.parameters)
        if not fields.get("prompt"):
            return {}, []
        # The guide pictures saved beside the file (``<name>.guides/``) stand in for the recorded paths,
        # which were the machine's that made it; a missing copy is said, not silently skipped.
        return restore_guide_paths(fields, metadata.dit360, path)


def _local_files(event: QDropEvent) -> list[Path]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
