"""``dit360 place``: put a perspective photo on the sphere and outpaint the rest of the 360° panorama.

Angles follow the viewer and the perspective export: yaw 0 is the centre column, positive yaw turns
towards larger x, positive pitch looks up, positive roll turns the photo counter-clockwise; --fov is the
photo's horizontal field of view (default: from the EXIF 35 mm-equivalent focal length, else 60°).
``--canvas-only CANVAS.png`` writes the placed photo and ``CANVAS.mask.png`` (white = regenerate) without
generating anything.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from dit360_desktop.cli import exit_codes
from dit360_desktop.cli.arg_types import limited
from dit360_desktop.cli.edit import add_edit_arguments, build_request, default_size
from dit360_desktop.cli.generate import report_error, run_request
from dit360_desktop.panorama.errors import DiT360Error, ImageLoadError, RequestError
from dit360_desktop.panorama.limits import BYTES_PER_PLACED_PIXEL, check_fits_in_memory

# The place mask's ramp into the photo (and the composite's feather) unless --feather is given: 16 px at
# 2048 wide, in proportion at other sizes.
FEATHER_SHARE_OF_WIDTH = 1 / 128


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "place", help="outpaint a 360° panorama around a photo", description=__doc__
    )
    parser.add_argument("--photo", required=True, help="a perspective photo (PNG, JPEG, WebP, TIFF)")
    parser.add_argument(
        "--yaw", type=limited("yaw"), default=0.0, help="degrees, -180…180; 0 = centre column, + = right"
    )
    parser.add_argument("--pitch", type=limited("pitch"), default=0.0, help="degrees, -90…90; + = up")
    parser.add_argument(
        "--roll", type=limited("roll"), default=0.0, help="degrees, -180…180; + = counter-clockwise"
    )
    parser.add_argument(
        "--fov",
        type=limited("photo_fov"),
        default=None,
        help="horizontal FOV, 10…170° (default: EXIF, else 60)",
    )
    parser.add_argument(
        "--canvas-only",
        type=Path,
        default=None,
        metavar="CANVAS.png",
        help="write the placed photo and CANVAS.mask.png, and stop",
    )
    add_edit_arguments(parser)
    for action in parser._actions:
        if action.dest == "prompt":
            action.required = False  # only needed when something is generated
        elif action.dest == "feather":
            action.help = "the mask's ramp into the photo and the composite's soft edge, px (default W/128)"
    parser.set_defaults(handler=run, feather=None)


def mask_path_for(canvas: Path) -> Path:
    return canvas.with_name(f"{canvas.stem}.mask.png")


def place(args: argparse.Namespace) -> tuple[Image.Image, Image.Image, str]:
    """The canvas and mask for the options; also the sentence saying where the FOV came from."""
    from dit360_desktop.panorama.placement import check_fov, estimate_fov, place_photo
    from dit360_desktop.panorama.userimage import load_user_image

    photo_path = Path(args.photo).expanduser()
    photo = load_user_image(photo_path)
    if args.fov is not None:
        check_fov(args.fov)
        fov, why = args.fov, f"--fov {args.fov:g}°"
    else:
        fov, why = estimate_fov(photo_path)
    width, height = default_size(None, args)
    if width != 2 * height:
        raise RequestError("--width", f"the panorama must be 2:1 (got --width {width} --height {height})")
    check_fits_in_memory(
        "--width",
        f"a {width}×{height} canvas",
        width * height,
        BYTES_PER_PLACED_PIXEL,
        "Choose a smaller --width.",
    )
    if args.feather is None:
        args.feather = max(2, round(width * FEATHER_SHARE_OF_WIDTH))
    canvas, mask = place_photo(
        np.asarray(photo),
        yaw=args.yaw,
        pitch=args.pitch,
        roll=args.roll,
        fov=fov,
        width=width,
        height=height,
        feather=args.feather,
    )
    return Image.fromarray(canvas), Image.fromarray(mask, mode="L"), why


def write_canvas(canvas: Image.Image, mask: Image.Image, path: Path) -> list[Path]:
    """Both files or neither: a canvas without its mask is no use to ``dit360 edit``."""
    from dit360_desktop.panorama.fileio import write_atomic_set
    from dit360_desktop.panorama.imageio import encode_png

    return write_atomic_set(
        {path: encode_png(canvas, None), mask_path_for(path): encode_png(mask, None, gpano=False)}
    )


def check_canvas_paths(canvas: Path) -> None:
    """Refuse, before placing anything, a canvas or mask path that cannot be written (exit 2 naming it)."""
    from dit360_desktop.cli import preflight

    for path in (canvas, mask_path_for(canvas)):
        preflight.check_output_file(path, "--canvas-only", 0)


def stored_canvas(canvas: Image.Image, mask: Image.Image) -> tuple[Path, Path]:
    """Keep the canvas and mask in the app's data folder, named by content, so history can point at them."""
    from dit360_desktop.paths import data_dir

    digest = hashlib.sha256(canvas.tobytes() + mask.tobytes()).hexdigest()[:16]
    folder = data_dir() / "placements"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.png"
    write_canvas(canvas, mask, path)
    return path, mask_path_for(path)


def run(args: argparse.Namespace) -> int:
    try:
        if args.canvas_only is None and not (args.prompt or "").strip():
            raise RequestError("--prompt", "is needed to outpaint (or pass --canvas-only CANVAS.png)")
        if args.canvas_only is not None:
            check_canvas_paths(args.canvas_only.expanduser())
        canvas, mask, why = place(args)
    except (DiT360Error, OSError) as error:
        return report_error(error)
    if not args.quiet:
        sys.stderr.write(f"Field of view: {why}\n")
    if args.canvas_only is not None:
        try:
            written = write_canvas(canvas, mask, args.canvas_only.expanduser())
        except OSError as error:
            return report_error(error)
        for path in written:
            sys.stdout.write(f"{path}\n")
        return exit_codes.OK
    try:
        image_path, mask_path = stored_canvas(canvas, mask)
        args.width, args.height = canvas.size
        request = build_request(args, str(image_path), str(mask_path), canvas.size, "crop")
        request.validate()
    except (RequestError, ImageLoadError, OSError) as error:
        return report_error(error)
    return run_request(request, args)
