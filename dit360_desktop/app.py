"""Start the desktop app: logging, single-instance lock, settings, main window.

Nothing on this path imports torch or diffusers: they take seconds to import, and the window must be on
screen within a second. The generation thread imports them once the window is shown.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dit360_desktop import __version__, paths
from dit360_desktop.ui.theme import apply_theme

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from dit360_desktop.ui.main_window import MainWindow

log = logging.getLogger("dit360_desktop")

LOG_FILE = "dit360-desktop.log"
# Set to a file path: the app writes the moment its window is first exposed to that file, then quits.
# tests/benchmarks/startup_time.py uses it to time start-up from outside the process.
STARTUP_PROBE_ENV = "DIT360_STARTUP_PROBE"
# Set to a file path: the app writes its longest UI-thread gap from the first frame to idle there, then quits.
IDLE_PROBE_ENV = "DIT360_IDLE_PROBE"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dit360-desktop", description="DiT360 Desktop: 360° panoramas.")
    parser.add_argument("--version", action="version", version=f"DiT360 Desktop {__version__}")
    parser.add_argument(
        "--model",
        type=Path,
        metavar="DIR",
        help="a diffusers-layout FLUX.1-dev folder to use for this session (overrides the settings)",
    )
    parser.add_argument(
        "--library", type=Path, metavar="DIR", help="the history library folder for this session"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also log debug messages to stderr")
    parser.add_argument("images", nargs="*", type=Path, help="an image to open as the init image")
    return parser.parse_args(argv)


def setup_logging(verbose: bool = False) -> Path:
    """A rotating log file in the platform log folder, plus warnings (or everything with -v) on stderr."""
    folder = paths.log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / LOG_FILE
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    file_handler = logging.handlers.RotatingFileHandler(
        log_path, maxBytes=2_000_000, backupCount=5, encoding="utf-8", delay=True
    )
    file_handler.setLevel(logging.INFO)
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    root.addHandler(stderr_handler)
    # Third-party debug chatter (PIL plugin scans, urllib3) drowns our own messages.
    for name in ("PIL", "urllib3", "filelock", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return log_path


def _install_qt_message_handler() -> None:
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }
    qt_log = logging.getLogger("qt")

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        qt_log.log(levels.get(kind, logging.WARNING), "%s", message)

    qInstallMessageHandler(handler)


def import_numpy_with_one_blas_thread() -> None:
    """Import numpy with its OpenBLAS pool at one thread, then put the environment back.

    OpenBLAS starts a thread per core when it loads (about 40 ms on two cores, more on more, spent just after
    the first frame, when the history and the sample panorama are loading).
    The app makes no large numpy matrix products: torch does the maths, with its own threads, and the UI's
    numpy work is element-wise. OpenBLAS reads the variable only when it loads, so restoring it at once
    leaves torch's own BLAS and the processes the app starts with the person's setting.
    """
    name = "OPENBLAS_NUM_THREADS"
    chosen = os.environ.get(name)
    if chosen is None:
        os.environ[name] = "1"
    try:
        import numpy  # noqa: F401
    finally:
        if chosen is None:
            os.environ.pop(name, None)


def _write_startup_probe(target: str, started: float) -> None:
    payload = {
        "exposed_unix": time.time(),
        "in_process_s": time.perf_counter() - started,
        "torch_imported": "torch" in sys.modules,
        "diffusers_imported": "diffusers" in sys.modules,
        "numpy_imported": "numpy" in sys.modules,
    }
    Path(target).write_text(json.dumps(payload), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    arguments = sys.argv[1:] if argv is None else argv
    if "--selftest" in arguments:
        from dit360_desktop.selftest import main as selftest_main

        return selftest_main(arguments, gui=True)
    args = parse_args(arguments)
    log_path = setup_logging(args.verbose)
    log.info("DiT360 Desktop %s starting (log: %s)", __version__, log_path)
    from dit360_desktop.ui.pyside_imports import skip_source_reads

    # PySide6 is in (ui.theme): from here on no import reads its module's source for PySide6's sake.
    skip_source_reads()

    # Nothing the first frame needs imports numpy (about 90 ms on a small machine, more once PySide6's import
    # hook is in place): it is imported just after the first frame, below.
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    from dit360_desktop.ui.single_instance import SingleInstance, notify_running_instance, server_name_for

    QCoreApplication.setOrganizationName("DiT360")
    QCoreApplication.setApplicationName(paths.APP_NAME)
    QCoreApplication.setApplicationVersion(__version__)
    QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    _install_qt_message_handler()
    from dit360_desktop.ui.viewer import prepare_application_opengl

    prepare_application_opengl()
    # Qt options go through the environment (QT_QPA_PLATFORM, QT_SCALE_FACTOR ...), not the command line.
    app = QApplication([sys.argv[0]])
    from dit360_desktop.ui.ui_thread_gc import collect_on_ui_thread

    # Qt objects in reference cycles must never be deleted by a collection on a worker thread.
    collect_on_ui_thread(app)
    apply_theme(app)
    app.setDesktopFileName(paths.APP_SLUG)

    instance = SingleInstance(paths.config_dir(), server_name_for(paths.config_dir()))
    if not instance.acquire(listen=False):
        files = [str(p.resolve()) for p in args.images]
        if notify_running_instance(instance.server_name, files):
            log.info("Another instance is running; asked it to come forward")
            return 0
        return _report_unreachable_instance(instance.lock_path)

    from dit360_desktop.settings import load_settings
    from dit360_desktop.ui.generation.worker import tune_thread_switching
    from dit360_desktop.ui.main_window import MainWindow

    tune_thread_switching()
    loaded = load_settings()
    window = MainWindow(
        loaded.settings,
        model_dir_override=args.model,
        library_dir_override=args.library,
        settings_notice=loaded.notice,
    )
    instance.activation_requested.connect(window.bring_to_front)
    # A quit that does not go through the window's close (the start-up probe, a session ending) must still
    # end the generation thread: Qt aborts if a running QThread is destroyed.
    app.aboutToQuit.connect(window.shutdown)
    _quit_on_signals(app)
    # After the first frame: numpy is imported off the UI thread with the other start-up modules, then these
    # run among the window's start-up steps, one per event-loop turn (ui/startup.py).
    window.startup.numpy_import = import_numpy_with_one_blas_thread
    window.startup.add("single instance", instance.listen)
    window.startup.add("settings autosave", lambda: _after_first_frame(window))
    probe = os.environ.get(STARTUP_PROBE_ENV)
    if probe:
        window.first_exposed.connect(lambda: (_write_startup_probe(probe, started), app.quit()))
    idle_probe = os.environ.get(IDLE_PROBE_ENV)
    if idle_probe:
        from dit360_desktop.ui.startup import IdleProbe

        window.idle_probe = IdleProbe(window, idle_probe, app.quit)
    window.show()
    log.info("Main window shown after %.3f s", time.perf_counter() - started)
    if args.images:
        window.open_init_image_later(args.images[0])
    try:
        return app.exec()
    finally:
        instance.release()


def _after_first_frame(window: MainWindow) -> None:
    """Settings are saved when they change, and temp files a crashed save left behind are removed (off
    the UI thread: the folders may be large or on a slow drive)."""
    import threading

    from PySide6.QtCore import QStandardPaths

    from dit360_desktop.panorama.leftovers import remove_dead_leftovers
    from dit360_desktop.ui.settings_autosave import SettingsAutosave

    window.settings_autosave = SettingsAutosave(window)
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    folders = [paths.config_dir(), *([Path(pictures)] if pictures else [])]
    folders += [Path(f) for f in window.settings.last_folders.values() if isinstance(f, str) and f]
    threading.Thread(
        target=remove_dead_leftovers, args=(folders,), name="leftover-cleanup", daemon=True
    ).start()


def _quit_on_signals(app: QApplication) -> None:
    """Ctrl+C in the terminal or SIGTERM quits cleanly (the generation thread is stopped, settings kept).

    Python runs signal handlers only when the interpreter gets control; a cheap timer gives it that
    chance while Qt's event loop waits.
    """
    import signal

    from PySide6.QtCore import QTimer

    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: app.quit())
    timer = QTimer(app)
    timer.setInterval(250)
    timer.timeout.connect(lambda: None)
    timer.start()


def _report_unreachable_instance(lock_path: Path) -> int:
    from PySide6.QtWidgets import QMessageBox

    log.error("The instance lock %s is held by a process that does not answer", lock_path)
    QMessageBox.warning(
        None,
        paths.APP_NAME,
        "DiT360 Desktop is already running but did not respond.\n\n"
        "If it is not running, close any DiT360 Desktop process and try again. "
        f"The lock file is {lock_path}.",
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
