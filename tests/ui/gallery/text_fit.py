"""A check the gallery's layout tests share: a label's whole text can be read in its scrolling column."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QScrollArea


def scrolls_into_view(label: QLabel, column: QScrollArea) -> bool:
    """The label has the height its whole text needs, and scrolling the column brings all of it on screen,
    full width, a part at a time where it is taller than the column, with no part skipped."""
    needed = label.heightForWidth(label.width()) if label.wordWrap() else label.sizeHint().height()
    if needed > label.height():
        return False
    if label.mapTo(column.widget(), label.rect().topLeft()).y() < 0:
        return False
    bar, shown = column.verticalScrollBar(), 0
    for value in range(bar.minimum(), bar.maximum() + bar.pageStep(), max(1, bar.pageStep())):
        bar.setValue(min(value, bar.maximum()))
        visible = label.visibleRegion().boundingRect()
        if visible.isEmpty():
            continue
        if visible.width() < label.width() or visible.top() > shown:
            return False
        shown = max(shown, visible.bottom() + 1)
    return shown >= needed
