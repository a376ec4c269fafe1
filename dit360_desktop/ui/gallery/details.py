"""The details pane under the gallery: the selected panorama's prompt, tags, actions and every parameter."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QTextBrowser,
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
IMG2IMG_FIELDS = ("init_image", "strength", "fit")


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
    tags_edited = Signal(list)

    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("GalleryDetails")
        self._entry: Entry | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.setSpacing(6)

        self.prompt = QLabel()
        self.prompt.setWordWrap(True)
        self.prompt.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prompt.setObjectName("GalleryPrompt")
        layout.addWidget(self.prompt)

        self.tags = QLineEdit()
        self.tags.setPlaceholderText("Tags, separated by commas")
        self.tags.setClearButtonEnabled(True)
        self.tags.editingFinished.connect(self._emit_tags)
        layout.addWidget(self.tags)

        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        self.buttons: dict[str, QToolButton] = {}
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            button.setAutoRaise(True)
            buttons.addWidget(button)
            self.buttons[action.objectName()] = button
        buttons.addStretch(1)
        layout.addLayout(buttons)

        self.table = QTextBrowser()
        self.table.setObjectName("GalleryTable")
        self.table.setOpenLinks(False)
        layout.addWidget(self.table, 1)
        self.show_entry(None)

    @property
    def entry(self) -> Entry | None:
        return self._entry

    def show_entry(self, entry: Entry | None) -> None:
        self._entry = entry
        enabled = entry is not None
        self.tags.setEnabled(enabled)
        if entry is None:
            self.prompt.setText("<span style='color:#8a93a3'>Select a panorama to see its parameters.</span>")
            self.tags.clear()
            self.table.clear()
            return
        self.prompt.setText(html.escape(entry.prompt))
        self.tags.setText(", ".join(entry.tags))
        self.table.setHtml(details_html(entry))

    def _emit_tags(self) -> None:
        if self._entry is None:
            return
        tags = [t.strip() for t in self.tags.text().split(",") if t.strip()]
        if tags != list(self._entry.tags):
            self.tags_edited.emit(tags)
