"""Writing a finished panorama so that it is never lost.

The order: ``--output`` (what the user asked for by name), then the library, then ``--save-latent``. A
failure of one does not stop the others. If the picture reached neither the library nor ``--output``, it
goes to the recovery folder (``history.recovery``) and the message says where. Ctrl-C while this runs is
held until the writes are done (they take a fraction of a second), so an interrupt never drops the
picture half-way.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dit360_desktop.cli import exit_codes
from dit360_desktop.panorama.errors import DiT360Error

log = logging.getLogger(__name__)


@dataclass
class SaveReport:
    written: list[Path] = field(default_factory=list)
    failures: list[tuple[str, BaseException]] = field(default_factory=list)
    recovered: Path | None = None
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.failures:
            return exit_codes.exit_code_for(self.failures[0][1])
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


def save_result(result: Any, *, output: Path | None, latent: Path | None, library: Any | None) -> SaveReport:
    """Write every requested copy; ``library`` is an open ``Library`` or None for ``--no-history``."""
    report = SaveReport()
    with interrupts_held() as arrived:
        picture_kept = False
        if output is not None:
            picture_kept |= _attempt(report, "--output", lambda: _save_png(result, output))
        if library is not None:
            picture_kept |= _attempt(report, "library", lambda: library.save(result).path)
        if latent is not None:
            _attempt(report, "--save-latent", lambda: _save_latent(result, latent))
        if not picture_kept:
            _recover(result, report)
        report.interrupted = arrived[0]
    return report


def _attempt(report: SaveReport, what: str, write: Any) -> bool:
    try:
        report.written.append(write())
    except (DiT360Error, OSError) as error:
        log.debug("Saving to %s failed", what, exc_info=True)
        report.failures.append((what, error))
        return False
    return True


def _save_png(result: Any, path: Path) -> Path:
    from dit360_desktop.panorama.imageio import save_png

    return save_png(result.image, path, result.metadata)


def _save_latent(result: Any, path: Path) -> Path:
    from dit360_desktop.core.latents import save_latent

    save_latent(result.latent, path, result.metadata)
    return path


def _recover(result: Any, report: SaveReport) -> None:
    from dit360_desktop.history.recovery import write_recovery_result

    try:
        report.recovered = write_recovery_result(result)
    except OSError as error:
        report.failures.append(("recovery folder", error))


def print_report(report: SaveReport) -> int:
    """Paths on stdout; each failure, and where the picture is, on stderr. Returns the exit code."""
    for path in report.written:
        sys.stdout.write(f"{path}\n")
    for _what, error in report.failures:
        exit_codes.report(error)
    if report.recovered is not None:
        sys.stdout.write(f"{report.recovered}\n")
        sys.stderr.write(f"The panorama was saved to the recovery folder instead: {report.recovered}\n")
    elif report.failures and report.written:
        sys.stderr.write(f"The panorama was saved to {report.written[0]}.\n")
    if report.interrupted:
        sys.stderr.write("\nInterrupted; the panorama was saved first.\n")
    return report.exit_code
