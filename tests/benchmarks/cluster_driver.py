"""What one cluster result costs the driver: bytes on the network, and saves per second.

    python tests/benchmarks/cluster_driver.py [--results 12] [--threads 1 2 4]

Sizes are measured on a 2048×1024 panorama twice: random noise (what the tiny test model's output looks
like; PNG cannot compress it, so it is the upper bound) and a natural image (the viewer screenshot in
docs/screenshots, resized). Throughput is ``SavePool`` saving N results into a fresh library with 1
thread (the baseline, measured in the same run) and with more; the ratio is what docs/cluster.md uses.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from dit360_desktop.cluster.jobs import parse_jobs  # noqa: E402
from dit360_desktop.cluster.saving import SavePool  # noqa: E402
from dit360_desktop.cluster.wire import WorkerInfo, WorkerProgress, encode_preview, encode_result_png  # noqa: E402
from dit360_desktop.history.library import Library  # noqa: E402

WIDTH, HEIGHT = 2048, 1024


def images() -> dict[str, Image.Image]:
    noise = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    photo = Image.open(REPO / "docs" / "screenshots" / "viewer-flat.jpg").convert("RGB")
    return {
        "noise": Image.fromarray(noise),
        "natural": photo.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS),
    }


def sizes(pictures: dict[str, Image.Image]) -> dict[str, int]:
    out = {f"result_png_{name}": len(encode_result_png(image)) for name, image in pictures.items()}
    latent_preview = np.asarray(pictures["natural"].resize((WIDTH // 8, HEIGHT // 8)))
    out["preview_jpeg"] = len(encode_preview(latent_preview))
    step = WorkerProgress(
        "0123456789abcdef0123-0", 1, "worker-17@gpu-node-05", "denoising", "", 14, 28, 4.2, 4.2
    )
    out["step_message"] = len(pickle.dumps(step))
    (job,) = parse_jobs(json.dumps({"prompt": "This is a panorama image. " + "a misty lake " * 8}) + "\n")
    out["job_message"] = len(
        pickle.dumps({"job_id": job.job_id, "request": job.request.to_dict(), "files": {}})
    )
    return out


def saves_per_second(image: Image.Image, results: int, threads: int) -> tuple[float, float]:
    """(results per wall second, CPU seconds per result) for ``threads`` saving threads."""
    text = "".join(json.dumps({"prompt": f"p{i}", "seed": i}) + "\n" for i in range(results))
    jobs = parse_jobs(text)
    png = encode_result_png(image)
    worker = WorkerInfo("worker-1", "node", "10.0.0.1", 1)
    with tempfile.TemporaryDirectory() as folder, Library.open(folder) as library:
        saver = SavePool(library, {}, threads=threads)
        started, cpu_started = time.perf_counter(), time.process_time()
        for job in jobs:
            reply = {"png": png, "request": job.request.to_dict(), "metadata": {}, "worker": worker}
            saver.submit(job, 1, reply)
        done = saver.close()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert all(d.error is None for d in done)
    return results / elapsed, cpu / results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=12)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    pictures = images()
    report: dict = {"sizes_bytes": sizes(pictures), "saves_per_second": {}, "cpu_s_per_save": {}}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for threads in args.threads:
        rate, cpu = saves_per_second(pictures["natural"], args.results, threads)
        report["saves_per_second"][str(threads)] = round(rate, 2)
        report["cpu_s_per_save"][str(threads)] = round(cpu, 3)
    # Linux reports kilobytes: the peak growth while saving (decoded images, PNG buffers, the backlog).
    report["peak_rss_growth_mb"] = round(
        (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    )
    report["cpu_count"] = os.cpu_count()
    report["load_average"] = [round(x, 1) for x in os.getloadavg()]
    baseline = report["saves_per_second"][str(args.threads[0])]
    report["ratio_to_baseline"] = {k: round(v / baseline, 2) for k, v in report["saves_per_second"].items()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
