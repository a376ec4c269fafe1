"""The command line's exit codes and error sentences, in one place for every sub-command.

Typed errors carry their code (``exit_code`` on the classes in ``panorama/errors.py``, ``models/errors.py``,
``history/errors.py``); plain ``OSError``s are sorted here by what the person can do about them. A new
sub-command reports any failure with ``return report(error)``.
"""

from __future__ import annotations

import sys
from typing import TextIO

from dit360_desktop.panorama.errors import DamagedFileError, DiT360Error
from dit360_desktop.panorama.fileio import is_bad_target, is_disk_full, target_problem

OK = 0
FAILED = 1
BAD_INPUT = 2
MODEL = 3
VERIFY = 4
NETWORK = 5
DISK_FULL = 6
INTERRUPTED = 130

# The documented table: docs/cli.md prints it (tests/cli/test_exit_codes.py checks), the README copies it.
TABLE: tuple[tuple[int, str], ...] = (
    (OK, "done"),
    (FAILED, "any other failure: out of memory, an unusable library index, an unexpected error"),
    (
        BAD_INPUT,
        "bad option, request or input file; an output, latent or library path that cannot be written; "
        "an attention kernel this machine cannot run; unknown entry id",
    ),
    (
        MODEL,
        "model missing, damaged or unfitting (a LoRA for another base model, a bad config); "
        "for `models`: auth or licence",
    ),
    (VERIFY, "a file does not match its hash or its pack's manifest (`models verify`, `models import PACK`)"),
    (NETWORK, "network: the endpoint could not be reached, or the file is not on it"),
    (DISK_FULL, "disk full (or quota reached); nothing partial is left under the target name"),
    (INTERRUPTED, "interrupted (Ctrl-C) or paused"),
)


def exit_code_for(error: BaseException) -> int:
    """The exit code for ``error``: disk full first, then the error's own code, else by its kind."""
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED
    if is_disk_full(error):
        return DISK_FULL
    code = getattr(error, "exit_code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(error, OSError) and is_bad_target(error):
        return BAD_INPUT
    return FAILED


def message_for(error: BaseException) -> str:
    """One sentence for the person at the keyboard; our typed errors already are one."""
    if isinstance(error, DiT360Error):
        return str(error)
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        reason = (error.strerror or str(error)).rstrip(".")
        if is_disk_full(error):
            return f"{where}the disk is full ({reason}). Free some space and try again."
        if is_bad_target(error):
            return f"{where}{target_problem(error)}."
        return f"{where}{reason}."
    return f"{type(error).__name__}: {error}"


# What to do about an error on the command line; the library's own messages are worded for every front end.
LIBRARY_HINT = " Pass --library DIR to use another folder."


REPAIR_HINT = " Or run `dit360 models verify --repair`: it downloads only the damaged files."


def cli_hint(error: BaseException) -> str:
    from dit360_desktop.history.errors import LibraryReadOnlyError

    if isinstance(error, LibraryReadOnlyError):
        return LIBRARY_HINT
    if isinstance(error, DamagedFileError):
        from dit360_desktop.models.folder_check import is_managed_folder

        # Only a file the model manager installed can be repaired by it (the default models folder:
        # the commands that load a model have no --models-dir).
        try:
            return REPAIR_HINT if is_managed_folder(error.path) else ""
        except (DiT360Error, OSError):  # an unreadable registry: the error itself still gets said
            return ""
    return ""


def report(error: BaseException, *, hint: str = "", stream: TextIO | None = None) -> int:
    """Write ``error: <sentence>`` (and what to do about it here) to stderr and return the exit code."""
    (stream or sys.stderr).write(f"error: {message_for(error)}{hint}{cli_hint(error)}\n")
    return exit_code_for(error)
