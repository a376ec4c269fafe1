"""torch's compute threads against the UI's responsiveness and the work's speed, on this machine's cores,
each thread count in a fresh process, with outside load, in one run (issue 21, item 15).

Run: python tests/benchmarks/compute_threads.py [--load 1] [--repeat 3]

For each thread count (1 … the usable cores, and torch's own default) a child process runs, while
``--load`` processes spin on the CPU (another program) and a "UI" thread wakes every 2 ms (the event
loop): a text-encoder-sized transformer pass (T5-like: 4 layers, 512 wide, 256 tokens) and a preview-
sized projection (the 16-channel latent of a 1024×512 panorama to RGB). Reported per count: the median
times and the UI thread's worst late wake-up; the ratios are against torch's default in the same run.
``core/threads.py`` picks (usable cores − 1) for the app, which this should show as the best UI figure
at no cost in speed on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path


def spin(stop: multiprocessing.Event) -> None:
    x = 0
    while not stop.is_set():
        x += 1


def run_case(threads: int | None, repeat: int) -> dict:
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(512, 8, 2048, batch_first=True)
    encoder = torch.nn.TransformerEncoder(layer, 4, enable_nested_tensor=False).eval()
    tokens = torch.randn(1, 256, 512)
    latent = torch.randn(1, 16, 64, 128)
    to_rgb = torch.randn(3, 16)
    late: list[float] = []
    running = threading.Event()
    running.set()

    def ui() -> None:
        while running.is_set():
            start = time.perf_counter()
            time.sleep(0.002)
            late.append(time.perf_counter() - start - 0.002)

    probe = threading.Thread(target=ui, daemon=True)
    probe.start()
    encode, preview = [], []
    with torch.inference_mode():
        encoder(tokens)  # warm up
        for _ in range(repeat):
            start = time.perf_counter()
            encoder(tokens)
            encode.append(time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(10):
                torch.einsum("bchw,rc->brhw", latent, to_rgb).clamp(-1, 1)
            preview.append((time.perf_counter() - start) / 10)
    running.clear()
    probe.join()
    return {
        "threads": torch.get_num_threads(),
        "encode_s": round(statistics.median(encode), 4),
        "preview_ms": round(1000 * statistics.median(preview), 3),
        "ui_worst_late_ms": round(1000 * max(late), 1),
        "ui_p99_late_ms": round(1000 * sorted(late)[int(0.99 * (len(late) - 1))], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", type=int, default=1, help="spinning processes beside the work")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is not None:
        threads = None if args.threads == "default" else int(args.threads)
        print(json.dumps(run_case(threads, args.repeat)))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from dit360_desktop.core.threads import compute_threads, physical_cores, usable_cores

    usable = usable_cores()
    app_choice = compute_threads(usable, physical_cores(), keep_a_core_for_the_ui=True)
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=spin, args=(stop,)) for _ in range(args.load)]
    for process in spinners:
        process.start()
    rows = {}
    try:
        for threads in ["default", *range(1, usable + 1)]:
            command = [sys.executable, __file__, "--threads", str(threads), "--repeat", str(args.repeat)]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows[str(threads)] = json.loads(out.strip().splitlines()[-1])
            print(json.dumps({"asked": threads, **rows[str(threads)]}), flush=True)
    finally:
        stop.set()
        for process in spinners:
            process.join()
    base, chosen = rows["default"], rows[str(app_choice)]
    print(
        f"{usable} usable cores, {args.load} busy process(es) beside: the app's choice, {app_choice} "
        f"thread(s), against torch's default {base['threads']}: text encoding "
        f"×{base['encode_s'] / chosen['encode_s']:.2f} faster, preview "
        f"×{base['preview_ms'] / chosen['preview_ms']:.2f} faster, UI worst late wake-up "
        f"{chosen['ui_worst_late_ms']} ms against {base['ui_worst_late_ms']} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
