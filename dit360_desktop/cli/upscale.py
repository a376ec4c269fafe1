"""``dit360 upscale``: a panorama ×2 or ×4 (4096×2048, 8192×4096 from 2048×1024) with no seam.

A spandrel super-resolution model (safetensors only; default: the catalog's, once downloaded with
``dit360 models download realesrgan-general-x4v3``) runs in tiles padded around the seam and across the
poles. The result keeps the source's parameters, adds what the upscale did, and gets GPano XMP with the
new full-pano size. docs/finishing.md has the details and the measured time and memory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dit360_desktop.cli import preflight
from dit360_desktop.cli.arg_types import limited, parameter
from dit360_desktop.cli.exit_codes import OK, report
from dit360_desktop.cli.generate import add_model_arguments, engine_options
from dit360_desktop.panorama.errors import DiT360Error, ModelMissingError, RequestError
from dit360_desktop.panorama.limits import BYTES_PER_UPSCALED_PIXEL, check_fits_in_memory

# core.upscale.detail.MAX_DETAIL_STRENGTH, without importing torch to parse the options.
MAX_DETAIL_STRENGTH = 0.6

UPSCALER_HINT = (
    "Run `dit360 models download realesrgan-general-x4v3`, or pass --sr-model FILE.safetensors "
    "(any super-resolution model spandrel supports)."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "upscale", help="upscale a panorama ×2 or ×4 with no seam", description=__doc__
    )
    parser.add_argument("image", type=Path, metavar="IMAGE")
    parser.add_argument("--scale", type=int, choices=(2, 4), required=True)
    parser.add_argument(
        "--sr-model", type=Path, default=None, metavar="FILE.safetensors", help="super-resolution model"
    )
    parser.add_argument(
        "--tile",
        type=limited("upscale_tile"),
        default=None,
        metavar="PX",
        help="tile side in input pixels (0: untiled; default 1024 on a GPU, 512 on the CPU)",
    )
    parser.add_argument(
        "--margin",
        type=limited("upscale_margin"),
        default=None,
        metavar="PX",
        help="context around each tile (default: what the model reads, its receptive field, at most 96)",
    )
    parser.add_argument(
        "--detail",
        type=limited("detail_strength"),
        default=0.0,
        metavar="STRENGTH",
        help="DiT360 img2img over overlapping windows of the result (0: off; up to 0.6; 0.2-0.3 adds detail)",
    )
    detail = parser.add_argument_group("detail stage (with --detail)")
    detail.add_argument(
        "--detail-window",
        type=limited("detail_window"),
        default=2048,
        metavar="PX",
        help="window width (2048)",
    )
    detail.add_argument("--prompt", default=None, help="what the panorama shows (default: its own prompt)")
    detail.add_argument(
        "--steps", type=parameter("steps"), default=None, help="default: the panorama's own, else 28"
    )
    detail.add_argument(
        "--guidance", type=parameter("guidance"), default=None, help="default: the panorama's own, else 2.8"
    )
    detail.add_argument("--seed", type=limited("seed"), default=None, help="0…2^32-1; random when omitted")
    detail.add_argument("--lora", default=None, help="LoRA folder or .safetensors file, or 'none'")
    detail.add_argument("--lora-scale", type=parameter("lora_scale"), default=1.0)
    add_model_arguments(detail)
    parser.add_argument("--output", type=Path, required=True, metavar="FILE.png")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from dit360_desktop.panorama import imageio
    from dit360_desktop.panorama.userimage import load_user_image

    try:
        if not 0.0 <= args.detail <= MAX_DETAIL_STRENGTH:
            raise RequestError(
                "detail", f"must be between 0 (off) and {MAX_DETAIL_STRENGTH} (got {args.detail})"
            )
        if args.tile is not None and args.tile < 0:
            raise RequestError(
                "tile", f"must be 0 (untiled) or a positive number of pixels (got {args.tile})"
            )
        if args.margin is not None and args.margin < 0:
            raise RequestError("margin", f"must be 0 or more (got {args.margin})")
        source = args.image.expanduser()
        pixels = np.asarray(load_user_image(source))
        height, width = pixels.shape[:2]
        check_fits_in_memory(
            "--scale",
            f"×{args.scale} of the {width}×{height} {source.name} (a {width * args.scale}×"
            f"{height * args.scale} result)",
            width * height * args.scale**2,
            BYTES_PER_UPSCALED_PIXEL,
            "Use --scale 2 or a smaller picture.",
        )
        args.output = preflight.check_output_file(
            args.output, "--output", preflight.png_size_bound(width * args.scale, height * args.scale)
        )
        from dit360_desktop.models.upscaler import installed_sr_model

        model_path = args.sr_model.expanduser() if args.sr_model is not None else installed_sr_model()
        from dit360_desktop.core.upscale.model import load_sr_model
        from dit360_desktop.core.upscale.pipeline import upscale_pixels
        from dit360_desktop.core.upscale.tiling import DEFAULT_MARGIN, DEFAULT_TILE_CPU, DEFAULT_TILE_GPU

        template = model_dir = None
        if args.detail > 0:
            from dit360_desktop.cli.repair import edit_template
            from dit360_desktop.models.selection import resolve_base_model

            template = edit_template(args, source)
            model_dir = resolve_base_model(args.model)
        sr = load_sr_model(model_path, device=args.device)
        tile = (
            args.tile
            if args.tile is not None
            else (DEFAULT_TILE_GPU if sr.device.type != "cpu" else DEFAULT_TILE_CPU)
        )
        margin = args.margin if args.margin is not None else DEFAULT_MARGIN
        progress = None if args.quiet else _progress
        out, summary = upscale_pixels(pixels, sr, args.scale, tile=tile, margin=margin, on_progress=progress)
        if template is not None:
            out = _add_detail(args, out, template, model_dir, sr)
        metadata = _source_metadata(source)
        metadata["upscale"] = {
            "source": str(source),
            "source_size": [width, height],
            "scale": args.scale,
            "model": sr.path.name,
            "architecture": sr.architecture,
            "tile": tile,
            "margin": margin,
            "seconds": round(summary.seconds, 2),
            "notes": summary.notes,
        }
        if template is not None:
            metadata["upscale"]["detail"] = {
                "strength": args.detail,
                "window": args.detail_window,
                "request": template.to_dict(),
            }
        imageio.save_png(Image.fromarray(out), args.output.expanduser(), metadata, gpano=True)
    except ModelMissingError as error:
        return report(error, hint=f" {UPSCALER_HINT}")
    except (DiT360Error, OSError) as error:
        return report(error)
    except ValueError as error:
        return report(RequestError("image", str(error)))
    if not args.quiet:
        sys.stderr.write("\n")
    for note in summary.notes:
        sys.stderr.write(f"note: {note}\n")
    sys.stdout.write(f"{args.output}\n")
    return OK


def _add_detail(args: argparse.Namespace, pixels, template, model_dir: Path, sr):
    """The detail stage; the SR network is freed first so the diffusion model has the memory."""
    import tempfile

    from dit360_desktop.cli.progress import ProgressPrinter
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.core.upscale.detail import add_detail

    sr.module.to("cpu")
    engine = PanoramaEngine(model_dir, **engine_options(args))
    if not args.quiet:
        sys.stderr.write("\n")
    with tempfile.TemporaryDirectory(prefix="dit360-detail-") as work:
        return add_detail(
            engine,
            pixels,
            template,
            args.detail,
            Path(work),
            window=args.detail_window,
            on_event=ProgressPrinter(quiet=args.quiet),
        )


def _source_metadata(source: Path) -> dict:
    """The source's own DiT360 parameters, when it has any (a photo or a WebP has none)."""
    from dit360_desktop.panorama import imageio
    from dit360_desktop.panorama.errors import ImageLoadError

    try:
        return dict(imageio.read_metadata(source).dit360 or {})
    except (ImageLoadError, OSError, ValueError):
        return {}


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\r[upscaling] tile {done}/{total}")
    sys.stderr.flush()
