"""How long the UI thread stalls while the app generates, measured with a 5 ms timer probe.

A QTimer fires every 5 ms on the UI thread and records when it actually ran; a gap between two ticks is
how long the event loop could not react (to a click, a key, a repaint). The same probe runs while the app
is idle (the baseline) and during each phase:

- preload: the generation thread importing torch, diffusers, transformers and PEFT after the window
  is shown (until the worker's ``preload_finished``);
- cold: the first generation (model load + run);
- warm: later generations with the model loaded, at CPython's default thread switch interval (5 ms)
  and at the app's 1 ms (``worker.tune_thread_switching``);
- open for editing: an 8192×4096 panorama opened in edit mode (decoded on the thread pool, issue 21
  item 13), from the call until edit mode is on and one quiet second more;
- gallery scroll: the history gallery of 2,000 entries scrolled top to bottom with the mouse wheel's step.

``--flows-only`` skips the generations (no model needed) and measures start-up, idle and the flows.

It drives the real MainWindow and GenerationWorker with the SMALL random-weight FLUX model from
``dit360_desktop.testing.tiny_flux`` (built on first use and cached with --cache).

    xvfb-run -a -s "-screen 0 1600x1000x24" python tests/benchmarks/ui_responsiveness.py --cache /tmp/flux
    QT_QPA_PLATFORM=offscreen DIT360_DISABLE_GL=1 \
        python tests/benchmarks/ui_responsiveness.py --cache /tmp/flux
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROBE_MS = 5
STALL_MS = 50


def build_model(cache: Path | None) -> Path:
    from dit360_desktop.testing.tiny_flux import SMALL, build_tiny_flux

    folder = (cache or Path(tempfile.mkdtemp(prefix="dit360-small-flux-"))) / "FLUX.1-dev"
    if not (folder / "model_index.json").is_file():
        print(f"building the SMALL test model in {folder} …", flush=True)
        build_tiny_flux(folder, size=SMALL)
    return folder


class Probe:
    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        self.timer.start()

    def mark(self) -> int:
        return len(self.ticks)

    def gaps_ms(self, start: int, end: int) -> np.ndarray:
        ticks = np.asarray(self.ticks[start:end])
        return np.diff(ticks) * 1000.0 if len(ticks) > 1 else np.zeros(0)


def summarise(name: str, gaps: np.ndarray, seconds: float) -> str:
    if gaps.size == 0:
        return f"{name:34} (no ticks)"
    over = int((gaps > STALL_MS).sum())
    return (
        f"{name:34}{seconds:8.1f}{np.median(gaps):8.1f}{np.percentile(gaps, 99):8.1f}"
        f"{gaps.max():9.1f}{over:7d}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, help="a FLUX-layout folder (default: build the SMALL test model)"
    )
    parser.add_argument("--cache", type=Path, help="where to keep the built SMALL model between runs")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warm-runs", type=int, default=2)
    parser.add_argument("--flows-only", action="store_true", help="no generations: start-up, idle, flows")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="dit360-ui-bench-"))
    os.environ["DIT360_HOME"] = str(home)
    model = None if args.flows_only else (args.model or build_model(args.cache))

    from PySide6.QtWidgets import QApplication

    from dit360_desktop.app import apply_theme
    from dit360_desktop.settings import Settings
    from dit360_desktop.ui.viewer import prepare_application_opengl

    prepare_application_opengl()
    app = QApplication([])
    apply_theme(app)
    from dit360_desktop.ui.main_window import MainWindow

    def pump_until(condition, timeout_s: float) -> None:
        # A real event loop, idle between events as in the app's app.exec(); a processEvents() loop
        # would keep the UI thread busy on a core of its own and distort what it measures.
        from PySide6.QtCore import QEventLoop, QTimer

        deadline = time.perf_counter() + timeout_s
        loop = QEventLoop()
        check = QTimer()
        check.setInterval(10)

        def poll() -> None:
            if condition() or time.perf_counter() > deadline:
                loop.quit()

        check.timeout.connect(poll)
        check.start()
        if not condition():
            loop.exec()
        check.stop()
        if not condition():
            raise TimeoutError("the benchmark timed out")

    def pump_for(seconds: float) -> None:
        end = time.perf_counter() + seconds
        pump_until(lambda: time.perf_counter() >= end, seconds + 5)

    # A library of 2,000 entries for the gallery flow (tests/history/history_factory.py).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "history"))
    from history_factory import populate_library

    populate_library(home / "library", 2000)
    window = MainWindow(Settings(model_dir=str(model) if model else None, library_dir=str(home / "library")))
    window.confirm_stop = lambda: True
    devices: list[str] = []
    preloaded: list[bool] = []
    window.worker.device_changed.connect(devices.append)
    window.worker.preload_finished.connect(lambda: preloaded.append(True))
    window.show()
    probe = Probe()
    rows = []
    sys.setswitchinterval(0.005)
    start, t0 = probe.mark(), time.perf_counter()
    pump_until(lambda: bool(devices) and bool(preloaded) and window.gallery is not None, 300)
    rows.append(summarise("start-up + preload", probe.gaps_ms(start, probe.mark()), time.perf_counter() - t0))
    pump_for(2.0)  # let the sample panorama and the gallery settle

    start, t0 = probe.mark(), time.perf_counter()
    pump_for(3.0)
    rows.append(summarise("idle (baseline)", probe.gaps_ms(start, probe.mark()), time.perf_counter() - t0))

    # Open an 8192×4096 panorama for editing.
    from PIL import Image

    big = home / "big.jpg"
    ramp = np.linspace(0, 255, 8192, dtype=np.float32)
    heights = np.linspace(0, 255, 4096, dtype=np.float32)[:, None]
    planes = [
        np.broadcast_to(ramp, (4096, 8192)),
        np.broadcast_to(heights, (4096, 8192)),
        np.full((4096, 8192), 90.0),
    ]
    Image.fromarray(np.stack(planes, axis=-1).astype(np.uint8)).save(big, quality=90)
    edit = window.editing.edit
    start, t0 = probe.mark(), time.perf_counter()
    edit.start(big)
    pump_until(lambda: edit.active, 120)
    pump_for(1.0)
    rows.append(
        summarise("open 8192×4096 for editing", probe.gaps_ms(start, probe.mark()), time.perf_counter() - t0)
    )
    edit.stop()
    # The viewer uploads the panorama it goes back to: not part of the next flow.
    pump_for(8.0)

    # Scroll the history gallery through its 2,000 entries.
    bar = window.gallery.view.verticalScrollBar()
    start, t0 = probe.mark(), time.perf_counter()
    while bar.value() < bar.maximum():
        bar.setValue(bar.value() + 240)
        pump_for(1 / 60)
    pump_for(1.0)
    rows.append(
        summarise(
            "gallery scroll, 2,000 entries", probe.gaps_ms(start, probe.mark()), time.perf_counter() - t0
        )
    )

    window.prompt_panel.prompt_edit.setPlainText("a quiet harbour at dusk")
    window.params_panel.set_size(args.width, args.height)
    window.params_panel.steps.setValue(args.steps)

    def one_run(label: str) -> None:
        window.last_finished = None
        begin, t_start = probe.mark(), time.perf_counter()
        window.generate()
        pump_until(lambda: window.last_finished is not None or window.last_error_dialog is not None, 900)
        if window.last_finished is None:
            raise RuntimeError(window.last_error_dialog.report.message)
        rows.append(summarise(label, probe.gaps_ms(begin, probe.mark()), time.perf_counter() - t_start))

    if not args.flows_only:
        one_run("cold run (load + generate)")
    for interval_ms in () if args.flows_only else (5.0, 1.0):
        sys.setswitchinterval(interval_ms / 1000)
        for index in range(args.warm_runs):
            one_run(f"warm run {index + 1}, switch {interval_ms:g} ms")

    gl = "off" if os.environ.get("DIT360_DISABLE_GL") else "on"
    print(
        f"\nUI-thread gaps of a {PROBE_MS} ms probe timer; {args.width}×{args.height}, {args.steps} steps, "
        f"SMALL model, device {devices[0] if devices else '?'}, viewer GL {gl}, cpus {os.cpu_count()}"
    )
    print(f"{'phase':34}{'secs':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>9}{'>50ms':>7}")
    for row in rows:
        print(row)
    window.close()
    pump_until(lambda: not window.worker.isRunning(), 120)
    window.deleteLater()
    pump_for(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
