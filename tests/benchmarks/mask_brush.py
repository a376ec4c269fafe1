"""Mask brush cost per pointer move on the UI thread, against a full-frame rasteriser in the same run.

    .venv/bin/python tests/benchmarks/mask_brush.py [--sizes 2048 8192] [--repeat 5]

A pointer move paints one stroke segment. The brush computes only the rows and (wrapped) columns of the
segment's bounding window; the baseline computes the same capsule over every pixel of the mask, which is
what a naive rasteriser does. Reported per case: the worst time of painting a move (ms), the
baseline's time and their ratio. A "pole" case is the worst one: every column of the polar rows lies
inside the cap.

The app paints on a background thread (``StrokePainter``): the UI thread only queues the move. The last
columns give what the UI thread spends per move that way (it must fit the 50 ms stall budget) and how
long after the move the mask shows it.

Last, the stall check: a Qt event loop ticks a 5 ms timer while the painter thread paints a worst-case
stroke (30° brush over the pole and across the seam, 8192×4096) and a small one; reported is the
longest gap between ticks (the UI thread's worst stall), against the same loop with nothing painting.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from dit360_desktop.ui.painting.brush import (
    Brush,
    EquirectGrid,
    arc_closeness,
    brush_alpha,
    lonlat_to_direction,
)
from dit360_desktop.ui.painting.mask_model import MaskModel
from dit360_desktop.ui.painting.stroke_thread import StrokePainter

STALL_BUDGET_MS = 50.0
# (name, brush radius in degrees, start lon/lat, end lon/lat): one pointer move each.
CASES = (
    ("small, equator", 2.0, (0.0, 0.0), (1.5, 0.5)),
    ("medium, across seam", 10.0, (176.0, 20.0), (-176.0, 22.0)),
    ("large, mid latitude", 30.0, (40.0, 45.0), (50.0, 40.0)),
    ("large, over the pole", 30.0, (0.0, 80.0), (20.0, 85.0)),
    ("fast flick 90°", 5.0, (-45.0, 0.0), (45.0, 10.0)),
)


def full_frame(mask: np.ndarray, grid: EquirectGrid, a: np.ndarray, b: np.ndarray, brush: Brush) -> None:
    closeness = arc_closeness(grid.projector(slice(0, grid.height), slice(0, grid.width)), a, b)
    alpha = brush_alpha(closeness, math.radians(brush.radius_deg), brush.hardness)
    np.maximum(mask, np.rint(255.0 * alpha).astype(np.uint8), out=mask)


def threaded(width: int, height: int, brush: Brush, a, b, repeat: int) -> tuple[float, float]:
    """Worst UI-thread time of queueing a move, and worst time until the painter has drawn it."""
    ui = latency = 0.0
    for _ in range(repeat):
        painter = StrokePainter(MaskModel(width, height))
        painter.begin(a, brush)
        painter.flush()
        started = time.perf_counter()
        painter.move(b)
        ui = max(ui, time.perf_counter() - started)
        painter.flush()
        latency = max(latency, time.perf_counter() - started)
        painter.end()
        painter.close()
    return ui, latency


def measure(width: int, repeat: int) -> None:
    height = width // 2
    grid = EquirectGrid(width, height)
    print(f"\n{width}×{height} mask")
    print(f"{'case':<24}{'paint ms':>10}{'full-frame ms':>15}{'ratio':>8}{'UI ms':>8}{'shown after ms':>16}")
    for name, radius, start, end in CASES:
        brush = Brush(radius, 0.6)
        a, b = lonlat_to_direction(*start), lonlat_to_direction(*end)
        worst = 0.0
        for _ in range(repeat):
            model = MaskModel(width, height)
            model.begin_stroke(a, brush)
            started = time.perf_counter()
            model.continue_stroke(b)
            worst = max(worst, time.perf_counter() - started)
            model.end_stroke()
        baseline = math.inf
        for _ in range(max(1, repeat // 2)):
            mask = np.zeros((height, width), np.uint8)
            started = time.perf_counter()
            full_frame(mask, grid, a, b, brush)
            baseline = min(baseline, time.perf_counter() - started)
        ui, latency = threaded(width, height, brush, a, b, repeat)
        fits = "" if ui * 1000 <= STALL_BUDGET_MS else "  OVER BUDGET"
        print(
            f"{name:<24}{worst * 1000:>10.1f}{baseline * 1000:>15.1f}{worst / baseline:>8.3f}"
            f"{ui * 1000:>8.2f}{latency * 1000:>16.1f}{fits}"
        )
    model = MaskModel(width, height)
    started = time.perf_counter()
    model.begin_stroke(lonlat_to_direction(0.0, 0.0), Brush(2.0, 0.6))
    print(f"stroke start (undo snapshot + first dab): {(time.perf_counter() - started) * 1000:.1f} ms")


def worst_gap_ms(work) -> float:
    """Longest interval between 5 ms timer ticks on a Qt event loop while ``work()`` runs elsewhere."""
    import sys as _sys

    from PySide6.QtCore import QCoreApplication, QElapsedTimer, QTimer

    app = QCoreApplication.instance() or QCoreApplication([])
    _sys.setswitchinterval(0.001)  # as the app sets it (generation.worker.tune_thread_switching)
    clock = QElapsedTimer()
    clock.start()
    gaps: list[int] = []
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    done = work()
    while not done():
        app.processEvents()
    for _ in range(10):
        app.processEvents()
    timer.stop()
    return float(max(gaps)) if gaps else 0.0


def stall_check(width: int) -> None:
    def idle():
        started = time.perf_counter()
        return lambda: time.perf_counter() - started > 1.0

    def painting():
        painter = StrokePainter(MaskModel(width, width // 2))
        for radius, points in (
            (30.0, [(170.0, 70.0), (-150.0, 85.0), (-100.0, 60.0)]),
            (3.0, [(0, 0), (40, 5)]),
        ):
            painter.begin(lonlat_to_direction(*points[0]), Brush(radius, 0.6))
            for lon, lat in points[1:]:
                painter.move(lonlat_to_direction(lon, lat))
            painter.end()
        return lambda: painter.pending == 0 and painter._queue.unfinished_tasks == 0

    baseline = worst_gap_ms(idle)
    busy = worst_gap_ms(painting)
    verdict = "within" if busy <= STALL_BUDGET_MS else "OVER"
    print(f"\nUI stall while painting {width}×{width // 2}: worst {busy:.0f} ms between 5 ms ticks", end="")
    ratio = busy / max(baseline, 1.0)
    print(f" (idle loop: {baseline:.0f} ms; ×{ratio:.1f}); {verdict} the {STALL_BUDGET_MS:.0f} ms budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for width in args.sizes:
        measure(width, args.repeat)
    stall_check(max(args.sizes))


if __name__ == "__main__":
    main()
