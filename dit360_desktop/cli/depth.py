"""``dit360 depth``: the distance map of a panorama, seam-exact, as a float EXR or a 16-bit PNG.

Depth Anything V2 (default: the catalog's Small, once downloaded with ``dit360 models download
depth-anything-v2-small``) runs on six overlapping views that cover the sphere; the views are aligned in
their overlaps and blended on the sphere, so the 0/360° seam and the poles are ordinary places
(docs/depth-3d.md). ``.exr``: one float channel named Z, the distance along the ray (metres for a metric
model, else relative with median 1). ``.png``: 16-bit, 1/distance normalised, near = bright.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dit360_desktop.cli.exit_codes import OK, report
from dit360_desktop.panorama.errors import DiT360Error, ModelMissingError, RequestError

DEPTH_HINT = (
    "Run `dit360 models download depth-anything-v2-small`, or pass --depth-model DIR (a Depth Anything V2 "
    "folder with config.json and model.safetensors)."
)


def size_option(text: str) -> tuple[int, int]:
    """``WxH`` with W = 2H, both at least 8."""
    try:
        width_text, height_text = text.lower().split("x")
        width, height = int(width_text), int(height_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH such as 2048x1024, got {text!r}") from None
    if height < 4 or width != 2 * height or height > 16384:
        raise argparse.ArgumentTypeError(
            f"{text}: a distance map is twice as wide as high, from 8x4 to 32768x16384"
        )
    return width, height


def add_depth_model_arguments(parser: argparse.ArgumentParser, *, device: bool = True) -> None:
    """--depth-model and --quiet; --device too unless the command has the FLUX model options."""
    parser.add_argument(
        "--depth-model",
        type=Path,
        default=None,
        metavar="DIR",
        help="Depth Anything V2 folder (default: the installed catalog model)",
    )
    if device:
        parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "depth", help="distance map of a panorama (EXR or 16-bit PNG)", description=__doc__
    )
    parser.add_argument("image", type=Path, metavar="PANO")
    parser.add_argument("--output", type=Path, required=True, metavar="FILE.exr|FILE.png")
    parser.add_argument(
        "--size", type=size_option, default=None, metavar="WxH", help="default: the panorama's size"
    )
    add_depth_model_arguments(parser)
    parser.set_defaults(handler=run)


def load_panorama(path: Path):
    """The panorama's RGB pixels, refused with a sentence (exit 2) unless it is 2:1."""
    import numpy as np

    from dit360_desktop.panorama.userimage import load_user_image

    pixels = np.asarray(load_user_image(path.expanduser()))
    height, width = pixels.shape[:2]
    if width != 2 * height:
        raise RequestError("image", f"{path.name} is {width}×{height}; a panorama is twice as wide as high")
    return pixels


def source_template(source: Path):
    """The source's own request (its prompt and settings), or a bare panorama prompt: the depth's record
    of what it was made from."""
    from dit360_desktop.panorama import imageio
    from dit360_desktop.panorama.request import PANORAMA_PREFIX, GenerationRequest

    try:
        stored = (imageio.read_metadata(source).dit360 or {}).get("request") or {}
    except (DiT360Error, OSError, ValueError):
        stored = {}
    return GenerationRequest(prompt=str(stored.get("prompt") or PANORAMA_PREFIX))


def estimate(args: argparse.Namespace, size: tuple[int, int] | None = None):
    """Run the engine's depth task on ``args.image``: (distance, metric, the task's metadata)."""
    import tempfile

    from dit360_desktop.cli.progress import ProgressPrinter
    from dit360_desktop.models.depth import installed_depth_model
    from dit360_desktop.panorama.depth_requests import DepthRequest
    from dit360_desktop.panorama.depthmap import read_distance

    folder = args.depth_model.expanduser() if args.depth_model is not None else installed_depth_model()
    from dit360_desktop.core.engine import PanoramaEngine

    source = args.image.expanduser()
    with tempfile.TemporaryDirectory(prefix="dit360-depth-") as work:
        request = DepthRequest(
            source, folder, source_template(source), Path(work), size=size, device=args.device
        )
        result = PanoramaEngine(None).run(request, on_event=ProgressPrinter(quiet=args.quiet))
        distance = read_distance(result.metadata["depth"]["exr"])
    return distance, bool(result.metadata["depth"]["metric"]), result.metadata["depth"]


def run(args: argparse.Namespace) -> int:
    from dit360_desktop.panorama.depthmap import save_distance

    try:
        suffix = args.output.suffix.lower()
        if suffix not in (".exr", ".png"):
            raise RequestError("output", f"write the depth as .exr or .png (got {args.output.name})")
        load_panorama(args.image)  # a 2:1 image, checked before the model loads
        distance, _metric, record = estimate(args, args.size)
        metadata = {key: value for key, value in record.items() if key != "exr"}
        save_distance(distance, args.output.expanduser(), metadata)
    except ModelMissingError as error:
        return report(error, hint=f" {DEPTH_HINT}")
    except (DiT360Error, OSError) as error:
        return report(error)
    sys.stdout.write(f"{args.output}\n")
    return OK
