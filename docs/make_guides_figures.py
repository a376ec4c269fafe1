"""Figures for docs/guides.md, made with the tiny random-weight FLUX of the tests (no network, no real
weights, so every panorama in them is noise): a depth-guided re-generation of a panorama from the
history, and a regional-prompt example, each with its control image or masks beside the result.

    python docs/make_guides_figures.py

The depth-guided figure runs the real ``dit360 generate`` (a history library in a temporary folder, the
Control LoRA, ``--control-from depth`` with a tiny Depth Anything) and reads the pictures the commands
wrote, the control copy beside the result included. The regional example runs the engine the CLI runs,
in process, to show the difference of the final latents (the SMALL random model barely tells prompts
apart: its decoded pictures differ by a grey level at most).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dit360_desktop.cli import main as dit360  # noqa: E402
from dit360_desktop.history.library import Library  # noqa: E402
from dit360_desktop.panorama.guide_copies import guides_folder  # noqa: E402
from dit360_desktop.testing.tiny_control import build_tiny_control_lora  # noqa: E402
from dit360_desktop.testing.tiny_depth import build_tiny_depth  # noqa: E402
from dit360_desktop.testing.tiny_flux import SMALL, build_tiny_flux  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 512, 256
PROMPT = "This is a panorama image. A quiet harbour at dawn."
# Region colours of the overlay (the app's region list uses its own).
COLOURS = [(230, 80, 60), (60, 140, 230), (80, 200, 90)]


def generate(model: Path, *extra: str) -> None:
    code = dit360(
        [
            "generate", "--prompt", PROMPT, "--model", str(model),
            "--width", str(WIDTH), "--height", str(HEIGHT), "--steps", "4", "--seed", "7",
            "--device", "cpu", "--lora", "none", "--quiet", *extra,
        ]
    )  # fmt: skip
    if code != 0:
        raise SystemExit(f"dit360 generate exited {code}")


def labelled(picture: Image.Image, text: str) -> Image.Image:
    picture = picture.convert("RGB").resize((WIDTH, HEIGHT))
    canvas = Image.new("RGB", (WIDTH, HEIGHT + 22), (24, 24, 24))
    canvas.paste(picture, (0, 22))
    ImageDraw.Draw(canvas).text((6, 5), text, fill=(235, 235, 235))
    return canvas


def column(*panels: Image.Image) -> Image.Image:
    sheet = Image.new("RGB", (WIDTH, sum(p.height for p in panels) + 4 * (len(panels) - 1)), (255, 255, 255))
    top = 0
    for panel in panels:
        sheet.paste(panel, (0, top))
        top += panel.height + 4
    return sheet


def depth_guided(model: Path, lora: Path, work: Path) -> None:
    """A panorama from the history, re-generated with its own depth as the control."""
    library = work / "library"
    generate(model, "--library", str(library), "--seed", "3")
    with Library.open(library) as opened:
        (entry,) = opened.search()
    depth = build_tiny_depth(work / "Depth-Anything-V2-Tiny")
    out = work / "out" / "depth-guided.png"
    out.parent.mkdir()
    generate(
        model, "--no-history", "--output", str(out), "--control-from", "depth", str(entry.path),
        "--depth-model", str(depth), "--control-lora", str(lora), "--control-range", "0:1",
    )  # fmt: skip
    control = guides_folder(out) / "control.png"
    column(
        labelled(Image.open(entry.path), "1. a panorama from the history (tiny random model: noise)"),
        labelled(Image.open(control), "2. its depth (Depth Anything, near = bright): the control image"),
        labelled(Image.open(out), "3. re-generated with the Depth Control LoRA reading 2"),
    ).save(OUT / "guides-depth-regeneration.png")


def regional(model: Path, work: Path) -> None:
    folder = work / "regions"
    folder.mkdir()
    masks = []
    band = np.zeros((HEIGHT, WIDTH), np.uint8)
    band[: HEIGHT // 3] = 255
    left = np.zeros((HEIGHT, WIDTH), np.uint8)
    left[HEIGHT // 3 :, WIDTH // 8 : WIDTH // 2] = 255
    # The third region crosses the 0/360° seam: columns at both edges. The lower middle is in no region
    # and reads the base prompt.
    seam = np.zeros((HEIGHT, WIDTH), np.uint8)
    seam[HEIGHT // 3 :, 3 * WIDTH // 4 :] = 255
    seam[HEIGHT // 3 :, : WIDTH // 8] = 255
    for index, (name, mask) in enumerate([("sky", band), ("town", left), ("sea", seam)]):
        Image.fromarray(mask).save(folder / f"{name}.png")
        masks.append((name, mask, COLOURS[index]))
    prompts = {"sky": "a pink sky with long clouds", "town": "white houses on a hill", "sea": "a calm sea"}
    regions = [{"prompt": prompts[name], "mask": f"{name}.png"} for name, _, _ in masks]
    (folder / "regions.json").write_text(json.dumps(regions, indent=2))
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.panorama.request import GenerationRequest

    request = GenerationRequest(
        PROMPT, width=WIDTH, height=HEIGHT, steps=4, seed=7, lora_path=None, device="cpu", dtype="fp32"
    )
    engine = PanoramaEngine(model)
    plain = engine.run(request)
    regional = engine.run(request.replace(regions_file=str(folder / "regions.json"), regions_until=1.0))
    overlay = np.asarray(regional.image.convert("RGB")).astype(np.float64) * 0.35
    for _, mask, colour in masks:
        overlay[mask > 127] += 0.65 * np.asarray(colour, np.float64)
    legend = ", ".join(f"{name}: {prompts[name]!r}" for name, _, _ in masks)
    difference = (regional.latent - plain.latent).abs().mean(dim=1)[0].numpy()
    print(f"regional vs plain: latent max difference {difference.max():.4f}")
    difference = np.kron(difference / difference.max(), np.ones((8, 8))) * 255
    difference = np.repeat(difference.astype(np.uint8)[..., None], 3, axis=2)
    column(
        labelled(Image.fromarray(overlay.clip(0, 255).astype(np.uint8)), f"regions: {legend}"),
        labelled(plain.image, "without regions (tiny random model: noise)"),
        labelled(regional.image, "with the regions on every step (dark in the overlay: the base prompt)"),
        labelled(Image.fromarray(difference), "|latent with - without|, scaled to its maximum"),
    ).save(OUT / "guides-regional-example.png")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dit360-guides-figures-") as temp:
        work = Path(temp)
        model = build_tiny_flux(work / "FLUX.1-dev", size=SMALL)
        lora = build_tiny_control_lora(work / "control.safetensors", model / "transformer")
        depth_guided(model, lora, work)
        regional(model, work)
    print(f"written: {OUT / 'guides-depth-regeneration.png'}, {OUT / 'guides-regional-example.png'}")


if __name__ == "__main__":
    main()
