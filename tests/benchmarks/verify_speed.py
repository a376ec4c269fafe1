"""Verify speed: the model manager's hash_file (what "Verify & repair" runs) against sha256sum, on the
same file in the same run, both as fresh processes.

    python tests/benchmarks/verify_speed.py [--size-mb 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from download_throughput import make_file  # same folder: the random test file both benchmarks hash

ROOT = Path(__file__).resolve().parents[2]
_HASH = (
    f"import sys; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; "
    "from dit360_desktop.models.hashing import hash_file; print(hash_file(Path(sys.argv[1])))"
)


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out.split()[0]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("sha256sum") is None:
        raise SystemExit("sha256sum is needed (coreutils)")
    size = args.size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="dit360-verify-") as tmp:
        path = Path(tmp) / "weights.safetensors"
        expected = make_file(path, size)
        ours, theirs = [], []
        for run in range(args.runs):
            order = ("ours", "sha256sum") if run % 2 == 0 else ("sha256sum", "ours")
            for tool in order:
                if tool == "ours":
                    elapsed, digest_ours = timed([sys.executable, "-c", _HASH, str(path)])
                    ours.append(elapsed)
                else:
                    elapsed, digest_sum = timed(["sha256sum", str(path)])
                    theirs.append(elapsed)
        if not digest_ours == digest_sum == expected:
            raise SystemExit(f"digests differ: {digest_ours} vs {digest_sum} vs {expected}")
    mb = size / 1e6
    t_ours, t_sum = statistics.median(ours), statistics.median(theirs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"file: {args.size_mb} MiB (page cache warm), runs: {args.runs} (medians), "
        f"{os.cpu_count()} CPUs, load {load:.1f}"
    )
    print(f"verify  ours (hash_file, fresh process): {t_ours:6.2f} s  {mb / t_ours:7.0f} MB/s")
    print(f"verify  sha256sum:                       {t_sum:6.2f} s  {mb / t_sum:7.0f} MB/s")
    print(f"verify  ratio ours/sha256sum:            {t_sum / t_ours:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
