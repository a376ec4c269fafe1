"""A UI-thread gap probe that also says what every thread was doing while the UI thread was late.

``GapTracer`` runs a 5 ms ``QTimer`` on the UI thread (a gap between two ticks is how long the event loop
could not react) and a sampler thread that, whenever the last tick is older than ``SAMPLE_AFTER_MS``,
records the innermost frames of every Python thread (``sys._current_frames``). After the run,
``report(start, end)`` lists the gaps over the budget with the stacks seen during each: the UI thread in
a GL call or a Python function is busy itself; the UI thread parked on a bytecode line while another
thread sits in an import or a C call is waiting for the GIL.

The sampler needs the GIL too, so a C call that holds it for 300 ms shows up as one sample taken right
after it, on the line that follows; that is still enough to name the call.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

PROBE_MS = 5
STALL_MS = 50
SAMPLE_AFTER_MS = 25
FRAMES_KEPT = 4


def _where(frame, depth: int = FRAMES_KEPT) -> str:
    parts = []
    while frame is not None and len(parts) < depth:
        code = frame.f_code
        name = code.co_filename.rsplit("/", 2)
        parts.append(f"{'/'.join(name[-2:])}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return " < ".join(parts)


@dataclass
class Gap:
    start: float
    end: float
    samples: list[dict[str, str]] = field(default_factory=list)

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


class GapTracer:
    def __init__(self, sample: bool = True) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.ticks: list[float] = [time.perf_counter()]
        self._samples: list[tuple[float, dict[str, str]]] = []
        self._ui = threading.get_ident()
        self._running = True
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        self.timer.start()
        if sample:
            threading.Thread(target=self._sample, name="GapSampler", daemon=True).start()

    def _sample(self) -> None:
        names = {}
        while self._running:
            time.sleep(0.005)
            now = time.perf_counter()
            if (now - self.ticks[-1]) * 1000 < SAMPLE_AFTER_MS:
                continue
            for thread in threading.enumerate():
                names[thread.ident] = thread.name
            me = threading.get_ident()
            stacks = {
                "UI" if ident == self._ui else names.get(ident, str(ident)): _where(frame)
                for ident, frame in sys._current_frames().items()
                if ident != me
            }
            self._samples.append((now, stacks))

    def stop(self) -> None:
        self._running = False
        self.timer.stop()

    def mark(self) -> int:
        return len(self.ticks)

    def gaps_ms(self, start: int, end: int) -> np.ndarray:
        ticks = np.asarray(self.ticks[start:end])
        return np.diff(ticks) * 1000.0 if len(ticks) > 1 else np.zeros(0)

    def long_gaps(self, start: int, end: int, over_ms: float = STALL_MS) -> list[Gap]:
        ticks = self.ticks[start:end]
        gaps = [Gap(a, b) for a, b in itertools.pairwise(ticks) if (b - a) * 1000 > over_ms]
        for gap in gaps:
            # A sample taken just after the gap still names the C call that held the GIL through it.
            gap.samples = [s for t, s in self._samples if gap.start < t <= gap.end + 0.01]
        return gaps

    def report(self, start: int, end: int, over_ms: float = STALL_MS) -> list[str]:
        """One block per gap over ``over_ms``: its length and the commonest stacks per thread."""
        lines = []
        for gap in self.long_gaps(start, end, over_ms):
            lines.append(f"  gap {gap.ms:.0f} ms, {len(gap.samples)} samples")
            per_thread: dict[str, Counter] = {}
            for sample in gap.samples:
                for thread, stack in sample.items():
                    per_thread.setdefault(thread, Counter())[stack] += 1
            for thread, stacks in sorted(per_thread.items(), key=lambda kv: kv[0] != "UI"):
                stack, count = stacks.most_common(1)[0]
                if thread != "UI" and ("wait" in stack.split(" < ")[0] or "sleep" in stack):
                    continue  # idle threads
                lines.append(f"    {thread:18} {count:3}x {stack}")
        return lines
