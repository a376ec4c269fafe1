"""``dit360 generate``'s guide options (docs/guides.md): structure control from an image, or from a
panorama's depth or edges; a reference image (FLUX.1 Redux); regional prompts.

``--control-from depth|canny PANO`` computes the control image before the FLUX model loads: the depth
task's 8-bit preview (1/distance, near = bright, as the FLUX.1 Depth LoRA was trained on) or OpenCV's
Canny edges with the panorama wrapped left and right, so an edge that crosses the seam is found on both
sides. The computed picture is written beside the result when there is an ``--output``, else into the
temporary folder of the run.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from dit360_desktop.cli import arg_types
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.limits import parameter_limit

log = logging.getLogger(__name__)

CONTROL_SOURCES = ("depth", "canny")
# Columns wrapped around each side before edge detection: wider than Canny's 5×5 smoothing and Sobel.


def control_range(text: str) -> tuple[float, float]:
    """``A:B``, fractions of the steps with A < B (``0:0.6``)."""
    start_text, colon, end_text = text.partition(":")
    if not colon:
        raise argparse.ArgumentTypeError(f"expected A:B such as 0:0.6, got {text!r}")
    start = arg_types.number(parameter_limit("control_start"))(start_text)
    end = arg_types.number(parameter_limit("control_end"))(end_text)
    if start >= end:
        raise argparse.ArgumentTypeError(f"the start must be below the end (got {text!r})")
    return float(start), float(end)


def add_guide_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("guides (docs/guides.md)")
    group.add_argument(
        "--control-image", default=None, metavar="FILE", help="structure control image (equirect, 2:1)"
    )
    group.add_argument(
        "--control-from",
        nargs=2,
        default=None,
        metavar=("depth|canny", "PANO"),
        help="compute the control image: the depth or the Canny edges of a panorama",
    )
    group.add_argument(
        "--control-lora",
        default=None,
        metavar="FILE",
        help="FLUX.1 Control LoRA that reads the control image (FLUX.1-Depth-dev-lora, …-Canny-dev-lora)",
    )
    group.add_argument(
        "--control-scale",
        type=arg_types.parameter("control_scale"),
        default=1.0,
        help="strength of the Control LoRA (0…2; default 1)",
    )
    group.add_argument(
        "--control-range",
        type=control_range,
        default=(0.0, 1.0),
        metavar="A:B",
        help="fractions of the steps where the control acts (default 0:1); outside, it is off",
    )
    group.add_argument(
        "--reference",
        default=None,
        metavar="IMAGE",
        help="reference image (a panorama or a photo) whose look steers the result (FLUX.1 Redux)",
    )
    group.add_argument(
        "--reference-strength",
        type=arg_types.parameter("reference_strength"),
        default=1.0,
        help="scale of the reference's tokens (0…2; 0: none; default 1)",
    )
    group.add_argument(
        "--redux-model",
        type=Path,
        default=None,
        metavar="DIR",
        help="FLUX.1-Redux-dev folder for --reference (default: the installed catalog model)",
    )
    group.add_argument(
        "--regions",
        default=None,
        metavar="REGIONS.json",
        help="regional prompts: a list of {prompt, mask} (equirect masks, white = region; at most 8)",
    )
    group.add_argument(
        "--regions-until",
        type=arg_types.parameter("regions_until"),
        default=0.5,
        help="fraction of the steps during which the regions act, then plain attention (default 0.5)",
    )
    group.add_argument(
        "--depth-model",
        type=Path,
        default=None,
        metavar="DIR",
        help="Depth Anything V2 folder for --control-from depth (default: the installed catalog model)",
    )


def guide_request_fields(args: argparse.Namespace, work_dir: Path) -> dict:
    """The request's guide fields; ``--control-from`` writes its picture into ``work_dir``."""
    if args.control_image and args.control_from:
        raise RequestError("--control-from", "give either --control-image or --control-from, not both")
    control_image = str(Path(args.control_image).expanduser()) if args.control_image else None
    if args.control_from:
        source, pano = args.control_from
        control_image = str(compute_control_image(source, Path(pano).expanduser(), args, work_dir))
    if args.control_lora and not Path(args.control_lora).expanduser().exists():
        raise RequestError("--control-lora", f"{args.control_lora} does not exist")
    start, end = args.control_range
    reference_model = None
    if args.reference:
        from dit360_desktop.models.redux import installed_redux_model

        if args.redux_model is not None:
            reference_model = str(args.redux_model.expanduser())
        else:
            reference_model = str(installed_redux_model())
    regions_file = None
    if args.regions:
        from dit360_desktop.panorama.regions import read_regions

        regions_file = str(Path(args.regions).expanduser().resolve())
        read_regions(regions_file)  # refused now (exit 2, naming the field), not after the model loads
    return {
        "regions_file": regions_file,
        "regions_until": args.regions_until,
        "reference_image": str(Path(args.reference).expanduser()) if args.reference else None,
        "reference_strength": args.reference_strength,
        "reference_model": reference_model,
        "control_image": control_image,
        "control_lora": str(Path(args.control_lora).expanduser()) if args.control_lora else None,
        "control_scale": args.control_scale,
        "control_start": start,
        "control_end": end,
    }


def compute_control_image(source: str, pano: Path, args: argparse.Namespace, work_dir: Path) -> Path:
    from PIL import Image

    from dit360_desktop.panorama.userimage import load_user_image

    if source not in CONTROL_SOURCES:
        raise RequestError("--control-from", f"the source must be depth or canny (got {source!r})")
    if not pano.is_file():
        raise RequestError("--control-from", f"{pano} does not exist")
    target = work_dir / f"control-{source}-{pano.stem}.png"
    if source == "canny":
        from dit360_desktop.panorama.edges import canny_edges

        edges = canny_edges(np.asarray(load_user_image(pano)))
        Image.fromarray(edges).save(target)
    else:
        depth_preview(pano, args).save(target)
    log.info("control image (%s of %s) written to %s", source, pano.name, target)
    return target


def depth_preview(pano: Path, args: argparse.Namespace):
    """The depth task's 8-bit preview of ``pano`` (near = bright), grey as RGB."""
    import tempfile

    from dit360_desktop.cli.depth import load_panorama, source_template
    from dit360_desktop.cli.progress import ProgressPrinter
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.models.depth import installed_depth_model
    from dit360_desktop.panorama.depth_requests import DepthRequest

    load_panorama(pano)
    folder = args.depth_model.expanduser() if args.depth_model is not None else installed_depth_model()
    with tempfile.TemporaryDirectory(prefix="dit360-control-depth-") as work:
        request = DepthRequest(pano, folder, source_template(pano), Path(work), device=args.device)
        result = PanoramaEngine(None).run(request, on_event=ProgressPrinter(quiet=args.quiet))
    return result.image.convert("RGB")
