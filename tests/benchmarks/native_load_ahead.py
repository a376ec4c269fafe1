"""The longest wait of a 5 ms ticking thread while the model libraries import, with and without
``load_ahead`` (core/native_libraries.py: the last start's native files read ahead and the extension
modules ``dlopen``ed with the GIL released), alternating in fresh interpreters.

The ticking thread stands for the UI thread: it needs the GIL after every sleep, as the window's event
loop does after every event. As in the app, the switch interval is 1 ms and the cyclic collector does
not run on the importing thread. With ``--cold`` the file cache is dropped before each run (root only:
``/proc/sys/vm/drop_caches``), the first start after a boot.

    python tests/benchmarks/native_load_ahead.py --runs 3 --cold
    python tests/benchmarks/native_load_ahead.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RECORD = """
import sys
from pathlib import Path
import numpy, PIL.Image, PySide6.QtWidgets
from dit360_desktop.core.engine import import_model_libraries
from dit360_desktop.core.native_libraries import record_native_files
import_model_libraries()
record_native_files(Path(sys.argv[1]))
"""

RUN = """
import gc, json, os, sys, threading, time
from pathlib import Path
import numpy, PIL.Image, PySide6.QtWidgets  # the window has these before the generation thread starts
from dit360_desktop.ui.pyside_imports import skip_source_reads
skip_source_reads()
sys.setswitchinterval(0.001)
record, ahead, cold = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3] == "1"
if cold:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")
gaps, done = [], threading.Event()

def tick():
    last = time.perf_counter()
    while not done.is_set():
        time.sleep(0.005)
        now = time.perf_counter()
        gaps.append((now - last) * 1e3)
        last = now

ticker = threading.Thread(target=tick)
ticker.start()
time.sleep(0.2)
gc.disable()
started = time.perf_counter()
from dit360_desktop.core import native_libraries
if ahead:
    native_libraries.load_ahead(record)
else:
    native_libraries.preload_torch_libraries()
from dit360_desktop.core.engine import import_model_libraries
import_model_libraries()
total = time.perf_counter() - started
done.set()
ticker.join()
print(json.dumps({"max_gap_ms": max(gaps), "seconds": total}))
"""


def _run(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="drop the file cache before each run (root)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "native-files.json"
        _run(RECORD, str(record))
        results: dict[str, list[dict]] = {"import alone (torch's libraries ahead)": [], "load_ahead": []}
        for _ in range(args.runs):
            for name, ahead in (("import alone (torch's libraries ahead)", "0"), ("load_ahead", "1")):
                results[name].append(_run(RUN, str(record), ahead, "1" if args.cold else "0"))
    print(f"file cache: {'cold' if args.cold else 'warm'}; runs: {args.runs}")
    print(f"{'':40s} {'max gap ms (median, min-max)':>30s} {'seconds (median)':>18s}")
    medians = {}
    for name, runs in results.items():
        gaps = [r["max_gap_ms"] for r in runs]
        medians[name] = statistics.median(gaps)
        seconds = statistics.median(r["seconds"] for r in runs)
        print(f"{name:40s} {medians[name]:10.1f} ({min(gaps):.1f}-{max(gaps):.1f}) {seconds:18.2f}")
    base = medians["import alone (torch's libraries ahead)"]
    print(f"ratio load_ahead / import alone (median max gap): {medians['load_ahead'] / base:.2f}")


if __name__ == "__main__":
    main()
