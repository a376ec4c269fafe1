"""Saving finished results from the worker thread, and the recovery copy when the library cannot take one.

A generation can run for minutes; a read-only or full library must not cost the picture. When the save
fails (or the library could not even be opened), the PNG with its parameters goes to the recovery folder
(``history.recovery``) right here, off the UI thread, and the finished job says where it went. The window
keeps the picture in the viewer and offers "Save as…" (``ui/generation/unsaved_notice.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


class ResultStore(Protocol):
    def save(self, result: Any) -> Any: ...
    def close(self) -> None: ...


StoreFactory = Callable[[], ResultStore | None]


@dataclass(frozen=True)
class SaveOutcome:
    entry: Any = None
    saved_path: str | None = None
    # Why the library did not take the result, and where its recovery copy is (None if that failed too).
    save_error: str | None = None
    recovery_path: str | None = None


class ResultSaver:
    """Opens the library lazily in the thread that saves (SQLite connections belong to their thread)."""

    def __init__(self, store_factory: StoreFactory | None) -> None:
        self._factory = store_factory
        self._store: ResultStore | None = None
        self._opened = False
        self._open_error: str | None = None

    def save(self, job_id: int, result: Any) -> SaveOutcome:
        """Save ``result`` to the library; on failure write the recovery copy. Never raises."""
        store = self._open()
        if store is None and self._open_error is None:
            return SaveOutcome()  # no library configured (tests, or saving switched off)
        if store is not None:
            try:
                entry = store.save(result)
                return SaveOutcome(entry=entry, saved_path=str(entry.path))
            except Exception as e:
                log.exception("Could not save job %d to the library", job_id)
                error = str(e) or type(e).__name__
        else:
            error = self._open_error
        return SaveOutcome(save_error=error, recovery_path=_recover(job_id, result))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self._store = None
        self._opened = False
        self._open_error = None

    def _open(self) -> ResultStore | None:
        if not self._opened:
            self._opened = True
            if self._factory is not None:
                try:
                    self._store = self._factory()
                except Exception as e:
                    log.exception("The history library could not be opened; results go to recovery")
                    self._open_error = str(e) or type(e).__name__
        return self._store


def _recover(job_id: int, result: Any) -> str | None:
    from dit360_desktop.history.recovery import write_recovery_result

    try:
        return str(write_recovery_result(result))
    except Exception:
        # The picture is still in the viewer, and "Save as…" is offered: nothing more can be done here.
        log.exception("Could not write the recovery copy of job %d", job_id)
        return None
