"""The command line's side of saving a finished panorama: ``history.saving.save_result`` (``--output``, then
the library, then ``--save-latent``; the recovery folder when the picture reached neither the library nor
``--output``) with Ctrl-C held while it writes, and the report in words and an exit code.

Ctrl-C while this runs is held until the writes are done (they take a fraction of a second), so an
interrupt never drops the picture half-way.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dit360_desktop.cli import exit_codes

if TYPE_CHECKING:
    from dit360_desktop.history.library import Library
    from dit360_desktop.history.saving import SaveReport
    from dit360_desktop.panorama.result import Result


@dataclass(frozen=True)
class CliSave:
    report: SaveReport
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.report.failures:
            return exit_codes.exit_code_for(self.report.failures[0][1])
        return exit_codes.INTERRUPTED if self.interrupted else exit_codes.OK


@contextlib.contextmanager
def interrupts_held() -> Iterator[list[bool]]:
    """Hold SIGINT for the duration; the yielded list holds True once one arrived."""
    arrived = [False]
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return

    def note(_signum: int, _frame: Any) -> None:
        arrived[0] = True

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield arrived
    finally:
        signal.signal(signal.SIGINT, previous)


def save_from_cli(
    result: Result, *, output: Path | None, latent: Path | None, library: Library | None
) -> CliSave:
    """Write every requested copy; ``library`` is None for ``--no-history``."""
    from dit360_desktop.history.saving import save_result

    extra = [("--save-latent", lambda saved: _save_latent(saved, latent))] if latent is not None else []
    with interrupts_held() as arrived:
        report = save_result(result, library=library, output=output, extra_copies=extra)
    return CliSave(report, interrupted=arrived[0])


def _save_latent(result: Result, path: Path) -> Path:
    from dit360_desktop.core.latents import save_latent

    save_latent(result.latent, path, result.file_metadata())
    return path


def print_report(saved: CliSave) -> int:
    """Paths on stdout; each failure, and where the picture is, on stderr. Returns the exit code."""
    report = saved.report
    for path in report.written:
        sys.stdout.write(f"{path}\n")
    for _what, error in report.failures:
        exit_codes.report(error)
    if report.recovered is not None:
        sys.stdout.write(f"{report.recovered}\n")
        sys.stderr.write(f"The panorama was saved to the recovery folder instead: {report.recovered}\n")
    elif report.failures and report.written:
        sys.stderr.write(f"The panorama was saved to {report.written[0]}.\n")
    if saved.interrupted:
        sys.stderr.write("\nInterrupted; the panorama was saved first.\n")
    return saved.exit_code
