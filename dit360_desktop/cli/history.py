"""``dit360 history``: list, show, export, rescan and delete the panoramas in the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dit360_desktop.cli.arg_types import limited, size_pair
from dit360_desktop.cli.exit_codes import BAD_INPUT, OK, report
from dit360_desktop.history.entry import Entry
from dit360_desktop.panorama.errors import DiT360Error, RequestError
from dit360_desktop.panorama.limits import LIMITS

PERSPECTIVE_ONLY = ("yaw", "pitch", "fov", "size")
# ExportOptions' fields by the option that sets each.
EXPORT_OPTIONS = {
    "quality": "--quality",
    "face_size": "--face-size",
    "face_format": "--face-format",
    "highlight_stops": "--highlights",
    "yaw": "--yaw",
    "pitch": "--pitch",
    "fov": "--fov",
    "size": "--size",
    "format": "--format",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "history", help="browse and export the panorama library", description=__doc__
    )
    commands = parser.add_subparsers(dest="history_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--library", type=Path, default=None, help="library folder (default: the app's)")

    listing = commands.add_parser("list", parents=[common], help="list entries, newest first")
    listing.add_argument("--search", default="", help="words to find in prompts and tags (or a seed)")
    listing.add_argument("--favorites", action="store_true", help="only favourites")
    listing.add_argument("--oldest", action="store_true", help="oldest first")
    listing.add_argument("--limit", type=limited("list_limit"), default=None, help="at most N entries")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", parents=[common], help="every parameter of one entry")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=_show)

    export = commands.add_parser("export", parents=[common], help="export for 360° viewers and game engines")
    export.add_argument("id", type=int)
    export.add_argument(
        "--format",
        required=True,
        choices=("jpeg-gpano", "png", "cubemap", "cubemap-cross", "perspective", "exr", "hdr"),
    )
    export.add_argument("--out", type=Path, required=True, help="output file (a folder for cubemap)")
    export.add_argument(
        "--quality", type=limited("jpeg_quality"), default=92, help="JPEG quality 1-100 (default 92)"
    )
    export.add_argument("--strip-metadata", action="store_true", help="leave out the prompt and parameters")
    export.add_argument(
        "--face-size", type=limited("face_size"), default=None, help="cube face edge in pixels (default W/4)"
    )
    export.add_argument(
        "--face-format", choices=("png", "jpeg", "exr"), default="png", help="cube face file type"
    )
    export.add_argument(
        "--highlights",
        type=limited("highlight_stops"),
        default=0.0,
        metavar="STOPS",
        help="exr/hdr: expand the brightest regions by up to STOPS (0-8, default 0: exact sRGB→linear)",
    )
    export.add_argument(
        "--yaw", type=limited("yaw"), default=None, help="perspective: degrees, + turns right"
    )
    export.add_argument(
        "--pitch", type=limited("pitch"), default=None, help="perspective: degrees, + looks up"
    )
    export.add_argument(
        "--fov", type=limited("view_fov"), default=None, help="perspective: horizontal FOV in degrees"
    )
    export.add_argument(
        "--size",
        type=size_pair(LIMITS["view_side"]),
        default=None,
        help="perspective: WxH (default 1920x1080)",
    )
    export.set_defaults(handler=_export)

    rescan = commands.add_parser("rescan", parents=[common], help="rebuild the index from the image files")
    rescan.set_defaults(handler=_rescan)

    delete = commands.add_parser("delete", parents=[common], help="move an entry's image to the trash")
    delete.add_argument("id", type=int)
    delete.set_defaults(handler=_delete)


def _open(args: argparse.Namespace, *, reading: bool = False):
    from dit360_desktop.history.errors import LibraryReadOnlyError
    from dit360_desktop.history.library import Library

    try:
        library = Library.open(args.library)
    except LibraryReadOnlyError:
        if not reading:
            raise
        # Listing, showing and exporting change nothing in the library: a read-only one will do.
        library = Library.open(args.library, read_only=True)
    for notice in library.notices:
        sys.stderr.write(f"note: {notice}\n")
    return library


def _run(args: argparse.Namespace, action, *, reading: bool = False) -> int:
    try:
        with _open(args, reading=reading) as library:
            return action(library)
    except (DiT360Error, OSError) as error:
        return report(error)


def _list(args: argparse.Namespace) -> int:
    def action(library) -> int:
        entries = library.search(
            args.search,
            favorites_only=args.favorites,
            order="oldest" if args.oldest else "newest",
            limit=args.limit,
        )
        if args.json:
            json.dump([e.to_json() for e in entries], sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
            return OK
        for entry in entries:
            sys.stdout.write(_line(entry) + "\n")
        total = library.count(args.search, favorites_only=args.favorites)
        sys.stderr.write(f"{len(entries)} of {total} entr{'y' if total == 1 else 'ies'}\n")
        return OK

    return _run(args, action, reading=True)


def _line(entry: Entry) -> str:
    flags = ("*" if entry.favorite else " ") + ("!" if entry.missing else " ")
    when = entry.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
    seed = "-" if entry.seed is None else str(entry.seed)
    prompt = " ".join(entry.prompt.split())
    if len(prompt) > 70:
        prompt = prompt[:69] + "…"
    tags = f"  [{', '.join(entry.tags)}]" if entry.tags else ""
    return f"{entry.id:>6} {flags} {when}  {entry.width}x{entry.height}  seed {seed:<10}  {prompt}{tags}"


def _show(args: argparse.Namespace) -> int:
    def action(library) -> int:
        entry = library.get(args.id)
        if args.json:
            data = entry.to_json()
            data["metadata"] = entry.metadata
            json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
            return OK
        rows = [
            ("id", entry.id),
            ("file", f"{entry.path}{'  (MISSING)' if entry.missing else ''}"),
            ("created", entry.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")),
            ("favourite", "yes" if entry.favorite else "no"),
            ("tags", ", ".join(entry.tags) or "-"),
            ("size", f"{entry.width}x{entry.height}"),
            ("seed", entry.seed),
        ]
        rows += [(f"param.{key}", value) for key, value in sorted(entry.params.items())]
        rows += [
            (f"model.{key}", json.dumps(value, ensure_ascii=False)) for key, value in entry.models.items()
        ]
        rows += [(f"time.{key}", f"{value} s") for key, value in entry.timings.items()]
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            sys.stdout.write(f"{name:<{width}}  {value}\n")
        return OK

    return _run(args, action, reading=True)


def _export(args: argparse.Namespace) -> int:
    from dit360_desktop.history.export import ExportOptions, export_entry

    given = [name for name in PERSPECTIVE_ONLY if getattr(args, name) is not None]
    if given and args.format != "perspective":
        flags = ", ".join(f"--{name}" for name in given)
        sys.stderr.write(f"error: {flags} only apply to --format perspective\n")
        return BAD_INPUT
    if args.face_size is not None and args.format not in ("cubemap", "cubemap-cross"):
        sys.stderr.write("error: --face-size only applies to --format cubemap or cubemap-cross\n")
        return BAD_INPUT
    options = ExportOptions(
        format=args.format,
        quality=args.quality,
        strip_metadata=args.strip_metadata,
        face_size=args.face_size,
        face_format=args.face_format,
        yaw=args.yaw if args.yaw is not None else 0.0,
        pitch=args.pitch if args.pitch is not None else 0.0,
        fov=args.fov if args.fov is not None else 90.0,
        size=args.size if args.size is not None else (1920, 1080),
        highlight_stops=args.highlights,
    )

    def action(library) -> int:
        try:
            options.validate()
            written = export_entry(library.get(args.id), args.out.expanduser(), options)
        except RequestError as error:
            # The export's fields are named as the options that set them (size -> --size).
            raise RequestError(EXPORT_OPTIONS.get(error.field, error.field), error.reason) from error
        for path in written:
            sys.stdout.write(f"{path}\n")
        return OK

    return _run(args, action, reading=True)


def _rescan(args: argparse.Namespace) -> int:
    def action(library) -> int:
        report = library.rescan()
        sys.stdout.write(report.summary() + "\n")
        for path in report.unrecognised:
            sys.stderr.write(f"skipped (no DiT360 parameters): {path}\n")
        return OK

    return _run(args, action)


def _delete(args: argparse.Namespace) -> int:
    def action(library) -> int:
        entry = library.get(args.id)
        library.delete(args.id)
        where = "moved to the trash" if not entry.missing else "removed from the index (its file was missing)"
        sys.stdout.write(f"{entry.path}: {where}\n")
        return OK

    return _run(args, action)
