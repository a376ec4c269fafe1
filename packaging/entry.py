"""Entry point of the frozen bundle, shared by its two executables.

``dit360-desktop`` (windowed) starts the GUI and ``dit360`` (console) the command line; both are built from
this one script so they share one set of frozen libraries. ``--selftest`` and the self-test's Qt probe are
dispatched here, before the GUI or CLI is imported, so a broken GUI module cannot hide a self-test result.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

CLI_NAMES = {"dit360", "dit360-cli"}


def is_gui_executable(executable: str) -> bool:
    return Path(executable).stem.lower() not in CLI_NAMES


def main() -> int:
    argv = sys.argv[1:]
    gui = is_gui_executable(sys.executable if getattr(sys, "frozen", False) else sys.argv[0])
    if argv[:1] == ["--selftest-qt-probe"]:
        from dit360_desktop.selftest.qt_probe import main as probe_main

        return probe_main()
    if "--selftest" in argv:
        from dit360_desktop.selftest import main as selftest_main

        return selftest_main(argv, gui=gui)
    if gui:
        from dit360_desktop.app import main as app_main

        return int(app_main() or 0)
    from dit360_desktop.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    # Frozen Windows/macOS builds re-execute this binary for multiprocessing children (spawn).
    multiprocessing.freeze_support()
    sys.exit(main())
