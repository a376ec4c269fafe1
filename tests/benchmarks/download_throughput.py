"""Loopback download throughput of the model manager's transfer against curl, measured in the same run
on the same file (the verify speed is in verify_speed.py).

    python tests/benchmarks/download_throughput.py [--size-mb 1024] [--runs 3]

The emulator serves the file from a separate process (sendfile), through the same 302-to-CDN redirect
as the hub. Our transfer hashes while downloading and checks the sha256, then fsyncs before its atomic
rename; curl only writes the bytes into the page cache. So two like-for-like ratios are printed:

* transfer: ours up to "received, hashed, verified, handed to the kernel" (the total less the final
  fsync, which download_file reports as ``flush_s``) against plain curl;
* durable: our whole download (fsync and rename included) against curl followed by an fsync.

Ratios above 1.0 mean we are faster.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dit360_desktop.models.transfer import FileControl, FileJob, TransferSettings, download_file  # noqa: E402

REPO = "bench/big"
NAME = "model.safetensors"


def make_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(16 << 20)
    with path.open("wb") as handle:
        written = 0
        while written < size:
            chunk = block[: min(len(block), size - written)]
            handle.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    return digest.hexdigest()


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    emulator = ROOT / "tests" / "models" / "hub_emulator.py"
    process = subprocess.Popen(
        [sys.executable, str(emulator), f"{REPO}={folder}"], stdout=subprocess.PIPE, text=True
    )
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        raise SystemExit("the emulator did not start")
    return process, url


def time_ours(url: str, out: Path, size: int, sha256: str) -> tuple[float, float]:
    """Seconds for the whole download, and the seconds of it the final fsync waited for the disk."""
    job = FileJob(
        label="bench", dest=out, part=out.with_name(out.name + ".part"), size=size, sha256=sha256,
        git_sha1=None, url_for=lambda: (url, "bench"),
    )  # fmt: skip
    start = time.perf_counter()
    result = download_file(job, TransferSettings(disk_margin_bytes=0), FileControl())
    elapsed = time.perf_counter() - start
    assert result.sha256 == sha256 and out.stat().st_size == size
    return elapsed, result.flush_s


def time_curl(url: str, out: Path, size: int, *, durable: bool) -> float:
    start = time.perf_counter()
    subprocess.run(["curl", "-sS", "-L", "-o", str(out), url], check=True)
    if durable:
        # The same durability as ours: the bytes are on disk before the file counts as downloaded.
        fd = os.open(out, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    elapsed = time.perf_counter() - start
    assert out.stat().st_size == size
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl is needed (apt install curl)")
    size = args.size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="dit360-bench-") as tmp:
        tmp = Path(tmp)
        served = tmp / "served"
        served.mkdir()
        sha256 = make_file(served / NAME, size)
        process, endpoint = start_server(served)
        url = f"{endpoint}/{REPO}/resolve/main/{NAME}"
        times: dict[str, list[float]] = {"ours": [], "curl": [], "curl+fsync": []}
        transfer: list[float] = []  # ours less the final fsync, run by run
        tools = list(times)
        try:
            for run in range(args.runs):
                # Rotate the order so no tool always runs first; flush dirty pages between runs.
                for tool in tools[run % 3 :] + tools[: run % 3]:
                    out = tmp / "out.bin"
                    out.unlink(missing_ok=True)
                    os.sync()
                    if tool == "ours":
                        total, flush = time_ours(url, out, size, sha256)
                        times[tool].append(total)
                        transfer.append(total - flush)
                    else:
                        times[tool].append(time_curl(url, out, size, durable=tool == "curl+fsync"))
                    out.unlink()
        finally:
            process.kill()
            process.wait()

    mb = size / 1e6
    t_ours, t_curl, t_durable = (statistics.median(times[t]) for t in tools)
    t_transfer = statistics.median(transfer)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"file: {args.size_mb} MiB, runs: {args.runs} (medians), {os.cpu_count()} CPUs, load {load:.1f}")
    print(f"ours, received+hashed+verified:     {t_transfer:6.2f} s  {mb / t_transfer:7.0f} MB/s")
    print(f"ours, durable (+ fsync, rename):    {t_ours:6.2f} s  {mb / t_ours:7.0f} MB/s")
    print(f"curl -L -o:                         {t_curl:6.2f} s  {mb / t_curl:7.0f} MB/s")
    print(f"curl -L -o, then fsync:             {t_durable:6.2f} s  {mb / t_durable:7.0f} MB/s")
    print("  ours-xfer    runs: " + ", ".join(f"{t:.2f} s" for t in transfer))
    for tool in tools:
        print(f"  {tool:12} runs: " + ", ".join(f"{t:.2f} s" for t in times[tool]))
    print(f"ratio transfer, ours/curl:          {t_curl / t_transfer:.2f}x  (goal >= 0.90x)")
    print(f"ratio durable, ours/(curl+fsync):   {t_durable / t_ours:.2f}x")
    print(f"ratio durable ours / plain curl:    {t_curl / t_ours:.2f}x  (bounded by the disk's write speed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
