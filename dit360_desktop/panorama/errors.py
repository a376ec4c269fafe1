"""Typed errors. Each carries a message written for the person at the keyboard.

``exit_code`` is what the command line exits with for the error (``cli/exit_codes.py`` holds the table).
"""

from __future__ import annotations

import errno
from pathlib import Path


class DiT360Error(Exception):
    """Base class; ``str(error)`` is always a plain, actionable sentence."""

    exit_code = 1

    def __reduce__(self):
        # Errors cross process boundaries (a cluster worker's failure reaches the driver pickled). The
        # default calls ``cls(*args)``, which fails or loses fields for the subclasses whose constructor
        # takes fields rather than the sentence; rebuild from the sentence and the fields instead.
        return _rebuild_error, (type(self), self.args, self.__dict__)


def _rebuild_error(cls: type[DiT360Error], args: tuple, state: dict) -> DiT360Error:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class RequestError(DiT360Error, ValueError):
    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class ModelMissingError(DiT360Error):
    """No model was found where one was expected. ``component`` is the model manager's catalog id of the
    missing model where the catalog provides it (the app opens the manager on it); None for FLUX.1-dev and
    the LoRA, or for a file or folder the person named."""

    exit_code = 3

    def __init__(self, message: str, *, component: str | None = None) -> None:
        super().__init__(message)
        self.component = component


class ModelInvalidError(DiT360Error):
    """A model file or folder exists but is broken, unsafe or of the wrong shape."""

    exit_code = 3


class DamagedFileError(ModelInvalidError):
    """A weight file is cut short or its header is broken. ``finding`` says what is wrong; the message adds
    the advice that fits every file. Only a file the model manager installed can also be repaired by
    "Verify & repair": the front ends add that advice when ``path`` is one (they know the models folder)."""

    def __init__(self, path: str | Path, finding: str) -> None:
        super().__init__(f"{finding}. Delete it and download it again.")
        self.path = Path(path)
        self.finding = finding


class UnsafeFileError(ModelInvalidError):
    """A pickle-based or otherwise non-safetensors weight file was refused before loading."""


class LoraMismatchError(ModelInvalidError):
    """A LoRA's keys or shapes do not fit the loaded transformer."""


class ImageLoadError(DiT360Error):
    """A user image could not be read safely."""

    exit_code = 2


class GenerationCancelled(DiT360Error):
    exit_code = 130

    def __init__(self, message: str = "Generation cancelled.") -> None:
        super().__init__(message)


class OutOfMemoryError(DiT360Error):
    """The device ran out of memory; the message says what to lower."""


class UnsupportedBackendError(DiT360Error):
    """An option asks for what this machine cannot run (an attention kernel); the message says what it can."""

    exit_code = 2


class NotARegularFileError(DiT360Error, OSError):
    """A path to write (or weights to read) exists but is a device, FIFO, socket or folder; it was left alone.

    Also an ``OSError``, so code that sorts file-system failures still sees it as one.
    """

    exit_code = 2

    def __init__(self, path: object, kind: str, *, action: str = "written over") -> None:
        message = f"{path} is {kind}, not a regular file, so it was not {action}. Give the path of a file."
        OSError.__init__(self, errno.EEXIST, message, str(path))
        self.path = path
        self.kind = kind
        self.action = action
        self.message = message

    def __str__(self) -> str:
        return self.message


class InsufficientSpaceError(DiT360Error):
    """A drive has less free space than a result will need; checked before the work starts."""

    exit_code = 6
