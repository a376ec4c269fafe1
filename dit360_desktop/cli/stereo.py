"""``dit360 stereo``: omni-directional stereo (ODS) for headsets, top/bottom, left eye on top.

A W×H panorama gives a W×2H image (W×W for 2:1): each eye is an equirect panorama rendered with rays
tangent to a circle of diameter ``--ipd`` metres, from the panorama and its distance map (``--depth
FILE.exr`` in metres, or the depth model's estimate scaled so its median distance is 3 m). What an eye sees
that the panorama does not (disocclusions behind near edges) is left transparent (PNG alpha) with
``--fill none``, for filling elsewhere. docs/depth-3d.md has the geometry.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from dit360_desktop.cli.depth import DEPTH_HINT, add_depth_model_arguments, load_panorama
from dit360_desktop.cli.exit_codes import OK, report
from dit360_desktop.cli.export3d import panorama_distance
from dit360_desktop.panorama.errors import DiT360Error, ModelMissingError, RequestError

FILL_MODES = ("none",)
MAX_IPD = 1.0


def ipd_option(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected metres such as 0.064, got {text!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= MAX_IPD:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_IPD} metres (got {text})")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stereo", help="top/bottom omni-directional stereo for VR headsets", description=__doc__
    )
    parser.add_argument("image", type=Path, metavar="PANO")
    parser.add_argument("--depth", type=Path, default=None, metavar="FILE.exr", help="distance in metres")
    parser.add_argument("--ipd", type=ipd_option, default=0.064, help="eye distance in metres (0.064)")
    parser.add_argument("--output", type=Path, required=True, metavar="FILE.png")
    parser.add_argument(
        "--fill", choices=FILL_MODES, default="none", help="none: disocclusions stay transparent (alpha)"
    )
    add_depth_model_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from dit360_desktop.panorama import imageio
    from dit360_desktop.panorama.space3d import scene_scale
    from dit360_desktop.panorama.stereo import ods_pair, top_bottom

    try:
        if args.output.suffix.lower() != ".png":
            raise RequestError(
                "output", f"the stereo image is a PNG (it carries alpha); got {args.output.name}"
            )
        pixels = load_panorama(args.image)
        distance, metric = panorama_distance(args, pixels)
        metres = distance * scene_scale(distance, metric)
        pair = ods_pair(pixels, metres, args.ipd)
        image = top_bottom(pair, holes_transparent=True)
        metadata = {
            "stereo": {
                "layout": "top-bottom",
                "left_eye": "top",
                "projection": "omni-directional stereo (equirectangular per eye)",
                "ipd_m": args.ipd,
                "depth": str(args.depth) if args.depth is not None else "estimated (median 3 m)",
                "fill": args.fill,
                "holes": int(pair.left_holes.sum() + pair.right_holes.sum()),
            },
            "source": str(args.image),
        }
        png = imageio.encode_png(Image.fromarray(image[..., :3]), metadata, gpano=False)
        # encode_png writes RGB; the alpha (holes) is added with Pillow keeping the same text chunks.
        from dit360_desktop.panorama.fileio import write_atomic

        write_atomic(args.output.expanduser(), _with_alpha(png, image))
    except ModelMissingError as error:
        return report(error, hint=f" {DEPTH_HINT}")
    except (DiT360Error, OSError) as error:
        return report(error)
    except ValueError as error:
        return report(RequestError("depth", str(error)))
    holes = int(pair.left_holes.sum() + pair.right_holes.sum())
    if not args.quiet and holes:
        sys.stderr.write(f"note: {holes} disoccluded pixels are transparent (--fill none)\n")
    sys.stdout.write(f"{args.output}\n")
    return OK


def _with_alpha(png: bytes, image) -> bytes:
    import io

    from PIL import Image, PngImagePlugin

    source = Image.open(io.BytesIO(png))
    info = PngImagePlugin.PngInfo()
    for key, value in source.text.items():
        info.add_itxt(key, value, zip=True)
    buffer = io.BytesIO()
    Image.fromarray(image, "RGBA" if image.shape[-1] == 4 else "RGB").save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
