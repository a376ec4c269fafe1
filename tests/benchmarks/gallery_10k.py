"""Gallery scale benchmark: a 10,000-entry library, open-to-first-paint and a full scroll pass.

    QT_QPA_PLATFORM=offscreen python tests/benchmarks/gallery_10k.py [--count 10000] [--keep DIR]

The scroll is measured twice: a fast pass over all 10,000 (faster than the loader: most new tiles are
painted as a flat panel first), and the first frames again with every tile loaded before its frame is
timed (the cost of a frame of finished cards).

The baseline, measured in the same run on the same files, is the naive gallery: a QListWidget in icon
mode filled with one QListWidgetItem per entry, each with its thumbnail loaded as a QIcon up front. Figures
are reported as absolute times and as ratios against that baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "history"))

from history_factory import populate_library
from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QListView, QListWidget, QListWidgetItem

from dit360_desktop.app import apply_theme
from dit360_desktop.history.library import Library
from dit360_desktop.ui.gallery.delegate import TileDelegate
from dit360_desktop.ui.gallery.panel import GalleryPanel

WINDOW = (900, 1000)
SETTLED_FRAMES = 200


def keep_singletons_alive() -> None:
    """Work around PySide6 6.12.0 on Python < 3.12, which drops a reference to None on every void Qt call
    (and to True/False on bool ones).

    Python 3.12 made these objects immortal, which hides the bug there; PySide6 6.11.3 does not have it.
    A scroll pass makes far more calls than they have references, and the interpreter aborts with
    "deallocating None". A huge reference count is what 3.12 gives them by design; nothing else changes.
    """
    import ctypes

    import PySide6

    if sys.version_info < (3, 12) and PySide6.__version__.startswith("6.12."):
        for singleton in (None, True, False):
            ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 40


def _drain(app: QApplication) -> None:
    for _ in range(3):
        app.processEvents()


def scroll_pass(
    app: QApplication,
    view: QListView,
    step: int = 240,
    settle: Callable[[], None] | None = None,
    frames: int | None = None,
) -> tuple[list[float], list[float]]:
    """Scroll top to bottom two wheel notches (240 px) at a time, painting each frame synchronously.

    Returns per-frame wall times and UI-thread CPU times. The CPU time is the robust figure on a shared
    machine: wall time also counts the moments other processes had the core. With ``settle``, it is called
    (untimed) before each frame and the frame painted twice, the second timed: the cost of a frame whose
    tiles are all loaded.
    """
    bar = view.verticalScrollBar()
    bar.setValue(0)
    _drain(app)
    walls, cpus = [], []
    value = 0
    while value < bar.maximum() and (frames is None or len(walls) < frames):
        value = min(bar.maximum(), value + step)
        if settle is not None:
            bar.setValue(value)
            view.viewport().repaint()
            settle()
            bar.setValue(value - 1)
            _drain(app)
        start, start_cpu = time.perf_counter(), time.thread_time()
        bar.setValue(value)
        view.viewport().repaint()
        app.processEvents()
        walls.append(time.perf_counter() - start)
        cpus.append(time.thread_time() - start_cpu)
    return walls, cpus


def measure_gallery(app: QApplication, library: Library) -> dict[str, float]:
    counting = _count_loading_tiles()  # before the delegate exists: Qt looks its paint up once
    start, start_cpu = time.perf_counter(), time.thread_time()
    panel = GalleryPanel(library)
    panel.resize(*WINDOW)
    panel.show()
    panel.view.viewport().repaint()
    _drain(app)
    first_paint = time.perf_counter() - start
    first_paint_cpu = time.thread_time() - start_cpu
    deadline = time.perf_counter() + 30
    while panel.model.loader.is_pending(panel.model.ids()[0]) or not panel.model._pixmaps:
        app.processEvents()
        if time.perf_counter() > deadline:
            break
    panel.model.loader.wait_idle()
    _drain(app)
    thumbnails = time.perf_counter() - start
    loading = counting(reset=True)
    walls, cpus = scroll_pass(app, panel.view)
    painted_loading = loading()

    def settle() -> None:
        panel.model.loader.wait_idle()
        _drain(app)

    settled = _frame_stats(*scroll_pass(app, panel.view, settle=settle, frames=SETTLED_FRAMES))
    result = {
        "first_paint": first_paint,
        "first_paint_cpu": first_paint_cpu,
        "thumbnails_on_screen": thumbnails,
        "rows": panel.model.rowCount(),
        "loading_tiles": painted_loading,
        **_frame_stats(walls, cpus),
        **{f"settled_{k}": v for k, v in settled.items()},
    }
    panel.shutdown()
    panel.close()
    panel.deleteLater()
    _drain(app)
    return result


def _count_loading_tiles() -> Callable[..., Callable[[], float]]:
    """Count the tiles painted before their card arrived (the fast pass outruns the loader)."""
    counts = {"loading": 0, "all": 0}
    paint, loading = TileDelegate.paint, TileDelegate._paint_loading

    def counted_paint(self, *args):
        counts["all"] += 1
        return paint(self, *args)

    def counted_loading(self, *args):
        counts["loading"] += 1
        return loading(self, *args)

    def start(reset: bool) -> Callable[[], float]:
        counts.update(loading=0, all=0)
        return lambda: counts["loading"] / max(1, counts["all"])

    TileDelegate.paint, TileDelegate._paint_loading = counted_paint, counted_loading
    return start


def measure_naive(app: QApplication, library: Library) -> dict[str, float]:
    start, start_cpu = time.perf_counter(), time.thread_time()
    widget = QListWidget()
    widget.setViewMode(QListView.ViewMode.IconMode)
    widget.setResizeMode(QListView.ResizeMode.Adjust)
    widget.setIconSize(QSize(224, 112))
    widget.setUniformItemSizes(True)
    for entry in library.search():
        item = QListWidgetItem(QIcon(str(entry.thumbnail_path)), entry.prompt[:40])
        widget.addItem(item)
    widget.resize(*WINDOW)
    widget.show()
    widget.viewport().repaint()
    _drain(app)
    first_paint = time.perf_counter() - start
    first_paint_cpu = time.thread_time() - start_cpu
    walls, cpus = scroll_pass(app, widget)
    settled = _frame_stats(*scroll_pass(app, widget, settle=lambda: None, frames=SETTLED_FRAMES))
    result = {
        "first_paint": first_paint,
        "first_paint_cpu": first_paint_cpu,
        "rows": widget.count(),
        **_frame_stats(walls, cpus),
        **{f"settled_{k}": v for k, v in settled.items()},
    }
    widget.close()
    widget.deleteLater()
    _drain(app)
    return result


def _frame_stats(walls: list[float], cpus: list[float]) -> dict[str, float]:
    stats: dict[str, float] = {"frames": len(walls)}
    for name, frames in (("frame", walls), ("frame_cpu", cpus)):
        ordered = sorted(frames)
        stats[f"{name}_mean"] = statistics.fmean(frames)
        stats[f"{name}_p95"] = ordered[int(0.95 * (len(ordered) - 1))]
        stats[f"{name}_max"] = ordered[-1]
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, default=None, help="build the library here and keep it")
    args = parser.parse_args()

    keep_singletons_alive()
    app = QApplication([])
    # The app's own theme: the stylesheet changes how expensive painting is, so measure with it.
    apply_theme(app)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dit360-gallery-bench-")) / "library"

    start = time.perf_counter()
    if not (folder / "library.sqlite3").exists():
        populate_library(folder, args.count)
    built = time.perf_counter() - start

    start = time.perf_counter()
    library = Library.open(folder)
    opened = time.perf_counter() - start
    count = library.count()

    naive = measure_naive(app, library)
    ours = measure_gallery(app, library)
    library.close()
    if args.keep is None:
        shutil.rmtree(folder.parent)

    print(
        f"library: {count} entries (built in {built:.1f} s); "
        f"Library.open (quick_check + reconcile): {opened:.3f} s"
    )
    print(f"{'':24}{'gallery':>12}{'naive QListWidget':>20}{'ratio':>10}")
    for key, label in (
        ("first_paint", "open to first paint"),
        ("first_paint_cpu", "  (UI-thread CPU)"),
        ("frame_mean", "scroll frame mean"),
        ("frame_p95", "scroll frame p95"),
        ("frame_max", "scroll frame max"),
        ("frame_cpu_mean", "scroll CPU/frame mean"),
        ("frame_cpu_p95", "scroll CPU/frame p95"),
        ("frame_cpu_max", "scroll CPU/frame max"),
        ("settled_frame_mean", "loaded frame mean"),
        ("settled_frame_cpu_mean", "loaded CPU/frame mean"),
        ("settled_frame_cpu_p95", "loaded CPU/frame p95"),
    ):
        ratio = ours[key] / naive[key] if naive[key] else float("nan")
        print(f"{label:24}{ours[key] * 1000:>10.1f}ms{naive[key] * 1000:>18.1f}ms{ratio:>10.3f}")
    print(f"gallery: visible thumbnails loaded {ours['thumbnails_on_screen']:.3f} s after opening; "
          f"scroll pass {ours['frames']} frames (naive {naive['frames']})")  # fmt: skip
    print(f"fast pass: {ours['loading_tiles']:.0%} of the tiles painted were still loading (a flat panel); "
          f"'loaded' frames: the first {SETTLED_FRAMES} frames again, each painted once all its tiles "
          "were loaded")  # fmt: skip
    print(f"gallery open + Library.open = {ours['first_paint'] + opened:.3f} s (target <= 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
