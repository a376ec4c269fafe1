"""Issue 21, item 1: a crash left a ``.partial-…exr`` beside the export and lost the settings changed since
the start. The next start removes the temp files of writers that are gone (``panorama/leftovers.py``),
and settings are saved when they change (``ui/settings_autosave.py``), not only at quit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")

from dit360_desktop import paths
from dit360_desktop.panorama.leftovers import remove_dead_leftovers
from dit360_desktop.settings import Settings, save_settings, settings_path
from dit360_desktop.ui.viewer.gl_support import DISABLE_ENV

REPO = Path(__file__).resolve().parents[2]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def make_leftovers(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    gone = dead_pid()
    made = {
        "dead_file": folder / f".partial-{gone}-0123abcd-pano.exr",
        "dead_folder": folder / f".partial-{gone}-89abcdef-cube",
        # A save of a process that still runs (this one's parent) is left alone.
        "live": folder / f".partial-{os.getppid()}-00ff00ff-pano.png",
        # Not our naming: never touched.
        "foreign": folder / ".partial-notes.txt",
    }
    made["dead_file"].write_bytes(b"half an exr")
    made["dead_folder"].mkdir()
    (made["dead_folder"] / "px.png").write_bytes(b"face")
    made["live"].write_bytes(b"in progress")
    made["foreign"].write_text("mine")
    return made


def test_only_dead_writers_leftovers_are_removed(tmp_path: Path) -> None:
    made = make_leftovers(tmp_path / "exports")
    removed = remove_dead_leftovers([tmp_path / "exports", tmp_path / "missing-folder"])
    assert sorted(removed) == sorted([made["dead_file"], made["dead_folder"]])
    assert not made["dead_file"].exists() and not made["dead_folder"].exists()
    assert made["live"].exists() and made["foreign"].exists()


def test_the_app_removes_a_crashed_exports_leftovers_at_start(tmp_path: Path) -> None:
    exports = tmp_path / "Exports"
    made = make_leftovers(exports)
    settings = Settings(last_folders={"export-exr": str(exports)})
    save_settings(settings)
    config_leftover = make_leftovers(paths.config_dir())["dead_file"]
    script = "import sys; from dit360_desktop.app import main; sys.exit(main([]))"
    # Without the GL viewer: this is about start-up and quitting, and Xvfb's GL under load is not
    # (the viewer's own tests cover it).
    env = {**os.environ, "PYTHONPATH": str(REPO), DISABLE_ENV: "1", "PYTHONFAULTHANDLER": "1"}
    app = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (made["dead_file"].exists() or config_leftover.exists()):
            assert app.poll() is None, app.stdout.read()
            time.sleep(0.2)
        assert not made["dead_file"].exists() and not made["dead_folder"].exists()
        assert not config_leftover.exists()
        assert made["live"].exists() and made["foreign"].exists()
    finally:
        app.send_signal(signal.SIGTERM)
        output, _ = app.communicate(timeout=60)
    assert app.returncode == 0, output
    assert "Traceback" not in output
    # The quit saved the settings, and the remembered folder is still there.
    assert json.loads(settings_path().read_text())["last_folders"]["export-exr"] == str(exports)


def test_settings_are_saved_when_they_change(qtbot, tmp_path: Path) -> None:
    from dit360_desktop.ui.main_window import MainWindow
    from dit360_desktop.ui.settings_autosave import SettingsAutosave

    file = tmp_path / "settings.json"
    window = MainWindow(Settings(), start_worker=False, settings_file=file)
    qtbot.addWidget(window)
    autosave = SettingsAutosave(window, interval_ms=50)
    qtbot.wait(300)
    assert autosave.saves == 0 and not file.exists()  # nothing changed, nothing written
    window.prompt_panel.prompt_edit.setPlainText("a lighthouse in fog")
    qtbot.waitUntil(lambda: file.exists(), timeout=5000)
    saved = json.loads(file.read_text())
    assert "a lighthouse in fog" in saved["last_parameters"]["prompt"]
    window.settings.last_folders["export-png"] = str(tmp_path)
    qtbot.waitUntil(lambda: json.loads(file.read_text())["last_folders"].get("export-png") == str(tmp_path))
    assert autosave.saves == 2
