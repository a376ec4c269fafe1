"""The longest stall torch's import causes in another thread: a plain ``import torch`` against the app's
way (core/native_libraries.py: the shared libraries first, through a call that releases the GIL).

Each run is a fresh interpreter: one thread imports torch while the main thread, standing in for the
UI thread, sleeps 2 ms at a time and records the longest gap between its wake-ups. Runs alternate the two
ways so machine load affects both alike.

    python tests/benchmarks/torch_import_gap.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

RUN = """
import json, sys, threading, time
preload = sys.argv[1] == "preload"
done = threading.Event()
def importer():
    if preload:
        from dit360_desktop.core.native_libraries import preload_torch_libraries
        preload_torch_libraries()
    import torch  # noqa: F401
    done.set()
worker = threading.Thread(target=importer)
started = last = time.perf_counter()
worst = 0.0
worker.start()
while not done.is_set():
    time.sleep(0.002)
    now = time.perf_counter()
    worst, last = max(worst, now - last), now
print(json.dumps({"gap_ms": worst * 1000, "import_s": time.perf_counter() - started}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"plain": [], "preload": []}
    for _ in range(args.runs):
        for way in results:
            out = subprocess.run([sys.executable, "-c", RUN, way], capture_output=True, text=True, check=True)
            results[way].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"longest gap in another thread while torch imports, {args.runs} runs each (median, min-max):")
    for way, runs in results.items():
        gaps = [r["gap_ms"] for r in runs]
        seconds = [r["import_s"] for r in runs]
        print(
            f"  {way:8} gap {statistics.median(gaps):6.0f} ms ({min(gaps):.0f}-{max(gaps):.0f})"
            f"   import {statistics.median(seconds):5.2f} s"
        )
    plain = statistics.median(r["gap_ms"] for r in results["plain"])
    preload = statistics.median(r["gap_ms"] for r in results["preload"])
    print(f"ratio preload/plain (median gap): {preload / plain:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
