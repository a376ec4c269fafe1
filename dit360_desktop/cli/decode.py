"""``dit360 decode``: turn a latent saved with ``--save-latent`` into a PNG."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dit360_desktop.cli import preflight
from dit360_desktop.cli.exit_codes import OK
from dit360_desktop.cli.generate import add_model_arguments, engine_options, report_error
from dit360_desktop.panorama.errors import DiT360Error


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("decode", help="decode a saved latent to a PNG", description=__doc__)
    parser.add_argument("latent", type=Path, metavar="LATENT.safetensors")
    add_model_arguments(parser)
    parser.add_argument("--output", type=Path, required=True, metavar="FILE.png")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.core.latents import load_latent
    from dit360_desktop.models.selection import resolve_base_model
    from dit360_desktop.panorama.imageio import save_png

    try:
        latent = load_latent(args.latent)
        height, width = (int(side) * 8 for side in latent.shape[-2:])
        preflight.check_output_file(args.output, "--output", preflight.png_size_bound(width, height))
        engine = PanoramaEngine(resolve_base_model(args.model), engine_options(args))
        image = engine.decode_latent(
            latent, seamless=args.seamless_decode, device=args.device, dtype=args.dtype, tier=args.tier
        )
        metadata = {"decoded_from": str(args.latent), "seamless_decode": args.seamless_decode}
        save_png(image, args.output, metadata)
    except (DiT360Error, OSError) as error:
        return report_error(error)
    sys.stdout.write(f"{args.output}\n")
    return OK
