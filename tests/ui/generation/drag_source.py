"""A separate application that drags a file, as a file manager does, for the real drag-and-drop test.

Usage: python drag_source.py FILE X Y. A small frameless window sits at (X, Y); every mouse press on
it starts a QDrag carrying FILE's URL, which goes over X11 (XDND) to whichever window the pointer is
over. It prints READY once shown and "DRAG <action>" after each drag; it runs until killed.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QApplication, QLabel

SIZE = (120, 80)


class DragSource(QLabel):
    def __init__(self, path: str) -> None:
        super().__init__("drag me")
        self._path = path

    def mousePressEvent(self, event) -> None:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(self._path)])
        drag = QDrag(self)
        drag.setMimeData(mime)
        action = drag.exec(Qt.DropAction.CopyAction)
        print("DRAG", action.name, flush=True)


def main() -> None:
    path, x, y = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    app = QApplication([])
    source = DragSource(path)
    source.setWindowFlag(Qt.WindowType.FramelessWindowHint)
    source.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint)
    source.setGeometry(x, y, *SIZE)
    source.show()
    print("READY", flush=True)
    app.exec()


if __name__ == "__main__":
    main()
