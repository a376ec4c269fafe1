"""Results without the engine: a small deterministic image plus the metadata the engine would attach."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result


def make_image(width: int = 64, height: int = 32, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256], axis=-1)
    noise = rng.integers(0, 16, size=(height, width, 3))
    return Image.fromarray(((base + noise) % 256).astype(np.uint8), "RGB")


def make_result(
    prompt: str = "This is a panorama image. A quiet beach at sunset",
    seed: int = 1,
    *,
    negative_prompt: str = "",
    width: int = 64,
    height: int = 32,
    steps: int = 28,
) -> Result:
    request = GenerationRequest(
        prompt=prompt, negative_prompt=negative_prompt, seed=seed, width=width, height=height, steps=steps
    )
    metadata = {
        "seed": seed,
        "models": {"base": {"name": "black-forest-labs/FLUX.1-dev", "path": "/models/flux"}},
        "timings": {"denoising": 1.25, "decoding": 0.5},
        "versions": {"app": "0.1.0"},
        "warnings": [],
    }
    return Result(image=make_image(width, height, seed), request=request, metadata=metadata, latent=None)


def populate_library(folder: Path, count: int, *, image_size: tuple[int, int] = (64, 32)) -> None:
    """A library of ``count`` entries in seconds: real files and rows, without a save (and fsyncs) each.

    Every entry gets its own PNG file (tiny, shared pixels, its own parameters in the index) and a
    thumbnail (one of 16 patterns), and its row goes in through the library's own upsert, in one
    transaction. The library opens on it as on any other: nothing is orphaned or missing.
    """
    import sqlite3
    import time

    from dit360_desktop.history import files, scan
    from dit360_desktop.history.library import DB_NAME, Library
    from dit360_desktop.history.thumbnails import encode_thumbnail
    from dit360_desktop.panorama.imageio import encode_png

    Library.open(folder).close()
    width, height = image_size
    template = make_result("template", seed=0, width=width, height=height)
    png = encode_png(template.image, template.file_metadata())
    thumbs = [encode_thumbnail(make_image(128, 64, seed)) for seed in range(16)]
    words = [
        "forest",
        "beach",
        "city",
        "desert",
        "glacier",
        "temple",
        "harbour",
        "canyon",
        "aurora",
        "meadow",
    ]
    base = time.time() - count * 60
    rows = []
    for i in range(count):
        relpath = f"images/bulk-{i // 1000:03d}/{i:06d}-s{i}.png"
        path = folder / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        thumb = folder / files.thumbnail_relpath(relpath)
        thumb.parent.mkdir(parents=True, exist_ok=True)
        thumb.write_bytes(thumbs[i % len(thumbs)])
        result = make_result(f"Panorama {i}: a {words[i % 10]} at {words[(i // 10) % 10]} time", seed=i)
        rows.append(scan.row_values(relpath, result.file_metadata(), width, height, base + i * 60))
    conn = sqlite3.connect(folder / DB_NAME, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for values in rows:
        scan.upsert(conn, values)
    conn.execute("COMMIT")
    conn.close()
