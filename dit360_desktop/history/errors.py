"""Typed errors of the history library and its exports."""

from __future__ import annotations

from dit360_desktop.panorama.errors import DiT360Error


class LibraryError(DiT360Error):
    """The library folder or its index cannot be used; the message says what to do."""


class LibraryReadOnlyError(LibraryError):
    """The library folder (or its index file) cannot be written."""

    exit_code = 2


class LibraryDiskFullError(LibraryError):
    """A save ran out of disk space; nothing was recorded and no partial file was left."""

    exit_code = 6


class LibraryVersionError(LibraryError):
    """The index was written by a newer version of the app."""


class EntryNotFoundError(LibraryError):
    """No entry has the requested id."""

    exit_code = 2


class ExportError(DiT360Error):
    """An export could not be written."""


class ExportDiskFullError(ExportError):
    """An export ran out of disk space; no partial file was left under the target name."""

    exit_code = 6


class ExportTargetError(ExportError):
    """The place to export to cannot take the file (a missing or read-only folder, a device, a folder)."""

    exit_code = 2
