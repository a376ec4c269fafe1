"""Typed errors. Each carries a message written for the person at the keyboard."""

from __future__ import annotations


class DiT360Error(Exception):
    """Base class; ``str(error)`` is always a plain, actionable sentence."""


class RequestError(DiT360Error, ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class ModelMissingError(DiT360Error):
    """No model was found where one was expected."""


class ModelInvalidError(DiT360Error):
    """A model file or folder exists but is broken, unsafe or of the wrong shape."""


class UnsafeFileError(ModelInvalidError):
    """A pickle-based or otherwise non-safetensors weight file was refused before loading."""


class LoraMismatchError(ModelInvalidError):
    """A LoRA's keys or shapes do not fit the loaded transformer."""


class ImageLoadError(DiT360Error):
    """A user image could not be read safely."""


class GenerationCancelled(DiT360Error):
    def __init__(self, message: str = "Generation cancelled.") -> None:
        super().__init__(message)


class OutOfMemoryError(DiT360Error):
    """The device ran out of memory; the message says what to lower."""
