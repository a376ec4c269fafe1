"""Typed errors of the cluster runner; each message says what to do."""

from __future__ import annotations

import sys

from dit360_desktop.panorama.errors import DiT360Error, ModelInvalidError


def extra_hint(frozen: bool | None = None) -> str:
    """How to get Ray: pip for a Python install; the double-click app leaves it out (docs/packaging.md)."""
    if frozen if frozen is not None else getattr(sys, "frozen", False):
        return (
            "The double-click app does not include Ray (about 240 MB, needed only to drive a cluster). "
            "Send the queue from a Python install of DiT360 Desktop instead: "
            'pip install "dit360-desktop[cluster]".'
        )
    return 'Install the cluster extra: pip install "dit360-desktop[cluster]" (it brings Ray).'


EXTRA_HINT = extra_hint()


class BatchFileError(DiT360Error):
    """A jobs file line is not a valid request; the message names the file and the line."""

    exit_code = 2


class ClusterUnavailableError(DiT360Error):
    """Ray is not installed in this environment."""

    exit_code = 2

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"Running on a cluster needs Ray, which is not installed{detail}. {EXTRA_HINT}")


class ClusterConnectionError(DiT360Error):
    """The cluster address could not be reached (or is not a Ray address)."""

    exit_code = 5


class ClusterLostError(DiT360Error):
    """The connection to the cluster broke while jobs were still running."""

    exit_code = 5


class NoUsableWorkerError(DiT360Error):
    """Every worker refused jobs (for example its model files failed verification)."""

    exit_code = 3


class WorkerRefusedError(ModelInvalidError):
    """A worker whose model files are missing or failed verification; it takes no jobs."""
