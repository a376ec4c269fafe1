"""The library's messages carry no command-line hint; the CLI adds "--library DIR" where it reports them."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dit360_desktop.cli import main
from dit360_desktop.cli.exit_codes import LIBRARY_HINT
from dit360_desktop.history import library as library_module
from dit360_desktop.history.errors import LibraryReadOnlyError
from dit360_desktop.history.library import Library


@pytest.fixture
def read_only_library(tmp_path: Path) -> Iterator[Path]:
    source = tmp_path / "library"
    Library.open(source).close()
    view = tmp_path / "ro"
    view.mkdir()
    try:
        subprocess.run(["mount", "--bind", str(source), str(view)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("bind mounts need root (and mount) on Linux")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True, capture_output=True)
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=False, capture_output=True)


def _no_cli_words(message: str) -> bool:
    return "--" not in message and "dit360 " not in message and "pass " not in message.lower()


def test_library_messages_name_the_folder_but_no_cli_option(read_only_library: Path) -> None:
    with pytest.raises(LibraryReadOnlyError) as caught:
        Library.open(read_only_library)
    message = str(caught.value)
    assert str(read_only_library) in message and "read-only" in message and _no_cli_words(message)
    translated = library_module._translate(
        sqlite3.OperationalError("attempt to write a readonly database"), "X"
    )
    assert isinstance(translated, LibraryReadOnlyError) and _no_cli_words(str(translated))


def test_the_cli_adds_the_library_option_to_the_message(read_only_library: Path, capsys) -> None:
    assert main(["history", "delete", "1", "--library", str(read_only_library)]) == 2
    err = capsys.readouterr().err
    assert "read-only" in err and err.rstrip().endswith(LIBRARY_HINT.strip())
    assert err.count("--library") == 1
