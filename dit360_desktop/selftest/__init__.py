"""``--selftest``: prove that an installed (frozen or source) app works, without a model download.

Runs each check in ``checks`` in order, writes a JSON report and exits 0 only if every check passed. A
failing check is named on stderr and in the report. Used by ``dit360 --selftest``, ``dit360-desktop
--selftest`` and the frozen bundles (``packaging/entry.py``), headless under Xvfb or ``offscreen``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from dit360_desktop import __version__

EXIT_OK = 0
EXIT_FAILED = 4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dit360 --selftest",
        description="Check that this install imports its stack, opens a window and generates a panorama.",
    )
    parser.add_argument("--selftest", action="store_true", help="run the self-test (this mode)")
    parser.add_argument(
        "--selftest-report", type=Path, default=None, help="write the JSON report here (default: a temp file)"
    )
    parser.add_argument(
        "--require-gl",
        action="store_true",
        help="fail when no OpenGL context can be made (default: required only for the GUI on a real display)",
    )
    parser.add_argument(
        "--resources-dir",
        type=Path,
        default=None,
        help="check this resources folder instead of the bundled one (to test a modified tree)",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="generate with this diffusers model folder instead of a freshly built tiny random-weight one",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    parser.add_argument(
        "--skip", action="append", default=[], metavar="CHECK", help="skip a check by name (repeatable)"
    )
    return parser


def main(argv: list[str] | None = None, *, gui: bool = False) -> int:
    """Run the self-test; ``gui`` selects the GUI binary's rules (a real display must provide OpenGL)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    # Nothing in a self-test may reach the network; the tiny model is built locally.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Library progress bars and advisories would bury the check lines; failures are still reported.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    from dit360_desktop.selftest.checks import CHECKS, CheckContext, run_check
    from dit360_desktop.selftest.features import FEATURE_CHECKS

    context = CheckContext(
        gui=gui,
        require_gl=args.require_gl,
        resources_dir=args.resources_dir,
        model_dir=args.model_dir,
        device=args.device,
    )
    started = time.perf_counter()
    results = []
    for name, check in (*CHECKS, *FEATURE_CHECKS):
        if name in args.skip:
            continue
        result = run_check(name, check, context)
        results.append(result)
        _say(f"{'PASS' if result.ok else 'FAIL'} {name} ({result.seconds:.1f} s): {result.detail}\n")

    failed = [result.name for result in results if not result.ok]
    report = {
        "ok": not failed,
        "failed": failed,
        "version": __version__,
        "mode": "gui" if gui else "cli",
        "frozen": bool(getattr(sys, "frozen", False)),
        "executable": sys.executable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "seconds": round(time.perf_counter() - started, 3),
        "checks": [result.to_dict() for result in results],
    }
    report_path = _write_report(report, args.selftest_report)
    if failed:
        _say(f"selftest FAILED: {', '.join(failed)} (report: {report_path})\n", error=True)
        return EXIT_FAILED
    _say(f"selftest passed (report: {report_path})\n")
    return EXIT_OK


def _write_report(report: dict, path: Path | None) -> Path:
    if path is None:
        handle, name = tempfile.mkstemp(prefix="dit360-selftest-", suffix=".json")
        os.close(handle)
        path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return path


def _say(text: str, *, error: bool = False) -> None:
    # A windowed Windows executable has no console: sys.stdout is None there and the report is the output.
    stream = sys.stderr if error else sys.stdout
    if stream is not None:
        stream.write(text)
        stream.flush()
