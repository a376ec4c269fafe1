"""The first-run sample panorama, computed off the UI thread and cached.

``sample_panorama`` is procedural numpy work that takes around a second at 1024×512 on a small CPU; run on
the UI thread it would freeze the freshly shown window. It runs once as a ``BackgroundOp`` (numpy releases
the GIL in its array loops) and the result is cached as a .npy keyed by the generator's source, so later
starts load it in milliseconds.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from dit360_desktop import paths
from dit360_desktop.panorama import fileio
from dit360_desktop.ui.widgets.background import BackgroundOp

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

SAMPLE_SIZE = (1024, 512)


def _cache_path(width: int, height: int) -> Path:
    import dit360_desktop.ui.viewer.sample_panorama as module

    digest = hashlib.sha1(Path(module.__file__).read_bytes()).hexdigest()[:12]
    return paths.cache_dir() / f"sample-panorama-{width}x{height}-{digest}.npy"


def _load_cached(path: Path, width: int, height: int) -> np.ndarray | None:
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        log.info("Sample panorama cache unusable (%s); recomputing", e)
        return None
    if array.shape != (height, width, 3) or array.dtype != np.uint8:
        return None
    return array


def _store(path: Path, array: np.ndarray) -> None:
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    # The app's one atomic writer: fsynced, no temp file left behind, never over a FIFO or a device.
    fileio.write_atomic(path, buffer.getvalue())


class SampleLoader(QObject):
    ready = Signal(object)  # HxWx3 uint8

    def __init__(self, parent: QObject | None = None, size: tuple[int, int] = SAMPLE_SIZE) -> None:
        super().__init__(parent)
        self.size = size
        self._op: BackgroundOp | None = None

    def start(self) -> None:
        width, height = self.size
        path = _cache_path(width, height)
        cached = _load_cached(path, width, height) if path.is_file() else None
        if cached is not None:
            self.ready.emit(cached)
            return
        self._op = BackgroundOp(self, lambda _ctx: self._compute(path), self.ready.emit).run_in_background()

    def _compute(self, path: Path) -> np.ndarray:
        from dit360_desktop.ui.viewer.sample_panorama import sample_panorama

        array = sample_panorama(*self.size)
        try:
            _store(path, array)
        except OSError as e:
            log.warning("Could not cache the sample panorama in %s: %s", path, e)
        return array

    def wait(self, timeout: float | None = None) -> None:
        if self._op is not None:
            self._op.wait(timeout)
