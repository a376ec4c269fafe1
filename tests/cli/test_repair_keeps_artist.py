"""Issue 21, item 4 through ``dit360 repair``: a placed photo across yaw 180° is outpainted, then the seam
is repaired. The photo's pixels inside the seam band stay exactly as they were, and the repair runs with
the panorama's own seed; ``--repaint-own`` lets the repair repaint them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.history.library import Library
from dit360_desktop.panorama import imageio
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result

WIDTH, HEIGHT = 128, 64


def placed_photo_entry(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """An outpainting of a photo placed across the seam, as the library keeps it (image + its mask)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    pixels = np.stack([80 + 0.8 * y, 120 + 40 * np.sin(2 * np.pi * x / WIDTH), 160 + 0 * x], -1)
    pixels += np.linspace(0, 70, WIDTH)[None, :, None]  # a hard seam for the repair to fix
    pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    mask = np.full((HEIGHT, WIDTH), 255, np.uint8)
    mask[16:48, :6] = 0  # the photo's footprint, across yaw 180°
    mask[16:48, -6:] = 0
    composed, mask_file = tmp_path / "composed.png", tmp_path / "outpaint-mask.png"
    Image.fromarray(pixels).save(composed)
    Image.fromarray(mask).save(mask_file)
    request = GenerationRequest(
        prompt="This is a panorama image. A harbour.", seed=4242, width=WIDTH, height=HEIGHT,
        init_image=str(composed), mask_image=str(mask_file),
    )  # fmt: skip
    folder = tmp_path / "library"
    with Library.open(folder) as library:
        entry = library.save(Result(image=Image.fromarray(pixels), request=request, metadata={}))
    return folder, entry.path, mask == 0


def repair(folder: Path, source: Path, out: Path, tiny_flux_dir: Path, *extra: str) -> int:
    args = ["repair", str(source), "--seam", "--model", str(tiny_flux_dir), "--lora", "none", "--steps", "2"]
    args += ["--device", "cpu", "--library", str(folder), "--output", str(out), "--quiet", *extra]
    return main(args)


def test_repair_keeps_the_placed_photo_and_the_seed(tmp_path, tiny_flux_dir, capsys) -> None:
    folder, source, photo = placed_photo_entry(tmp_path)
    before = np.asarray(Image.open(source))
    out = tmp_path / "repaired.png"
    assert repair(folder, source, out, tiny_flux_dir) == 0, capsys.readouterr().err
    repaired = np.asarray(Image.open(out))
    assert np.array_equal(repaired[photo], before[photo])
    band = np.zeros(WIDTH, bool)
    band[:8] = band[-8:] = True
    assert not np.array_equal(repaired[:, band][~photo[:, band]], before[:, band][~photo[:, band]])
    recorded = imageio.read_metadata(out).dit360
    assert recorded["request"]["seed"] == 4242
    assert recorded["repair"]["protected_pixels"] == int(photo.sum())

    free = tmp_path / "repainted.png"
    assert repair(folder, source, free, tiny_flux_dir, "--repaint-own") == 0, capsys.readouterr().err
    assert not np.array_equal(np.asarray(Image.open(free))[photo], before[photo])
