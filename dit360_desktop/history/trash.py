"""Deleting goes to the OS trash, never straight to unlink: the user can change their mind."""

from __future__ import annotations

from pathlib import Path

from send2trash import send2trash

from dit360_desktop.history.errors import LibraryError


def move_to_trash(path: Path) -> None:
    try:
        send2trash(str(path))
    except OSError as e:
        raise LibraryError(
            f"Could not move {path} to the trash ({e}). Check that the file is not open in another program "
            "and that a trash folder exists for that drive."
        ) from e
