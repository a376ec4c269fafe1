"""Model-manager errors. Each carries its CLI exit code (``cli/exit_codes.py``) and a sentence of advice."""

from __future__ import annotations

from dit360_desktop.panorama.errors import DiT360Error, ModelInvalidError, ModelMissingError


class AuthRequiredError(DiT360Error):
    """A gated or private repository refused us: the licence is not accepted or the token is missing."""

    exit_code = 3

    def __init__(self, message: str, *, repo_id: str, licence_url: str | None = None) -> None:
        super().__init__(message)
        self.repo_id = repo_id
        self.licence_url = licence_url


class NetworkError(DiT360Error):
    """The endpoint could not be reached or kept failing after every retry."""

    exit_code = 5


class RemoteNotFoundError(NetworkError):
    """The endpoint answered, but the repository, revision or file does not exist there."""


class BadResponseError(NetworkError):
    """The endpoint answered 200 with something that is not the file (an HTML page, a wrong size)."""


class DiskFullError(DiT360Error):
    """Not enough free space; the partial file is kept so the download resumes once space is freed."""

    exit_code = 6


class VerificationError(ModelInvalidError):
    """A file's bytes do not match the hub's sha256 or size."""

    exit_code = 4


class DownloadCancelled(DiT360Error):
    """The user cancelled (the partial file is removed) or paused (it is kept)."""

    exit_code = 130

    def __init__(self, message: str = "Download cancelled.", *, paused: bool = False) -> None:
        super().__init__(message)
        self.paused = paused


class ImportRejectedError(ModelMissingError):
    """A folder offered for import holds none of the layouts we accept."""

    exit_code = 2
