"""``dit360``: the headless command line, running the same services as the app.

Each sub-command lives in its own module with ``register(subparsers)``; the module's handler returns the
process exit code, and reports a failure with ``exit_codes.report(error)``. The codes and their table are
in ``exit_codes.py`` (docs/cli.md). A failure that no handler turned into a sentence still ends here as
one line and an exit code, never as a traceback (``-v`` logs it in full).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from dit360_desktop import __version__
from dit360_desktop.cli import exit_codes
from dit360_desktop.models.hub_switches import network_switches
from dit360_desktop.panorama.errors import DiT360Error

log = logging.getLogger("dit360_desktop.cli")

# Commands that only read local files: huggingface_hub is told so (see models/hub_switches.py).
_OFFLINE_COMMANDS = frozenset(
    {"generate", "edit", "place", "decode", "history", "depth", "export-3d", "stereo"}
)

_COMMAND_MODULES = (
    "generate",
    "edit",
    "place",
    "decode",
    "history",
    "models",
    "qa",
    "upscale",
    "repair",
    "batch",
    "depth",
    "export3d",
    "stereo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dit360", description="Seamless 360° panoramas with FLUX.1-dev + DiT360."
    )
    parser.add_argument("--version", action="version", version=f"dit360 {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(f"dit360_desktop.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if "--selftest" in arguments:
        from dit360_desktop.selftest import main as selftest_main

        return selftest_main(arguments)
    parser = build_parser()
    args = parser.parse_args(arguments)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        with network_switches(
            endpoint=getattr(args, "endpoint", None), offline=args.command in _OFFLINE_COMMANDS
        ):
            return int(args.handler(args))
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted.\n")
        return exit_codes.INTERRUPTED
    except (DiT360Error, OSError) as error:
        log.debug("Failed", exc_info=True)
        return exit_codes.report(error)
    except Exception as error:
        log.debug("Unexpected failure", exc_info=True)
        sys.stderr.write(
            f"error: unexpected failure ({exit_codes.message_for(error)}). Run with -v for the details, "
            "and please report it.\n"
        )
        return exit_codes.FAILED
