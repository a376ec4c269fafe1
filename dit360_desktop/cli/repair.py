"""``dit360 repair IMAGE --seam --poles``: regenerate the 0/360° seam band and/or the pole caps with masked
edits (``core/repair.py``; docs/finishing.md). The result is recorded in the library as an edit of IMAGE
(linked to its entry when IMAGE is a library image), and ``--output`` writes a copy."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from dit360_desktop.cli import exit_codes, preflight
from dit360_desktop.cli.arg_types import limited, parameter
from dit360_desktop.cli.generate import (
    add_model_arguments,
    engine_options,
    model_request_fields,
    report_error,
)
from dit360_desktop.cli.progress import ProgressPrinter
from dit360_desktop.cli.saving import print_report, save_from_cli
from dit360_desktop.panorama.errors import DiT360Error, RequestError
from dit360_desktop.panorama.mask import ASPECT_TOLERANCE
from dit360_desktop.panorama.request import PANORAMA_PREFIX, GenerationRequest


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "repair", help="fix a panorama's seam and/or poles with masked edits", description=__doc__
    )
    parser.add_argument("image", type=Path, metavar="IMAGE", help="a 2:1 panorama (sides multiples of 16)")
    parser.add_argument("--seam", action="store_true", help="regenerate a band around the 0/360° seam")
    parser.add_argument("--poles", action="store_true", help="regenerate the caps above ±75° in pole views")
    parser.add_argument("--prompt", default=None, help="what the panorama shows (default: its own prompt)")
    parser.add_argument(
        "--strength",
        type=limited("repair_strength"),
        default=0.75,
        help="how much the regions change (0.05-1)",
    )
    parser.add_argument(
        "--band",
        type=limited("repair_band"),
        default=None,
        metavar="PX",
        help="seam band width (default W/8)",
    )
    parser.add_argument(
        "--feather",
        type=limited("repair_feather"),
        default=8,
        metavar="PX",
        help="soft edge of the seam band",
    )
    parser.add_argument(
        "--steps", type=parameter("steps"), default=None, help="default: the panorama's own, else 28"
    )
    parser.add_argument(
        "--guidance", type=parameter("guidance"), default=None, help="default: the panorama's own, else 2.8"
    )
    parser.add_argument(
        "--seed",
        type=limited("seed"),
        default=None,
        help="0…2^32-1; default: the panorama's own, else random",
    )
    parser.add_argument(
        "--repaint-own",
        action="store_true",
        help="also repaint the pixels an edit kept (a placed photo); by default they are kept exactly",
    )
    parser.add_argument("--lora", default=None, help="LoRA folder or .safetensors file, or 'none'")
    parser.add_argument("--lora-scale", type=parameter("lora_scale"), default=1.0)
    add_model_arguments(parser)
    parser.add_argument(
        "--output", type=Path, default=None, metavar="FILE.png", help="also write a copy here"
    )
    parser.add_argument("--library", type=Path, default=None, help="history library folder")
    parser.add_argument("--no-history", action="store_true", help="do not record the result in the library")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(handler=run)


def edit_template(args: argparse.Namespace, source: Path) -> GenerationRequest:
    """The request a repair or an upscale of ``source`` starts from: the panorama's own, every setting
    kept (``panorama.result.stored_request``, as the app's), with what the options set on top."""
    from dit360_desktop.panorama import imageio
    from dit360_desktop.panorama.result import stored_request

    try:
        recorded = imageio.read_metadata(source).dit360 or {}
    except (DiT360Error, OSError, ValueError):
        recorded = {}
    # A file that records a seed but no request keeps its seed: a repair regenerates with that noise.
    seed = recorded.get("seed")
    whole = isinstance(seed, int) and not isinstance(seed, bool)
    base = stored_request(recorded) or GenerationRequest(prompt=PANORAMA_PREFIX, seed=seed if whole else None)
    prompt = args.prompt if args.prompt is not None else base.prompt
    preflight.check_prompt_text("--prompt", prompt)
    return base.replace(
        prompt=prompt,
        steps=args.steps if args.steps is not None else base.steps,
        guidance=args.guidance if args.guidance is not None else base.guidance,
        seed=args.seed if args.seed is not None else base.seed,
        **model_request_fields(args),
    )


def run(args: argparse.Namespace) -> int:
    from dit360_desktop.models.selection import resolve_base_model
    from dit360_desktop.panorama.task_requests import RepairOptions
    from dit360_desktop.panorama.userimage import load_user_image

    library = None
    try:
        if not (args.seam or args.poles):
            raise RequestError("repair", "choose --seam, --poles or both")
        source = args.image.expanduser()
        width, height = load_user_image(source).size
        if abs(width / height / 2.0 - 1.0) > ASPECT_TOLERANCE:
            raise RequestError(
                "IMAGE",
                f"{source.name} is {width}×{height}, not a 2:1 panorama; seam and pole repairs need the "
                "whole 360° picture (width twice the height).",
            )
        options = RepairOptions(
            seam=args.seam, poles=args.poles, band=args.band, feather=args.feather, strength=args.strength
        )
        options.validate(width)
        template = edit_template(args, source)
        if args.output is not None:
            args.output = preflight.check_output_file(
                args.output, "--output", preflight.png_size_bound(width, height)
            )
        model_dir = resolve_base_model(args.model)
        if not args.no_history:
            from dit360_desktop.history.library import Library

            library = Library.open(args.library)
    except (DiT360Error, OSError) as error:
        if library is not None:
            library.close()
        return report_error(error)

    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.history.protection import kept_mask_beside
    from dit360_desktop.panorama.task_requests import RepairRequest

    try:
        engine = PanoramaEngine(model_dir, engine_options(args))
        with tempfile.TemporaryDirectory(prefix="dit360-repair-") as work:
            try:
                kept = None if args.repaint_own else kept_mask_beside(source)
                request = RepairRequest(source, template, Path(work), options, kept_mask=kept)
                result = engine.run(request, on_event=ProgressPrinter(quiet=args.quiet))
                summary = result.metadata["repair"]
            except KeyboardInterrupt:
                sys.stderr.write("\nInterrupted; nothing was written.\n")
                return exit_codes.INTERRUPTED
            except (DiT360Error, OSError) as error:
                return report_error(error)
            # The library copies the repair's mask from the work folder, so save before it goes.
            saved = save_from_cli(result, output=args.output, latent=None, library=library)
        before, after = summary["poles_before"], summary["poles_after"]
        sys.stderr.write(
            f"seam score {summary['seam_before']:.3f} → {summary['seam_after']:.3f}; pole smear "
            f"{before[0]:.2f}/{before[1]:.2f} → {after[0]:.2f}/{after[1]:.2f}\n"
        )
        for note in summary["notes"]:
            sys.stderr.write(f"note: {note}\n")
        return print_report(saved)
    finally:
        if library is not None:
            library.close()
