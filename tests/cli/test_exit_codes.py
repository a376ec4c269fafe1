"""The exit-code table in docs/cli.md is the one the code uses, and errors map to it."""

from __future__ import annotations

import errno
from pathlib import Path

from dit360_desktop.cli import exit_codes
from dit360_desktop.history.errors import ExportDiskFullError, LibraryReadOnlyError
from dit360_desktop.models.errors import AuthRequiredError, NetworkError, VerificationError
from dit360_desktop.panorama.errors import (
    ModelInvalidError,
    NotARegularFileError,
    OutOfMemoryError,
    RequestError,
    UnsupportedBackendError,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_docs_table_matches_the_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for code, meaning in exit_codes.TABLE:
        assert f"| {code} | {meaning} |" in text, (code, meaning)


def test_each_kind_of_error_has_its_code() -> None:
    cases = [
        (RequestError("--width", "bad"), 2),
        (UnsupportedBackendError("flash"), 2),
        (NotARegularFileError(Path("/dev/full"), "a device"), 2),
        (LibraryReadOnlyError("read-only"), 2),
        (OSError(errno.EROFS, "Read-only file system", "/x"), 2),
        (ModelInvalidError("bad"), 3),
        (AuthRequiredError("gated", repo_id="r"), 3),
        (VerificationError("hash"), 4),
        (NetworkError("down"), 5),
        (OSError(errno.ENOSPC, "No space left on device"), 6),
        (ExportDiskFullError("full"), 6),
        (OutOfMemoryError("lower the size"), 1),
        (KeyboardInterrupt(), 130),
    ]
    for error, code in cases:
        assert exit_codes.exit_code_for(error) == code, error


def test_a_plain_os_error_becomes_a_sentence_with_the_path() -> None:
    message = exit_codes.message_for(OSError(errno.EROFS, "Read-only file system", "/mnt/out.png"))
    assert message.startswith("/mnt/out.png: cannot be written") and "[Errno" not in message


def test_docs_list_every_subcommand() -> None:
    import argparse

    from dit360_desktop.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Subcommands and the codes each can end with", 1)[1].split("\n## ", 1)[0]
    assert len(commands) >= 10
    for name in commands:
        assert f"| `{name}` |" in section, name
