"""Start-up time of the frozen app to its first window, against ``python main.py`` from the checkout.

    xvfb-run -a python tests/benchmarks/bundle_startup.py --bundle dist/dit360-desktop

Needs an X server (or Wayland) because it times a real window. Each launch gets a fresh DIT360_HOME, so it
is also a first run (no settings, no models). The app writes the moment its main window is first exposed
to the file named by DIT360_STARTUP_PROBE and quits (dit360_desktop/app.py).

- cold: the bundle's files are first evicted from the page cache (posix_fadvise DONTNEED on every file; no
  root needed), so the libraries are read from disk as on a first launch after install. System libraries
  (libc, libGL, the X client libraries) stay cached.
- warm: the same again without eviction (best of 3).
- baseline: ``python main.py`` from the source checkout, warm (best of 3).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 180


def evict_from_page_cache(folder: Path) -> int:
    """Ask the kernel to drop the cached pages of every file under ``folder``; returns the bytes covered."""
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(descriptor)
            total += path.stat().st_size
    return total


def time_to_first_window(command: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="dit360-startup-") as scratch:
        probe = Path(scratch) / "probe.json"
        env = dict(os.environ, DIT360_HOME=str(Path(scratch) / "home"), DIT360_STARTUP_PROBE=str(probe))
        env.pop("QT_QPA_PLATFORM", None)
        launched = time.time()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        if not probe.is_file():
            tail = completed.stderr[-3000:]
            raise RuntimeError(f"{command[0]} exited {completed.returncode} showed no window:\n{tail}")
        payload = json.loads(probe.read_text())
    return {
        "first_window_s": round(payload["exposed_unix"] - launched, 3),
        "in_process_s": round(payload["in_process_s"], 3),
        "torch_imported": payload["torch_imported"],
    }


def measure(bundle: Path, repeats: int) -> dict:
    gui = bundle / ("dit360-desktop.exe" if sys.platform == "win32" else "dit360-desktop")
    evicted = evict_from_page_cache(bundle)
    cold = time_to_first_window([str(gui)])
    warm = min((time_to_first_window([str(gui)]) for _ in range(repeats)), key=lambda r: r["first_window_s"])
    source = min(
        (time_to_first_window([sys.executable, str(REPO_ROOT / "main.py")]) for _ in range(repeats)),
        key=lambda r: r["first_window_s"],
    )
    return {
        "evicted_bytes": evicted,
        "frozen_cold": cold,
        "frozen_warm": warm,
        "source_warm": source,
        "cold_over_source": round(cold["first_window_s"] / source["first_window_s"], 2),
        "warm_over_source": round(warm["first_window_s"] / source["first_window_s"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=REPO_ROOT / "dist" / "dit360-desktop")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = measure(args.bundle.resolve(), args.repeats)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    sys.stdout.write(
        f"first window: frozen cold {figures['frozen_cold']['first_window_s']:.2f} s, "
        f"frozen warm {figures['frozen_warm']['first_window_s']:.2f} s, "
        f"source (python main.py) {figures['source_warm']['first_window_s']:.2f} s; "
        f"cold/source {figures['cold_over_source']}x, warm/source {figures['warm_over_source']}x\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
