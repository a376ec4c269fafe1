"""Replays export sequences through the gallery as the app wires it (export dialog, background op, the
warning on failure), in its own process so that a crash is a result, not the end of the test run.

    python export_sequence.py OUT_JSON STEP [STEP …]    STEP = format[:hl=STOPS][:fail]

The app's start-up installs the UI-thread collector (``ui/ui_thread_gc.py``); this script does too. On
top of that every export op runs a full garbage collection on the export thread first, the moment at
which the interpreter's own collector crashed the app (issue 21, item 1): no widget and no relay may be
destroyed there. The thread every export dialog and every relay was destroyed on is written to OUT_JSON.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

from dit360_desktop.history.library import Library
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.ui.common.camera import CameraView, ViewMode
from dit360_desktop.ui.gallery import export_dialog
from dit360_desktop.ui.gallery import panel as panel_module
from dit360_desktop.ui.ui_thread_gc import collect_on_ui_thread
from dit360_desktop.ui.widgets import background

NAMES = {
    "jpeg-gpano": "pano-360.jpg",
    "png": "pano.png",
    "cubemap": "cube",
    "cubemap-cross": "cross.png",
    "perspective": "view.jpg",
    "exr": "pano.exr",
    "hdr": "pano.hdr",
}

destroyed: list[dict[str, str]] = []
failures: list[str] = []


def watch(obj: QObject, kind: str) -> None:
    obj.destroyed.connect(
        lambda *_: destroyed.append({"kind": kind, "thread": threading.current_thread().name}),
        Qt.ConnectionType.DirectConnection,
    )


def instrument() -> None:
    dialog_init = export_dialog.ExportDialog.__init__
    relay_init = background._Relay.__init__
    export_entry = panel_module.export_entry

    def new_dialog(self, *args, **kwargs) -> None:
        dialog_init(self, *args, **kwargs)
        watch(self, "ExportDialog")

    def new_relay(self, *args, **kwargs) -> None:
        relay_init(self, *args, **kwargs)
        watch(self, "Relay")

    def collecting_export(*args, **kwargs):
        gc.collect()
        return export_entry(*args, **kwargs)

    export_dialog.ExportDialog.__init__ = new_dialog
    background._Relay.__init__ = new_relay
    panel_module.export_entry = collecting_export


def main() -> int:
    faulthandler.enable()
    out_json, steps = Path(sys.argv[1]), sys.argv[2:]
    app = QApplication([sys.argv[0]])
    collect_on_ui_thread(app)
    gc.set_threshold(50, 2, 2)  # collections every few hundred allocations, as under load
    instrument()
    tmp = Path(tempfile.mkdtemp(prefix="export-sequence-"))
    pixels = np.random.default_rng(1).integers(0, 256, (256, 512, 3), dtype=np.uint8)
    request = GenerationRequest(prompt="This is a panorama image. Gravel", seed=1, width=512, height=256)
    library = Library.open(tmp / "library")
    library.save(Result(image=Image.fromarray(pixels), request=request, metadata={}, latent=None))
    window = QMainWindow()
    gallery = panel_module.GalleryPanel(library, window)
    gallery.report_error = lambda title, text: failures.append(text)
    gallery.choose_export = export_dialog.export_chooser(
        window, lambda: CameraView(0.0, 0.0, 90.0, ViewMode.PERSPECTIVE), {}
    )
    window.setCentralWidget(gallery)
    window.show()
    wait(app, 0.3)
    gallery.view.setCurrentIndex(gallery.model.index(0, 0))
    if gallery.current_entry() is None:
        raise SystemExit("the gallery shows no entry to export")
    blocker = tmp / "a-file"
    blocker.write_text("not a folder")
    written: list[str] = []
    for index, step in enumerate(steps):
        fmt, *flags = step.split(":")
        stops = next((float(f[3:]) for f in flags if f.startswith("hl=")), 0.0)
        parent = blocker if "fail" in flags else tmp / "exports"
        target = parent / f"{index}-{NAMES[fmt]}"
        drive_dialog(app, fmt, target, stops)
        gallery.export(fmt)
        before = len(failures)
        op_done = wait_for(app, lambda t=target, n=before: t.exists() or len(failures) > n)
        if not op_done:
            raise SystemExit(f"step {step}: the export neither finished nor failed")
        if "fail" not in flags:
            written.append(str(target))
    wait(app, 0.5)
    partials = [p.name for p in (tmp / "exports").rglob(".partial-*")]
    gallery.shutdown()
    library.close()
    out_json.write_text(
        json.dumps({"destroyed": destroyed, "failures": failures, "written": written, "partials": partials})
    )
    return 0


def drive_dialog(app: QApplication, fmt: str, target: Path, stops: float) -> None:
    """Fill in the export dialog once it is open, as a person would, and press Export."""

    def act() -> None:
        for widget in app.topLevelWidgets():
            if isinstance(widget, QMessageBox) and widget.isVisible():
                widget.accept()
            if widget.objectName() == "ExportDialog" and widget.isVisible():
                widget.format.setCurrentIndex(widget.format.findData(fmt))
                if stops:
                    widget.highlights.setValue(stops)
                widget.path.setText(str(target))
                widget.accept()
                return
        QTimer.singleShot(10, act)

    QTimer.singleShot(10, act)


def wait(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.002)


def wait_for(app: QApplication, condition, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            wait(app, 0.05)
            return True
        time.sleep(0.002)
    return False


if __name__ == "__main__":
    sys.exit(main())
