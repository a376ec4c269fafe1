"""How many threads torch computes with.

torch starts one compute thread per physical core and nothing set it. In the app the UI thread needs a
core too: with the window, the generation and some outside load on two cores, two compute threads made
the text encoding 14× slower than one (0.96 s against 0.07 s) and a preview 16× (47 ms against 2.9 ms),
because every parallel region waits for its slowest thread, and one of them keeps losing its core to
the UI (issue 21, item 15; ``tests/benchmarks/compute_threads.py`` measures it on 2 and more cores).
So the app computes with one core fewer than the machine lets it use (at least one), never more than
the physical cores; the command line, with no window to keep smooth, uses them all. A person's own
``OMP_NUM_THREADS`` (or ``DIT360_THREADS``) wins.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

OVERRIDE_ENV = "DIT360_THREADS"
_configured: int | None = None


def usable_cores() -> int:
    """The logical cores this process may run on (its affinity mask, a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except (ImportError, OSError):
        return None


def compute_threads(usable: int, physical: int | None, *, keep_a_core_for_the_ui: bool) -> int:
    """The thread count for ``usable`` logical cores of which ``physical`` are real ones."""
    cores = min(usable, physical) if physical else usable
    if keep_a_core_for_the_ui:
        cores = min(cores, usable - 1)
    return max(1, cores)


def ensure_compute_threads() -> int:
    """The engine's default: the command line's choice, unless the app chose already."""
    return _configured if _configured is not None else configure_compute_threads(keep_a_core_for_the_ui=False)


def configure_compute_threads(*, keep_a_core_for_the_ui: bool) -> int:
    """Set torch's intra-op thread count (call before the first computation); returns it."""
    global _configured
    import torch

    chosen = os.environ.get(OVERRIDE_ENV)
    if chosen is None and os.environ.get("OMP_NUM_THREADS"):
        _configured = torch.get_num_threads()
        log.info("Computing with %d threads (OMP_NUM_THREADS)", _configured)
        return _configured
    if chosen is not None and chosen.isdigit() and int(chosen) > 0:
        threads = int(chosen)
    else:
        threads = compute_threads(
            usable_cores(), physical_cores(), keep_a_core_for_the_ui=keep_a_core_for_the_ui
        )
    torch.set_num_threads(threads)
    _configured = threads
    log.info("Computing with %d threads (%d usable cores)", threads, usable_cores())
    return threads
