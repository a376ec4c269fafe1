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
    import shutil
    import tempfile

    from dit360_desktop.cli.depth import source_template
    from dit360_desktop.cli.progress import ProgressPrinter
    from dit360_desktop.panorama.depth_requests import Export3DRequest
    from dit360_desktop.panorama.depthmap import save_distance_exr
    from dit360_desktop.panorama.fileio import write_atomic

    targets = {"glb": args.glb, "ply": args.ply, "splats": args.splats}
    targets = {name: path.expanduser() for name, path in targets.items() if path is not None}
    try:
        if not targets:
            raise RequestError("output", "name at least one of --glb, --ply and --splats")
        for name, suffix in (("glb", ".glb"), ("ply", ".ply"), ("splats", ".ply")):
            if name in targets and targets[name].suffix.lower() != suffix:
                raise RequestError(name, f"{targets[name].name} should end in {suffix}")
        source = args.image.expanduser()
        pixels = load_panorama(source)
        with tempfile.TemporaryDirectory(prefix="dit360-export-3d-") as work:
            if args.depth is not None:
                panorama_distance(args, pixels)  # refuses a bad file (exit 2) with a sentence
                depth_file, metric = args.depth.expanduser(), True
            else:
                distance, metric = panorama_distance(args, pixels)
                depth_file = save_distance_exr(distance, Path(work) / "depth.exr")
            request = Export3DRequest(
                source,
                depth_file,
                metric,
                source_template(source),
                Path(work) / "out",
                tuple(targets),
                stride=args.stride,
                max_faces=args.max_faces,
                cut_edges=args.cut_edges,
            )
            request.validate()
            from dit360_desktop.core.engine import PanoramaEngine

            result = PanoramaEngine(None).run(request, on_event=ProgressPrinter(quiet=args.quiet))
            record = result.metadata["export_3d"]
            for name, target in targets.items():
                made = Path(record["files"][name])
                write_atomic(target, lambda temp, made=made: shutil.copyfile(made, temp))
    except ModelMissingError as error:
        return report(error, hint=f" {DEPTH_HINT}")
    except (DiT360Error, OSError) as error:
        return report(error)
    mesh = record.get("mesh")
    if mesh is not None and not args.quiet:
        sys.stderr.write(
            f"mesh: {mesh['cells'][0]}×{mesh['cells'][1]} cells, {mesh['faces']} triangles "
            f"({mesh['cut_faces']} cut at depth edges)\n"
        )
    for target in targets.values():
        sys.stdout.write(f"{target}\n")
    return OK
