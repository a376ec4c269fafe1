"""``dit360 export-3d``: a textured mesh (GLB), a point cloud (PLY) and Gaussian splats (PLY) of a panorama.

The depth comes from ``--depth FILE.exr`` (a distance along the ray in metres, at the panorama's aspect;
docs/depth-3d.md) or, without it, from the depth model as in ``dit360 depth``. Everything is written in
glTF's frame: right-handed, +Y up, metres (a relative depth is scaled so the median distance is 3 m).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dit360_desktop.cli.depth import DEPTH_HINT, add_depth_model_arguments, estimate, load_panorama
from dit360_desktop.cli.exit_codes import OK, report
from dit360_desktop.cli.generate import on_off
from dit360_desktop.panorama.errors import DiT360Error, ModelMissingError, RequestError


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (got {value})")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-3d", help="GLB mesh, point PLY and Gaussian splat PLY of a panorama", description=__doc__
    )
    parser.add_argument("image", type=Path, metavar="PANO")
    parser.add_argument("--depth", type=Path, default=None, metavar="FILE.exr", help="distance in metres")
    parser.add_argument("--glb", type=Path, default=None, metavar="FILE.glb", help="textured mesh")
    parser.add_argument("--ply", type=Path, default=None, metavar="FILE.ply", help="coloured points")
    parser.add_argument("--splats", type=Path, default=None, metavar="FILE.ply", help="Gaussian splats")
    parser.add_argument(
        "--stride", type=positive, default=1, help="one point, splat or mesh cell per N pixels (1)"
    )
    parser.add_argument(
        "--max-faces", type=positive, default=1_000_000, help="mesh triangle budget (1000000)"
    )
    parser.add_argument(
        "--cut-edges", type=on_off, default=True, metavar="on|off", help="drop triangles across depth edges"
    )
    add_depth_model_arguments(parser)
    parser.set_defaults(handler=run)


def panorama_distance(args: argparse.Namespace, pixels):
    """(distance, metric): the ``--depth`` file (metres) or the depth model's estimate."""
    from dit360_desktop.panorama.depthmap import read_distance

    if args.depth is not None:
        distance = read_distance(args.depth)
        height, width = pixels.shape[:2]
        if distance.shape[1] * height != width * distance.shape[0]:
            raise RequestError("depth", f"{args.depth.name} does not have the panorama's aspect")
        return distance, True
    distance, metric, _record = estimate(args)
    return distance, metric


def run(args: argparse.Namespace) -> int:
    from dit360_desktop.panorama.mesh3d import write_glb
    from dit360_desktop.panorama.pointcloud import write_point_ply, write_splat_ply

    written: list[Path] = []
    try:
        if args.glb is None and args.ply is None and args.splats is None:
            raise RequestError("output", "name at least one of --glb, --ply and --splats")
        for flag, path, suffix in (
            ("glb", args.glb, ".glb"),
            ("ply", args.ply, ".ply"),
            ("splats", args.splats, ".ply"),
        ):
            if path is not None and path.suffix.lower() != suffix:
                raise RequestError(flag, f"{path.name} should end in {suffix}")
        pixels = load_panorama(args.image)
        distance, metric = panorama_distance(args, pixels)
        if args.glb is not None:
            summary = write_glb(
                args.glb.expanduser(),
                pixels,
                distance,
                metric=metric,
                stride=args.stride,
                max_faces=args.max_faces,
                cut_edges=args.cut_edges,
            )
            written.append(args.glb)
            if not args.quiet:
                sys.stderr.write(
                    f"mesh: {summary.columns}×{summary.rows} cells, {summary.faces} triangles "
                    f"({summary.cut_faces} cut at depth edges)\n"
                )
        if args.ply is not None:
            write_point_ply(args.ply.expanduser(), pixels, distance, metric=metric, stride=args.stride)
            written.append(args.ply)
        if args.splats is not None:
            write_splat_ply(args.splats.expanduser(), pixels, distance, metric=metric, stride=args.stride)
            written.append(args.splats)
    except ModelMissingError as error:
        return report(error, hint=f" {DEPTH_HINT}")
    except (DiT360Error, OSError) as error:
        return report(error)
    except ValueError as error:
        return report(RequestError("image", str(error)))
    for path in written:
        sys.stdout.write(f"{path}\n")
    return OK
