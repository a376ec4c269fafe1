"""The gallery's inspector: the selected panorama's picture, lineage, repair scores, prompt, tags, actions and
every parameter."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QImage, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.history.entry import Entry

# Request fields in the order a person reads them, with their labels; any other field follows.
FIELD_LABELS = (
    ("negative_prompt", "Negative prompt"),
    ("seed", "Seed"),
    ("steps", "Steps"),
    ("guidance", "Guidance"),
    ("true_cfg_scale", "True CFG scale"),
    ("init_image", "Init image"),
    ("strength", "Strength"),
    ("fit", "Fit"),
    ("lora_path", "LoRA"),
    ("lora_scale", "LoRA scale"),
    ("dtype", "Precision"),
    ("device", "Device"),
    ("seamless_decode", "Seamless decode"),
    ("rewrap_each_step", "Re-wrap each step"),
)
HIDDEN_FIELDS = {"prompt", "width", "height"}
# The inspector's picture, 2:1 like the panorama: beside the text in the strip under the viewer (small
# enough that tiles, picture and table share a 1280-px-wide window), above it in a side column.
STRIP_PICTURE_SIZE = QSize(160, 80)
PICTURE_SIZE = QSize(216, 108)
MAX_CHILD_LINKS = 6
IMG2IMG_FIELDS = ("init_image", "strength", "fit")
PLACEHOLDER = "Select a panorama to see its parameters."


def details_html(entry: Entry) -> str:
    """A two-column table of everything known about the entry."""
    rows: list[tuple[str, str]] = [
        ("Size", f"{entry.width} × {entry.height}"),
        ("Created", entry.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")),
        *lineage_rows(entry),
    ]
    params = dict(entry.params)
    if not params.get("init_image"):
        # Text to image: strength and fit were never used, and "Init image —" says nothing.
        for key in IMG2IMG_FIELDS:
            params.pop(key, None)
    for key, label in FIELD_LABELS:
        if key in params:
            rows.append((label, _value(params.pop(key))))
    for key in sorted(params):
        if key not in HIDDEN_FIELDS:
            rows.append((key.replace("_", " ").capitalize(), _value(params[key])))
    for role, model in sorted(entry.models.items()):
        rows.append((f"Model ({role})", _model(model)))
    if entry.timings:
        total = sum(float(v) for v in entry.timings.values() if isinstance(v, (int, float)))
        parts = ", ".join(
            f"{k} {float(v):.1f} s" for k, v in entry.timings.items() if isinstance(v, (int, float))
        )
        rows.append(("Time", f"{total:.1f} s ({parts})"))
    versions = entry.metadata.get("versions")
    if isinstance(versions, dict) and versions:
        rows.append(("Versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    for warning in entry.metadata.get("warnings") or []:
        rows.append(("Warning", str(warning)))
    rows.append(("File", str(entry.path) + ("  (missing)" if entry.missing else "")))
    body = "".join(
        f"<tr><td class='k'>{html.escape(k)}</td><td class='v'>{html.escape(v)}</td></tr>" for k, v in rows
    )
    return (
        "<style>td{padding:2px 6px 2px 0;vertical-align:top}"
        " td.k{color:#8a93a3;white-space:nowrap} td.v{color:#d9dee7}</style>"
        f"<table cellspacing='0'>{body}</table>"
    )


def lineage_rows(entry: Entry) -> list[tuple[str, str]]:
    """An edit's parent and mask (history/lineage.py), for the details table."""
    lineage = entry.metadata.get("lineage")
    if not isinstance(lineage, dict) or entry.params.get("mask_image") is None:
        return []
    parent = lineage.get("parent")
    if entry.parent_id is not None:
        edited_from = f"entry #{entry.parent_id}" + (f" ({parent.rsplit('/', 1)[-1]})" if parent else "")
    elif parent:
        edited_from = f"{parent.rsplit('/', 1)[-1]} (no longer in the library)"
    else:
        edited_from = "a picture from outside the library"
    rows = [("Edit of", edited_from), ("Edit method", str(entry.params.get("edit_method", "")))]
    if entry.mask_path is not None:
        rows.append(("Mask", str(entry.mask_path) + ("" if entry.mask_path.exists() else "  (missing)")))
    return rows


def _value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _model(model: Any) -> str:
    if isinstance(model, dict):
        name = model.get("name") or model.get("path") or "?"
        extra = [f"{k} {v}" for k, v in model.items() if k in ("scale", "sha256") and v is not None]
        return f"{name}" + (f" ({', '.join(str(e)[:24] for e in extra)})" if extra else "")
    return str(model)


class DetailsPane(QFrame):
    """The selected entry's inspector: its picture, lineage (links to its parent and children), repair
    scores, prompt, tags, actions and every parameter.

    In the strip under the viewer (horizontal) the picture, lineage and scores form a column beside the
    prompt and the parameter table, so all of them are on screen in a 250 px strip at 1280×720 (the column
    scrolls to a repair's notes); docked at a side they stack.
    """

    tags_edited = Signal(list)
    # An entry id from a lineage link: the gallery selects it.
    entry_link_activated = Signal(int)

    def __init__(
        self,
        actions: list[QAction],
        parent: QWidget | None = None,
        children_of: Callable[[int], list[Entry]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("GalleryDetails")
        self._entry: Entry | None = None
        self._picture_size = PICTURE_SIZE
        self._children_of = children_of or (lambda _entry_id: [])
        self._outer = QBoxLayout(QBoxLayout.Direction.TopToBottom, self)
        self._outer.setContentsMargins(0, 8, 0, 0)
        self._outer.setSpacing(8)

        summary = QWidget()
        summary_layout = QVBoxLayout(summary)
        summary_layout.setContentsMargins(0, 0, 0, 0)
        summary_layout.setSpacing(4)
        self.picture = QLabel()
        self.picture.setObjectName("GalleryPicture")
        self.picture.setFixedSize(PICTURE_SIZE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        summary_layout.addWidget(self.picture)
        self.lineage = QLabel()
        self.lineage.setObjectName("GalleryLineage")
        self.lineage.setWordWrap(True)
        self.lineage.setTextFormat(Qt.TextFormat.RichText)
        self.lineage.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.lineage.linkActivated.connect(self._link)
        summary_layout.addWidget(self.lineage)
        self.scores = QLabel()
        self.scores.setObjectName("GalleryScores")
        self.scores.setWordWrap(True)
        self.scores.setTextFormat(Qt.TextFormat.RichText)
        summary_layout.addWidget(self.scores)
        summary_layout.addStretch(1)
        # The column scrolls: a repair's scores and notes are taller than the strip at 1280×720.
        self._summary = SummaryScroll(summary, self.picture)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.prompt = QLabel()
        self.prompt.setWordWrap(True)
        self.prompt.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prompt.setObjectName("GalleryPrompt")
        # Elided to the width it gets, never asking for the width of the whole prompt.
        self.prompt.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # Two lines at most (one in the strip): the whole prompt is in the tooltip.
        self._prompt_lines = 2
        self.prompt.setMaximumHeight(2 * self.prompt.fontMetrics().lineSpacing() + 4)
        layout.addWidget(self.prompt)

        self.tags = QLineEdit()
        self.tags.setPlaceholderText("Tags, separated by commas")
        self.tags.setClearButtonEnabled(True)
        self.tags.editingFinished.connect(self._emit_tags)
        layout.addWidget(self.tags)

        # A tool bar, not a row of buttons: in a narrow strip the actions that do not fit go into its »
        # menu instead of widening the dock (and squeezing the Generate panel).
        self.toolbar = QToolBar()
        self.toolbar.setIconSize(QSize(16, 16))
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.buttons: dict[str, QToolButton] = {}
        for action in actions:
            self.toolbar.addAction(action)
            button = self.toolbar.widgetForAction(action)
            if isinstance(button, QToolButton):
                self.buttons[action.objectName()] = button
        layout.addWidget(self.toolbar)

        self.table = QTextBrowser()
        self.table.setObjectName("GalleryTable")
        self.table.setOpenLinks(False)
        self.table.setMinimumHeight(60)
        layout.addWidget(self.table, 1)
        self._outer.addWidget(self._summary, 0, Qt.AlignmentFlag.AlignHCenter)
        self._outer.addWidget(body, 1)
        self.show_entry(None)

    @property
    def entry(self) -> Entry | None:
        return self._entry

    def set_orientation(self, orientation: Qt.Orientation) -> None:
        """Side by side (the strip under the viewer) or stacked (a side column)."""
        horizontal = orientation == Qt.Orientation.Horizontal
        self._outer.setDirection(
            QBoxLayout.Direction.LeftToRight if horizontal else QBoxLayout.Direction.TopToBottom
        )
        self._outer.setAlignment(
            self._summary, Qt.AlignmentFlag.AlignTop if horizontal else Qt.AlignmentFlag.AlignHCenter
        )
        self._picture_size = STRIP_PICTURE_SIZE if horizontal else PICTURE_SIZE
        # In the strip every line counts: the prompt gets one, the parameter table the rest.
        self._prompt_lines = 1 if horizontal else 2
        self.picture.setFixedSize(self._picture_size)
        self._summary.set_column_width(self._picture_size.width())
        self._show_prompt()
        if self._entry is not None:
            self._show_picture(self._entry)

    def show_entry(self, entry: Entry | None) -> None:
        self._entry = entry
        enabled = entry is not None
        self.tags.setEnabled(enabled)
        if entry is None:
            self._show_prompt()
            self.prompt.setToolTip("")
            self.tags.clear()
            self.table.clear()
            self.picture.clear()
            self.lineage.clear()
            self.scores.clear()
            return
        self._show_prompt()
        self.prompt.setToolTip(entry.prompt)
        self.tags.setText(", ".join(entry.tags))
        self.table.setHtml(details_html(entry))
        self._show_picture(entry)
        self.lineage.setText(lineage_html(entry, self._children_of(entry.id)))
        self.scores.setText(scores_html(entry))
        # The scroll area does not hear of its column's new height by itself.
        self._summary.updateGeometry()

    def _show_prompt(self) -> None:
        line = self.prompt.fontMetrics().lineSpacing()
        if self._entry is None:
            # A short sentence, wrapped whole: elided to the strip's one line it read "…its parame".
            self.prompt.setWordWrap(True)
            self.prompt.setMaximumHeight(3 * line + 4)
            self.prompt.setText(f"<span style='color:#8a93a3'>{PLACEHOLDER}</span>")
            return
        self.prompt.setWordWrap(self._prompt_lines > 1)
        self.prompt.setMaximumHeight(self._prompt_lines * line + 4)
        text = " ".join(self._entry.prompt.split())
        if self._prompt_lines == 1:
            width = max(40, self.prompt.width())
            text = self.prompt.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, width)
        self.prompt.setText(html.escape(text))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._prompt_lines == 1 and self._entry is not None:
            self._show_prompt()

    def _show_picture(self, entry: Entry) -> None:
        path = entry.thumbnail_path if entry.thumbnail_path and entry.thumbnail_path.is_file() else None
        image = QImage()
        if path is not None:
            reader = QImageReader(str(path))
            ratio = max(1.0, self.devicePixelRatioF())
            size = self._picture_size
            target = QSize(round(size.width() * ratio), round(size.height() * ratio))
            if reader.size().isValid():
                reader.setScaledSize(reader.size().scaled(target, Qt.AspectRatioMode.KeepAspectRatio))
            image = reader.read()
            image.setDevicePixelRatio(ratio)
        if image.isNull():
            self.picture.setPixmap(QPixmap())
            self.picture.setText("File missing" if entry.missing else "No preview")
        else:
            self.picture.setPixmap(QPixmap.fromImage(image))

    def _link(self, link: str) -> None:
        if link.startswith("entry:"):
            self.entry_link_activated.emit(int(link.split(":", 1)[1]))

    def _emit_tags(self) -> None:
        if self._entry is None:
            return
        tags = [t.strip() for t in self.tags.text().split(",") if t.strip()]
        if tags != list(self._entry.tags):
            self.tags_edited.emit(tags)


class SummaryScroll(QScrollArea):
    """The picture, lineage and scores column: as tall as its content where there is room (stacked in a
    side column), scrolling where there is not (the strip under the viewer); never shorter than the
    picture."""

    def __init__(self, column: QWidget, picture: QLabel) -> None:
        super().__init__()
        self._picture = picture
        self.setObjectName("GallerySummary")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        column.setObjectName("GallerySummaryColumn")
        self.setWidget(column)
        self.viewport().setAutoFillBackground(False)
        column.setAutoFillBackground(False)
        self.set_column_width(PICTURE_SIZE.width())

    def set_column_width(self, width: int) -> None:
        # Room for the scroll bar beside the picture, so the column never needs a sideways scroll.
        self.widget().setFixedWidth(width)
        self.setFixedWidth(width + self.verticalScrollBar().sizeHint().width())

    def sizeHint(self) -> QSize:
        column = self.widget()
        height = column.heightForWidth(column.width()) if column.hasHeightForWidth() else -1
        return QSize(self.maximumWidth(), max(height, column.sizeHint().height()) + 2 * self.frameWidth())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.maximumWidth(), self._picture.minimumHeight() + 2 * self.frameWidth())


def _entry_link(entry_id: int, label: str) -> str:
    return f"<a href='entry:{entry_id}' style='color:#6aa2ff'>{html.escape(label)}</a>"


def lineage_html(entry: Entry, children: list[Entry]) -> str:
    """Where the entry came from and what was made from it, as links the inspector follows."""
    kind = _made_by(entry)
    lines = []
    if entry.parent_id is not None:
        lines.append(f"{kind} of {_entry_link(entry.parent_id, f'#{entry.parent_id}')}")
    elif entry.params.get("init_image") or entry.params.get("mask_image"):
        lines.append(f"{kind} of a picture outside the library")
    else:
        lines.append("Generated from text")
    if children:
        shown = " ".join(
            _entry_link(c.id, f"#{c.id} ({_made_by(c).lower()})") for c in children[:MAX_CHILD_LINKS]
        )
        more = f" and {len(children) - MAX_CHILD_LINKS} more" if len(children) > MAX_CHILD_LINKS else ""
        lines.append(f"Made from it: {shown}{more}")
    return "<span style='color:#8a93a3'>" + "<br>".join(lines) + "</span>"


def _made_by(entry: Entry) -> str:
    metadata = entry.metadata
    if isinstance(metadata.get("repair"), dict):
        return "Repair"
    if isinstance(metadata.get("upscale"), dict) or entry.params.get("upscale"):
        return "Upscale"
    if entry.params.get("mask_image") is not None:
        return "Edit"
    if entry.params.get("init_image"):
        return "Image to image"
    return "Made"


def scores_html(entry: Entry) -> str:
    """A repair's seam and pole scores before and after, and which fixes it kept (lower is better)."""
    repair = entry.metadata.get("repair")
    if not isinstance(repair, dict):
        return ""
    rows = []
    seam = (repair.get("seam_before"), repair.get("seam_after"))
    if all(isinstance(v, (int, float)) for v in seam):
        rows.append(f"Seam {seam[0]:.2f} → {_score(seam[0], seam[1])}")
    poles = (repair.get("poles_before"), repair.get("poles_after"))
    if all(isinstance(v, (list, tuple)) and len(v) == 2 for v in poles):
        for name, before, after in zip(("Top pole", "Bottom pole"), poles[0], poles[1], strict=True):
            rows.append(f"{name} {before:.2f} → {_score(before, after)}")
    applied = repair.get("applied") or []
    rows.append("Applied: " + (html.escape(", ".join(str(a) for a in applied)) if applied else "nothing"))
    for note in repair.get("notes") or []:
        rows.append(f"<span style='color:#ffd9a0'>{html.escape(str(note))}</span>")
    return "<span style='color:#d9dee7'>" + "<br>".join(rows) + "</span>"


def _score(before: float, after: float) -> str:
    colour = "#7bd88f" if after < before else "#e0605a" if after > before else "#d9dee7"
    return f"<span style='color:{colour}'>{after:.2f}</span>"
