"""Time from process start to the main window on screen, against a bare PySide6 window in the same run.

Each run spawns a fresh interpreter. The clock starts just before the spawn and stops at the moment the
window's QWindow receives its first Expose event (the app writes that moment to DIT360_STARTUP_PROBE and
quits; the baseline script does the same for an empty QMainWindow, as issue 13 asks). Runs alternate
app/baseline so machine load affects both alike.

    xvfb-run -a -s "-screen 0 1600x1000x24" python tests/benchmarks/startup_time.py --runs 7
    QT_QPA_PLATFORM=offscreen DIT360_DISABLE_GL=1 python tests/benchmarks/startup_time.py

With --idle it also times the span after the first frame, up to idle (every start-up step done, the
generation thread's torch import done, one quiet second more): the app writes its longest UI-thread gap
(a 5 ms timer on the UI thread; DIT360_IDLE_PROBE, ui/startup.py IdleProbe). The baseline is the same
probe on a bare QMainWindow over a span of the same length, in the same run.

    xvfb-run -a -s "-screen 0 1600x1000x24" python tests/benchmarks/startup_time.py --runs 5 --idle
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

BASELINE = """
import json, sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow

class Watch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Expose and obj.isExposed():
            open(sys.argv[1], "w").write(json.dumps({"exposed_unix": time.time()}))
            app.quit()
        return False

app = QApplication([])
window = QMainWindow()
window.resize(1440, 880)
window.show()
watch = Watch()
window.windowHandle().installEventFilter(watch)
app.exec()
"""


IDLE_BASELINE = """
import json, sys, time
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

ticks = []
def tick():
    ticks.append(time.perf_counter())
def done():
    gaps = [(b - a) * 1000 for a, b in zip(ticks, ticks[1:])]
    open(sys.argv[1], "w").write(json.dumps({"max_gap_ms": max(gaps, default=0.0)}))
    app.quit()
class Watch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Expose and obj.isExposed() and not ticks:
            timer.start()
            QTimer.singleShot(int(float(sys.argv[2]) * 1000), done)
        return False

app = QApplication([])
timer = QTimer()
timer.setTimerType(Qt.TimerType.PreciseTimer)
timer.setInterval(5)
timer.timeout.connect(tick)
window = QMainWindow()
window.resize(1440, 880)
window.show()
watch = Watch()
window.windowHandle().installEventFilter(watch)
app.exec()
"""


def _idle_run(command: list[str], probe: Path, env: dict[str, str]) -> dict:
    probe.unlink(missing_ok=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not probe.exists():
        raise RuntimeError(f"{command[:2]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(probe.read_text())


def idle_figures(runs: int, env: dict[str, str], tmp_path: Path) -> None:
    probe = tmp_path / "idle.json"
    idle_env = {**env, "DIT360_IDLE_PROBE": str(probe)}
    idle_env.pop("DIT360_STARTUP_PROBE", None)
    app_gaps, base_gaps, spans, when = [], [], [], []
    # One unmeasured run writes the .pyc files of what the generation thread imports (torch, diffusers,
    # transformers) into PYTHONPYCACHEPREFIX, where the runs look for them: without it the first run
    # compiled those libraries from source (GIL held through each compile: 67-98 ms gaps), which no
    # installed copy does (pip writes their .pyc files at install).
    _idle_run([sys.executable, str(REPO / "main.py")], probe, idle_env)
    for _ in range(runs):
        app = _idle_run([sys.executable, str(REPO / "main.py")], probe, idle_env)
        app_gaps.append(app["max_gap_ms"])
        when.append(app.get("max_gap_at_s"))
        spans.append(app["idle_s"])
        base = _idle_run(
            [sys.executable, "-c", IDLE_BASELINE, str(probe), f"{app['idle_s']:.2f}"], probe, env
        )
        base_gaps.append(base["max_gap_ms"])
    app_median, base_median = statistics.median(app_gaps), statistics.median(base_gaps)
    print(f"first frame to idle ({statistics.median(spans):.1f} s median): longest UI-thread gap")
    print(f"{'':22}{'median':>9}{'min':>9}{'max':>9}")
    for name, values in (("bare QMainWindow", base_gaps), ("python main.py", app_gaps)):
        print(f"{name:22}{statistics.median(values):9.0f}{min(values):9.0f}{max(values):9.0f}  ms")
    print(f"ratio app/baseline (median): {app_median / base_median:.2f}")
    print(f"app over budget (50 ms): {'no' if app_median <= 50 else 'YES'}", end="; ")
    print(f"runs over it: {sum(1 for gap in app_gaps if gap > 50)} of {runs}")
    # Where each run's longest gap fell, in seconds after the first frame (which start-up step it was).
    print("per run: " + ", ".join(f"{g:.0f} ms at {t:.2f} s" for g, t in zip(app_gaps, when, strict=True)))


def _run(command: list[str], probe: Path, env: dict[str, str], seen: set[str] | None = None) -> float:
    probe.unlink(missing_ok=True)
    started = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not probe.exists():
        raise RuntimeError(f"{command[:2]} failed ({done.returncode}): {done.stderr[-2000:]}")
    data = json.loads(probe.read_text())
    if data.get("torch_imported"):
        raise RuntimeError("torch was imported before the window was shown")
    if seen is not None and data.get("numpy_imported"):
        seen.add("numpy")
    return data["exposed_unix"] - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--idle", action="store_true", help="also time first frame to idle (UI-thread gaps)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dit360-startup-") as tmp:
        tmp_path = Path(tmp)
        probe = tmp_path / "probe.json"
        env = {**os.environ, "DIT360_HOME": str(tmp_path / "home"), "DIT360_STARTUP_PROBE": str(probe)}
        # An installed app runs from compiled .pyc files (pip and PyInstaller compile them); a checkout with
        # PYTHONDONTWRITEBYTECODE would recompile every module on every start. Cache them outside the repo.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
        app_cmd = [sys.executable, str(REPO / "main.py")]
        base_cmd = [sys.executable, "-c", BASELINE, str(probe)]
        # One unmeasured run of each warms the OS file cache and writes .pyc files.
        _run(app_cmd, probe, env)
        _run(base_cmd, probe, env)
        app_times, base_times, imported = [], [], set()
        for _ in range(args.runs):
            app_times.append(_run(app_cmd, probe, env, imported))
            base_times.append(_run(base_cmd, probe, env))
        if args.idle:
            idle_figures(args.runs, env, tmp_path)

    platform = os.environ.get("QT_QPA_PLATFORM") or ("xcb" if os.environ.get("DISPLAY") else "default")
    gl = "off" if os.environ.get("DIT360_DISABLE_GL") else "on"
    app_median, base_median = statistics.median(app_times), statistics.median(base_times)
    print(f"platform={platform} viewer-gl={gl} runs={args.runs} cpus={os.cpu_count()}")
    print(f"{'':22}{'median':>9}{'min':>9}{'max':>9}")
    for name, values in (("bare QMainWindow", base_times), ("python main.py", app_times)):
        print(f"{name:22}{statistics.median(values):9.3f}{min(values):9.3f}{max(values):9.3f}  s")
    print(f"ratio app/baseline (median): {app_median / base_median:.2f}")
    print(f"numpy imported before the first frame: {'yes' if imported else 'no'}")
    print(f"app over budget (1.0 s): {'no' if app_median <= 1.0 else 'YES'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
