"""Figures for docs/finishing.md: a synthetic panorama with a deliberate seam and a smeared zenith, the
seam-score heat strip, and the same panorama after `Fix seam` and `Fix poles`, run on the random-weight
test model (this machine has no FLUX.1-dev), so the regenerated regions show that model's noise-like
texture; what the figures show is where the repairs act and what they leave alone.

    python docs/make_finishing_figures.py [--cache /tmp/tiny-flux]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "screenshots"
WIDTH, HEIGHT = 512, 256


def synthetic() -> np.ndarray:
    """A sky over rolling hills, periodic in yaw, plus a brightness ramp that drops at the seam and a
    featureless cap over the zenith (what generators often leave there)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    yaw = 2 * np.pi * x / WIDTH
    horizon = HEIGHT * (0.55 + 0.05 * np.sin(2 * yaw) + 0.03 * np.sin(5 * yaw + 1))
    sky = np.stack([90 + 0.5 * y, 140 + 0.4 * y, 230 - 0.1 * y], -1)
    ground = np.stack([70 + 20 * np.sin(9 * yaw), 120 + 15 * np.cos(7 * yaw + y / 9), 60 + 0 * y], -1)
    image = np.where((y >= horizon)[..., None], ground, sky)
    image += np.random.default_rng(0).normal(0, 4, image.shape)
    image += np.linspace(0, 45, WIDTH)[None, :, None]  # the deliberate seam: a 45-level drop at 0/360°
    cap = HEIGHT * 15 // 180
    image[:cap] = image[:cap].mean(axis=(0, 1))
    return np.clip(image, 0, 255).astype(np.uint8)


def centred(pixels: np.ndarray) -> Image.Image:
    """Rolled by half a turn so the seam runs down the middle, with a marker above it."""
    image = Image.fromarray(np.roll(pixels, pixels.shape[1] // 2, axis=1)).resize((WIDTH * 2, HEIGHT * 2))
    draw = ImageDraw.Draw(image)
    draw.polygon([(WIDTH - 8, 0), (WIDTH + 8, 0), (WIDTH, 12)], fill=(255, 60, 60))
    return image


def with_heat_strip(pixels: np.ndarray, label: str) -> Image.Image:
    from dit360_desktop.panorama import qa

    report = qa.assess(pixels)
    picture = centred(pixels)
    strip = Image.fromarray(qa.heat_strip_colours(report.row_steps, width=12)).resize((24, picture.height))
    canvas = Image.new("RGB", (picture.width + 34, picture.height + 28), (24, 26, 30))
    canvas.paste(picture, (0, 28))
    canvas.paste(strip, (picture.width + 10, 28))
    ImageDraw.Draw(canvas).text(
        (8, 8),
        f"{label}: seam score {report.seam:.2f}, "
        f"pole smear top {report.pole_north:.2f} bottom {report.pole_south:.2f}",
        fill=(232, 236, 242),
    )
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=None, help="keep the tiny test model here")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.core.repair import RepairOptions, repair_panorama
    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.testing.tiny_flux import build_tiny_flux

    with tempfile.TemporaryDirectory() as work:
        model = (args.cache or Path(work)) / "FLUX.1-dev"
        if not (model / "model_index.json").exists():
            build_tiny_flux(model)
        before = synthetic()
        source = Path(work) / "before.png"
        Image.fromarray(before).save(source)
        template = GenerationRequest(
            prompt="This is a panorama image. Hills under a blue sky.", steps=4, seed=2
        )
        result, report = repair_panorama(
            PanoramaEngine(model), source, template, RepairOptions(seam=True, poles=True), Path(work)
        )
        after = np.asarray(result.image)
        args.out.mkdir(parents=True, exist_ok=True)
        with_heat_strip(before, "before").save(args.out / "finishing-before.png")
        with_heat_strip(after, "after Fix seam + Fix poles").save(args.out / "finishing-after.png")
        mask = Image.open(result.request.mask_image).convert("L")
        Image.fromarray(np.roll(np.asarray(mask), WIDTH // 2, axis=1)).save(args.out / "finishing-mask.png")
        print(report.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
