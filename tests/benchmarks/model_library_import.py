"""Import time of the model libraries (torch, diffusers, transformers, PEFT) after PySide6, with PySide6's
per-import source read (its own ``_mod_uses_pyside``) against the app's replacement (ui/pyside_imports.py).

Each run is a fresh interpreter that imports PySide6.QtCore first, as the app does, then what the
generation thread imports (core.engine.import_model_libraries). Runs alternate the two ways.

    python tests/benchmarks/model_library_import.py --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

RUN = """
import sys, time
import PySide6.QtCore
if sys.argv[1] == "app":
    from dit360_desktop.ui.pyside_imports import skip_source_reads
    assert skip_source_reads()
started = time.perf_counter()
from dit360_desktop.core.engine import import_model_libraries
import_model_libraries()
print(time.perf_counter() - started)
"""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {"pyside6": [], "app": []}
    for _ in range(args.runs):
        for way in seconds:
            out = subprocess.run([sys.executable, "-c", RUN, way], capture_output=True, text=True, check=True)
            seconds[way].append(float(out.stdout.strip().splitlines()[-1]))
    for way, values in seconds.items():
        print(f"{way:8} {statistics.median(values):6.2f} s median ({min(values):.2f}-{max(values):.2f})")
    ratio = statistics.median(seconds["app"]) / statistics.median(seconds["pyside6"])
    print(f"ratio app/pyside6 (median): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
