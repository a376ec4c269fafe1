"""Timings of image files and projections at the product size, each as a ratio to a baseline in the same run.

Run: python tests/benchmarks/imageio_projection.py [--repeat N]

- PNG/JPEG writing with metadata and GPano vs Pillow writing the same pixels with nothing extra.
- Loading a user JPEG safely vs a bare Image.open().convert("RGB").
- Cubemap (6 × 1024²) and a 1920×1080 perspective view vs Pillow resizing the panorama to the same
  number of output pixels with bilinear filtering (C code doing comparable per-pixel work).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from dit360_desktop.panorama import imageio, projection
from dit360_desktop.panorama.request import GenerationRequest


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) if repeat < 5 else statistics.median(times)


def report(name: str, ours: float, baseline: float, baseline_name: str) -> None:
    ratio = ours / baseline
    print(f"{name:<36} {ours * 1000:8.1f} ms   {baseline_name:<34} {baseline * 1000:8.1f} ms   ×{ratio:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    # Smooth content plus mild noise compresses like a real panorama rather than like pure noise.
    x = np.linspace(0, 4 * np.pi, 2048)[None, :]
    y = np.linspace(0, np.pi, 1024)[:, None]
    base = np.stack(np.broadcast_arrays(np.sin(x) * np.sin(y), np.cos(x + y), np.sin(2 * x) * np.cos(y)), -1)
    pixels = np.clip((base * 0.5 + 0.5) * 255 + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    request = GenerationRequest(prompt="This is a panorama image. A harbour at dusk.", seed=7)
    metadata = {"request": request.to_dict(), "seed": 7, "models": {"base": {"name": "FLUX.1-dev"}}}

    def plain_png() -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=6)
        return buffer.getvalue()

    def plain_jpeg() -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=92, optimize=True, subsampling=0)
        return buffer.getvalue()

    print(f"2048×1024 RGB, best of {args.repeat}")
    report(
        "encode_png (JSON+parameters+GPano)",
        best_of(lambda: imageio.encode_png(image, metadata), args.repeat),
        best_of(plain_png, args.repeat),
        "Pillow PNG, no metadata",
    )
    report(
        "encode_jpeg q92 (XMP+EXIF)",
        best_of(lambda: imageio.encode_jpeg(image, metadata), args.repeat),
        best_of(plain_jpeg, args.repeat),
        "Pillow JPEG q92, no metadata",
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.jpg"
        path.write_bytes(plain_jpeg())

        def bare_load() -> Image.Image:
            with Image.open(path) as opened:
                return opened.convert("RGB")

        report(
            "load_user_image (JPEG)",
            best_of(lambda: imageio.load_user_image(path), args.repeat),
            best_of(bare_load, args.repeat),
            "Image.open().convert('RGB')",
        )
        report(
            "save_png (atomic, fsync)",
            best_of(lambda: imageio.save_png(image, Path(folder) / "out.png", metadata), args.repeat),
            best_of(lambda: image.save(Path(folder) / "plain.png", compress_level=6), args.repeat),
            "Pillow save, no fsync",
        )

    face_pixels = 6 * 1024 * 1024
    report(
        "equirect_to_cubemap 6×1024²",
        best_of(lambda: projection.equirect_to_cubemap(pixels, 1024), args.repeat),
        best_of(lambda: image.resize((2048, face_pixels // 2048), Image.Resampling.BILINEAR), args.repeat),
        "Pillow bilinear, same pixel count",
    )
    report(
        "equirect_to_perspective 1920×1080",
        best_of(lambda: projection.equirect_to_perspective(pixels, 30, 10, 90, 1920, 1080), args.repeat),
        best_of(lambda: image.resize((1920, 1080), Image.Resampling.BILINEAR), args.repeat),
        "Pillow bilinear, same pixel count",
    )
    report(
        "discontinuity_score",
        best_of(lambda: projection.discontinuity_score(pixels), args.repeat),
        best_of(lambda: np.roll(pixels, 1024, axis=1), args.repeat),
        "np.roll of the panorama",
    )


if __name__ == "__main__":
    main()
