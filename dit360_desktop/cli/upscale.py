"""``dit360 upscale``: a panorama ×2 or ×4 (4096×2048, 8192×4096 from 2048×1024) with no seam.

The engine's upscale task (``core/tasks/upscale.py``, the app's too) does the work: a spandrel
super-resolution model (safetensors only; default: the catalog's, once downloaded with
``dit360 models download realesrgan-general-x4v3``) runs in tiles padded around the seam and across the
poles. The result keeps the source's parameters, adds what the upscale did, and gets GPano XMP with the
new full-pano size. docs/finishing.md has the details and the measured time and memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from dit360_desktop.cli import preflight
from dit360_desktop.cli.arg_types import limited, parameter
from dit360_desktop.cli.exit_codes import report
from dit360_desktop.cli.generate import add_model_arguments, engine_options
from dit360_desktop.panorama.errors import DiT360Error, ModelMissingError, RequestError
from dit360_desktop.panorama.limits import BYTES_PER_UPSCALED_PIXEL, check_fits_in_memory

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
    from dit360_desktop.cli.progress import ProgressPrinter
    from dit360_desktop.cli.repair import edit_template
    from dit360_desktop.cli.saving import print_report, save_from_cli
    from dit360_desktop.models.selection import resolve_base_model
    from dit360_desktop.models.upscaler import installed_sr_model
    from dit360_desktop.panorama.task_requests import UpscaleRequest
    from dit360_desktop.panorama.userimage import load_user_image

    try:
        source = args.image.expanduser()
        request = UpscaleRequest(
            source,
            args.scale,
            args.sr_model,
            template=None,
            tile=args.tile,
            margin=args.margin,
            detail=args.detail,
            window=args.detail_window,
        )
        request.validate()
        width, height = load_user_image(source).size
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
        sr_model = args.sr_model.expanduser() if args.sr_model is not None else installed_sr_model()
        # The panorama's own prompt and settings: the detail stage's, and the result's parameters.
        request = dataclasses.replace(request, sr_model=sr_model, template=edit_template(args, source))
        model_dir = resolve_base_model(args.model) if args.detail > 0 else None
        from dit360_desktop.core.engine import PanoramaEngine

        engine = PanoramaEngine(model_dir, engine_options(args))
        result = engine.run(request, on_event=ProgressPrinter(quiet=args.quiet))
    except ModelMissingError as error:
        return report(error, hint=f" {UPSCALER_HINT}")
    except (DiT360Error, OSError) as error:
        return report(error)
    except ValueError as error:
        return report(RequestError("image", str(error)))
    for note in result.metadata["upscale"]["notes"]:
        sys.stderr.write(f"note: {note}\n")
    # The one save path (history/saving.py): the app writes the same metadata, and a failed --output
    # leaves the picture in the recovery folder.
    return print_report(save_from_cli(result, output=args.output, latent=None, library=None))
