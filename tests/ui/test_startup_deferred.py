"""Start-up: what the first frame does not need waits until after it, and nothing moves when it arrives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Builds the window, reports what was imported when it was first exposed, then what the first frame's
# follow-up built and whether the visible panels moved.
_SCRIPT = """
import json, sys, threading
# Which thread first imports the heavy modules (ui/startup.py imports them off the UI thread).
importers = {}
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in ("numpy", "PIL.Image", "OpenGL.GL", "dit360_desktop.ui.editing.feature",
                    "dit360_desktop.ui.gallery.panel") and name not in importers:
            importers[name] = threading.current_thread().name
        return None
sys.meta_path.insert(0, Watch())
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from dit360_desktop.ui.theme import apply_theme
app = QApplication([])
apply_theme(app)
from dit360_desktop.ui.main_window import MainWindow
window = MainWindow(start_worker=False)
report = {}
def geometry():
    content = window.side_panel.sections.parentWidget()
    widgets = (window.side_panel, content, window.prompt_panel, window.params_panel, window.generate_button)
    return [w.geometry().getRect() for w in widgets]
def exposed():
    report["at_expose"] = {
        "editing_modules": sorted(m for m in sys.modules if m.startswith("dit360_desktop.ui.editing")),
        "pil": "PIL" in sys.modules,
        "numpy": "numpy" in sys.modules,
        "cluster_dialog": "dit360_desktop.ui.cluster.dialog" in sys.modules,
        "editing_built": window._editing is not None,
    }
    report["geometry_before"] = geometry()
    wait_for_steps()
def wait_for_steps():
    # The start-up steps run once the background imports are done, one per event-loop turn.
    if window.startup.done:
        later()
    else:
        QTimer.singleShot(50, wait_for_steps)
def later():
    editing = window._editing
    report["after"] = {
        "editing_built": editing is not None,
        "menu_has_edit": editing is not None and editing.act_edit in window.menus.generate.actions(),
        "drop_keys": [a.key for a in window.drop._actions],
        "panels_hidden": editing is not None
            and not editing.edit_panel.isVisible() and not editing.placement_panel.isVisible(),
    }
    report["geometry_after"] = geometry()
    report["importers"] = importers
    report["ui_thread"] = threading.current_thread().name
    print("REPORT", json.dumps(report), flush=True)
    app.quit()
window.first_exposed.connect(exposed)
window.resize(1440, 880)
window.show()
app.exec()
window.shutdown()
"""


def _run(script: str, env_extra: dict[str, str] | None = None) -> dict:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "DIT360_DISABLE_GL": "1",
        "PYTHONPATH": str(REPO),
        **(env_extra or {}),
    }
    env.pop("OPENBLAS_NUM_THREADS", None)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))


def test_editing_pil_and_numpy_wait_for_the_first_frame_and_nothing_moves(tmp_path) -> None:
    report = _run(_SCRIPT, {"DIT360_HOME": str(tmp_path / "home")})
    first = report["at_expose"]
    assert first == {
        "editing_modules": [],
        "pil": False,
        "numpy": False,
        "cluster_dialog": False,
        "editing_built": False,
    }
    after = report["after"]
    assert after["editing_built"] and after["menu_has_edit"] and after["panels_hidden"]
    assert {"place", "edit"} <= set(after["drop_keys"])
    assert report["geometry_after"] == report["geometry_before"]


def test_start_up_imports_run_off_the_ui_thread_before_the_steps_need_them(tmp_path) -> None:
    """numpy, Pillow, PyOpenGL, the editing panels and the gallery are imported by the start-up import
    thread (issue 21.12: on the UI thread they froze the window for about a second after the first frame),
    so the steps that build the editing panels and the gallery find them imported."""
    report = _run(_SCRIPT, {"DIT360_HOME": str(tmp_path / "home")})
    importers = report["importers"]
    assert importers["numpy"] == importers["PIL.Image"] == "StartupImports"
    assert importers["dit360_desktop.ui.editing.feature"] == "StartupImports"
    assert importers["dit360_desktop.ui.gallery.panel"] == "StartupImports"
    assert report["ui_thread"] != "StartupImports"


def test_editing_is_built_on_first_use_before_the_first_frame(qtbot) -> None:
    from dit360_desktop.ui.main_window import MainWindow

    window = MainWindow(start_worker=False)
    qtbot.addWidget(window)
    assert window._editing is None
    editing = window.editing
    assert window.editing is editing and editing.act_edit in window.menus.generate.actions()
    window.shutdown()
    assert not editing.temp_dir.exists()


_THREADS = """
import os, sys
from dit360_desktop.app import import_numpy_with_one_blas_thread
if sys.argv[1] == "app":
    import_numpy_with_one_blas_thread()
else:
    import numpy
print("THREADS", len(os.listdir("/proc/self/task")), os.environ.get("OPENBLAS_NUM_THREADS"), flush=True)
"""


def test_numpy_loads_with_one_blas_thread_and_the_environment_is_put_back() -> None:
    if not Path("/proc/self/task").is_dir() or (os.cpu_count() or 1) < 2:
        import pytest

        pytest.skip("counts threads in /proc on a machine with two or more cores")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("OPENBLAS_NUM_THREADS", None)
    counts = {}
    for mode in ("plain", "app"):
        out = subprocess.run(
            [sys.executable, "-c", _THREADS, mode], capture_output=True, text=True, env=env, timeout=60
        )
        assert out.returncode == 0, out.stderr
        _, threads, variable = out.stdout.split()
        counts[mode] = int(threads)
        assert variable == "None"  # torch and child processes see the person's (absent) setting
    assert counts["app"] < counts["plain"]
    # A person's own setting is kept as it is.
    out = subprocess.run(
        [sys.executable, "-c", _THREADS, "app"],
        capture_output=True,
        text=True,
        env={**env, "OPENBLAS_NUM_THREADS": "2"},
        timeout=60,
    )
    assert out.stdout.split()[1:] == ["2", "2"]


def test_the_opengl_probe_waits_for_the_first_frame(qtbot, monkeypatch) -> None:
    from dit360_desktop.ui.main_window import MainWindow
    from dit360_desktop.ui.viewer import DISABLE_ENV, ViewerUnavailable, gl_support

    calls: list[int] = []
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.setattr(gl_support, "_probe_context", lambda: calls.append(1) or "No OpenGL 3.3 here.")
    window = MainWindow(start_worker=False)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.first_exposed, timeout=20_000):
        window.show()
    # The first frame shows the "Starting the 360° viewer…" note; the probe has not run yet.
    assert calls == [] and not window.viewer.isVisible() and window.centre.starting_note.isVisible()
    qtbot.waitUntil(lambda: isinstance(window.viewer, ViewerUnavailable), timeout=10_000)
    assert calls == [1] and window.viewer.isVisible() and window.viewer.failure == "No OpenGL 3.3 here."
    assert not window.centre.starting_note.isVisible()
    window.shutdown()


def test_start_up_imports_begin_after_the_first_frames_paint(qtbot) -> None:
    """The paint follows the expose event in the same turn; imports begun at the expose held the GIL
    against its Python parts (icons, event filters): a 50 ms paint took 90-100 (issue 21 item 12)."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    from dit360_desktop.ui.main_window import MainWindow

    window = MainWindow(start_worker=False)
    qtbot.addWidget(window)
    seen: dict[str, bool] = {}

    class FirstPaint(QObject):
        def eventFilter(self, watched, event) -> bool:
            if event.type() == QEvent.Type.Paint and "exposed" in seen and "painted" not in seen:
                seen["painted"] = window.startup.started
            return False  # only watches: every event goes on to its widget

    watcher = FirstPaint()
    QApplication.instance().installEventFilter(watcher)
    window.first_exposed.connect(lambda: seen.setdefault("exposed", window.startup.started))
    try:
        with qtbot.waitSignal(window.first_exposed, timeout=20_000):
            window.show()
        qtbot.waitUntil(lambda: window.startup.done, timeout=30_000)
    finally:
        QApplication.instance().removeEventFilter(watcher)
    assert seen == {"exposed": False, "painted": False}
    window.shutdown()
