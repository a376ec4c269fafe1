"""Draw the DiT360 Desktop icon with Pillow and derive every platform format from that one image.

    python packaging/icons/make_icons.py [--out build/icons]

Writes ``dit360.png`` (1024 px master), ``dit360-<N>.png`` (hicolor sizes for Linux), ``dit360.ico``
(Windows, 16-256 px) and ``dit360.icns`` (macOS, 16-1024 px). The drawing is deterministic, so the files
are rebuilt on every packaging run instead of being kept in git.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

MASTER_SIZE = 1024
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
_SUPERSAMPLE = 2


def draw_master(size: int = MASTER_SIZE) -> Image.Image:
    """A night-to-sunset sphere with a graticule and a wrap-around arrow: a 360° panorama."""
    s = size * _SUPERSAMPLE
    icon = Image.new("RGBA", (s, s), (0, 0, 0, 0))

    # Rounded-square tile with a vertical gradient.
    tile = _vertical_gradient(s, (14, 28, 58), (24, 92, 120))
    mask = Image.new("L", (s, s), 0)
    margin = round(s * 0.06)
    corner = round(s * 0.2)
    ImageDraw.Draw(mask).rounded_rectangle((margin, margin, s - margin, s - margin), radius=corner, fill=255)
    icon.paste(tile, (0, 0), mask)

    # The sphere: sky above a horizon, sea below.
    centre, radius = s / 2, s * 0.30
    box = (centre - radius, centre - radius, centre + radius, centre + radius)
    sphere = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    sky = _vertical_gradient(s, (255, 170, 90), (255, 95, 120), start=box[1], stop=centre)
    sea = _vertical_gradient(s, (40, 120, 200), (15, 40, 110), start=centre, stop=box[3])
    sphere_mask = Image.new("L", (s, s), 0)
    ImageDraw.Draw(sphere_mask).ellipse(box, fill=255)
    upper = Image.new("L", (s, s), 0)
    ImageDraw.Draw(upper).rectangle((0, 0, s, centre), fill=255)
    sphere.paste(sky, (0, 0), _multiply(sphere_mask, upper))
    sphere.paste(sea, (0, 0), _multiply(sphere_mask, Image.eval(upper, lambda v: 255 - v)))
    icon.alpha_composite(sphere)

    # Graticule: parallels as chords, meridians as ellipses, clipped to the sphere.
    grid = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    pen = ImageDraw.Draw(grid)
    line = max(2, round(s * 0.006))
    for latitude in (-60, -30, 30, 60):
        y = centre - radius * math.sin(math.radians(latitude))
        half = radius * math.cos(math.radians(latitude))
        pen.line((centre - half, y, centre + half, y), fill=(255, 255, 255, 110), width=line)
    for fraction in (0.35, 0.7):
        half = radius * fraction
        pen.ellipse((centre - half, box[1], centre + half, box[3]), outline=(255, 255, 255, 110), width=line)
    pen.line((centre, box[1], centre, box[3]), fill=(255, 255, 255, 110), width=line)
    pen.line((box[0], centre, box[2], centre), fill=(255, 240, 220, 220), width=line * 2)
    grid.putalpha(_multiply(grid.getchannel("A"), sphere_mask))
    icon.alpha_composite(grid)
    ImageDraw.Draw(icon).ellipse(box, outline=(255, 255, 255, 230), width=line * 2)

    icon.alpha_composite(_wrap_arrow(s, centre, radius * 1.28, width=round(s * 0.035)))
    return icon.resize((size, size), Image.Resampling.LANCZOS)


def _wrap_arrow(s: int, centre: float, radius: float, *, width: int) -> Image.Image:
    layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    pen = ImageDraw.Draw(layer)
    box = (centre - radius, centre - radius, centre + radius, centre + radius)
    start, end = 200.0, 500.0
    pen.arc(box, start=start, end=end, fill=(255, 255, 255, 240), width=width)
    # Arrowhead at the end of the arc, pointing along the clockwise tangent.
    angle = math.radians(end)
    tip_x, tip_y = centre + radius * math.cos(angle), centre + radius * math.sin(angle)
    tangent = angle + math.pi / 2
    length, spread = width * 2.6, width * 1.6
    back_x, back_y = tip_x - length * math.cos(tangent), tip_y - length * math.sin(tangent)
    normal_x, normal_y = math.cos(angle), math.sin(angle)
    head = [
        (tip_x + length * 0.4 * math.cos(tangent), tip_y + length * 0.4 * math.sin(tangent)),
        (back_x + spread * normal_x, back_y + spread * normal_y),
        (back_x - spread * normal_x, back_y - spread * normal_y),
    ]
    pen.polygon(head, fill=(255, 255, 255, 240))
    shadow = layer.getchannel("A").filter(ImageFilter.GaussianBlur(width * 0.6))
    result = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    result.paste((0, 0, 0, 90), (0, 0), shadow)
    result.alpha_composite(layer)
    return result


def _vertical_gradient(
    s: int,
    top: tuple[int, int, int],
    bottom: tuple[int, int, int],
    *,
    start: float = 0.0,
    stop: float | None = None,
) -> Image.Image:
    stop = s if stop is None else stop
    column = Image.new("RGBA", (1, s))
    for y in range(s):
        t = min(1.0, max(0.0, (y - start) / max(1.0, stop - start)))
        column.putpixel((0, y), (*(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)), 255))
    return column.resize((s, s), Image.Resampling.NEAREST)


def _multiply(a: Image.Image, b: Image.Image) -> Image.Image:
    from PIL import ImageChops

    return ImageChops.multiply(a, b)


def make_icons(out_dir: Path) -> dict[str, Path]:
    """Write every icon file into ``out_dir`` and return them by role."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    master = draw_master()
    written = {"png": out_dir / "dit360.png"}
    master.save(written["png"])
    for size in PNG_SIZES:
        path = out_dir / f"dit360-{size}.png"
        master.resize((size, size), Image.Resampling.LANCZOS).save(path)
        written[f"png{size}"] = path
    written["ico"] = out_dir / "dit360.ico"
    master.save(written["ico"], sizes=[(size, size) for size in ICO_SIZES])
    written["icns"] = out_dir / "dit360.icns"
    master.save(written["icns"])
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/icons"))
    args = parser.parse_args(argv)
    for role, path in make_icons(args.out).items():
        sys.stdout.write(f"{role}: {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
