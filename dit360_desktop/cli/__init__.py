"""``dit360``: the headless command line, running the same services as the app.

Each sub-command lives in its own module with ``register(subparsers)``; the module's handler returns the
process exit code. Codes: 0 ok, 2 bad request or input file, 3 missing/invalid model (or auth for
``models``), 4 verification failed, 5 network, 6 disk full, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from dit360_desktop import __version__

_COMMAND_MODULES = ("generate", "decode", "history", "models")


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
        return int(args.handler(args))
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted.\n")
        return 130
