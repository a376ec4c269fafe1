"""``dit360 qa``: the seam score and the pole smear scores of a panorama, with a verdict in words."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dit360_desktop.cli.exit_codes import OK, report
from dit360_desktop.panorama.errors import DiT360Error


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "qa", help="score a panorama's seam and poles (docs/finishing.md)", description=__doc__
    )
    parser.add_argument("image", type=Path, metavar="IMAGE")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from dit360_desktop.panorama import qa
    from dit360_desktop.panorama.userimage import load_user_image

    try:
        pixels = np.asarray(load_user_image(args.image.expanduser()))
        result = qa.assess(pixels)
    except (DiT360Error, OSError) as error:
        return report(error)
    except ValueError as error:
        sys.stderr.write(f"error: {args.image}: {error}\n")
        return 2
    if args.json:
        data = {"image": str(args.image), "width": pixels.shape[1], "height": pixels.shape[0]}
        data.update(result.to_json())
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return OK
    summary = result.to_json()
    sys.stdout.write(
        f"seam score        {result.seam:8.3f}   "
        f"(about 1 is seamless; worst row {summary['seam_worst_row']})\n"
        f"pole smear north  {result.pole_north:8.3f}   (about 1 is as detailed as the band below)\n"
        f"pole smear south  {result.pole_south:8.3f}\n"
    )
    for verdict in result.verdicts or ("Good: no visible seam and no smeared pole.",):
        sys.stdout.write(f"{verdict}\n")
    return OK
