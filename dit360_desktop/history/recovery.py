"""The recovery folder: where a finished panorama goes when the library (or the chosen file) cannot take it.

A generation can run for minutes; losing its picture to a full or read-only library would waste all of
it. ``history/saving.py`` writes here when neither the library nor ``--output`` could take the picture,
for the CLI, the app and the cluster driver alike. The folder is ``<user data dir>/recovered``
(``dit360_desktop.paths``), with the system's temp folder as a last resort when that drive is full too.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import time
from pathlib import Path

from dit360_desktop import paths
from dit360_desktop.panorama import fileio, imageio
from dit360_desktop.panorama.result import Result

log = logging.getLogger(__name__)

RECOVERY_FOLDER = "recovered"


def recovery_dir() -> Path:
    return paths.data_dir() / RECOVERY_FOLDER


def write_recovery_copy(png: bytes, *, stem: str | None = None) -> Path:
    """Write PNG bytes to the recovery folder (else the temp folder) and return where they went.

    Raises the last ``OSError`` when no place could take the file.
    """
    name = f"{stem or time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.png"
    last_error: OSError | None = None
    for folder in (recovery_dir(), Path(tempfile.gettempdir()) / f"dit360-{RECOVERY_FOLDER}"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = fileio.write_atomic(folder / name, png)
        except OSError as e:
            log.warning("Could not write the recovery copy to %s: %s", folder, e)
            last_error = e
            continue
        log.warning("The panorama was saved to the recovery folder: %s", path)
        return path
    assert last_error is not None
    raise last_error


def write_recovery_result(result: Result) -> Path:
    """The finished panorama, with its parameters and 360° marker, as a recovery copy."""
    seed = result.request.seed
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-s{seed if seed is not None else '-'}"
    return write_recovery_copy(imageio.encode_png(result.image, result.file_metadata()), stem=stem)
