"""How long the UI thread stalls while the app sends its queue to a Ray cluster (``--cluster local``).

The 5 ms timer probe of ``ui_responsiveness.py`` runs on the UI thread of the real MainWindow, first idle
(the baseline, same run), then from "Send queue to cluster…" until the batch has finished: Ray imported
and started in the bridge thread, a worker process loading the tiny model, results saved and added to
the gallery. The Ray workers are separate processes; what the window can feel is the bridge thread
(imports, the driver loop, saving). Prints gaps in ms: median, 99th percentile, max, and how many went
over 50 ms.

    xvfb-run -a -s "-screen 0 1600x1000x24" python tests/benchmarks/cluster_ui_responsiveness.py
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ui_responsiveness import Probe, summarise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--cache", type=Path, help="keep the tiny test model here between runs")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="dit360-cluster-ui-"))
    os.environ["DIT360_HOME"] = str(home)

    from dit360_desktop.testing.tiny_flux import build_tiny_flux

    model = (args.cache or home) / "FLUX.1-dev"
    if not (model / "model_index.json").is_file():
        build_tiny_flux(model)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from dit360_desktop.app import apply_theme
    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.settings import Settings
    from dit360_desktop.ui.cluster.dialog import ClusterChoice
    from dit360_desktop.ui.viewer import prepare_application_opengl

    prepare_application_opengl()
    app = QApplication([])
    apply_theme(app)
    from dit360_desktop.ui.main_window import MainWindow

    window = MainWindow(Settings(library_dir=str(home / "library")), start_worker=False)
    window.resize(1440, 880)
    window.show()

    def pump(seconds: float, until=lambda: False) -> None:
        loop, check = QEventLoop(), QTimer()
        deadline = time.perf_counter() + seconds
        check.setInterval(10)
        check.timeout.connect(lambda: (until() or time.perf_counter() > deadline) and loop.quit())
        check.start()
        loop.exec()
        check.stop()

    pump(2.0)
    probe = Probe()
    start = probe.mark()
    pump(3.0)
    idle = probe.gaps_ms(start, probe.mark())

    requests = [
        GenerationRequest(
            f"a lake {i}", width=256, height=128, steps=4, seed=i, device="cpu", lora_path="none"
        )
        for i in range(args.jobs)
    ]
    window.worker.enqueue_many(requests)
    start, started = probe.mark(), time.perf_counter()
    window.cluster.send_queue(ClusterChoice("local", str(model), False, 1))
    pump(600.0, until=lambda: not window.cluster.running)
    pump(0.5)
    run = probe.gaps_ms(start, probe.mark())
    seconds = time.perf_counter() - started
    rows = [r for r in range(window.cluster.panel.list.count())]
    states = [window.cluster.panel.list.item(r).text().split(" · ")[0] for r in rows]

    print(f"{'phase':34}{'s':>8}{'median':>8}{'p99':>8}{'max':>9}{'>50ms':>7}")
    print(summarise("idle (baseline)", idle, 3.0))
    print(summarise("send queue to cluster (local)", run, seconds))
    ticks = probe.ticks[start:]
    late = [
        (round(b - started, 2), round((b - a) * 1000)) for a, b in itertools.pairwise(ticks) if b - a > 0.05
    ]
    print("gaps over 50 ms (s after Send, ms):", late)
    print("jobs:", states)
    window.cluster.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
