"""What crosses the network between the driver and the workers: plain dicts, bytes and small dataclasses.

Requests go out as ``GenerationRequest.to_dict()`` plus the bytes of their image files; results come back
as PNG bytes plus the engine's metadata; progress comes back as ``WorkerProgress`` messages whose
previews are small JPEGs, at most one per ``PREVIEW_INTERVAL_S`` per job. The history database never
leaves the driver.
"""

from __future__ import annotations

import io
import socket
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

# A preview is for a progress thumbnail, not for judging detail: 256 px wide at JPEG quality 80 is a
# few kilobytes, so a hundred workers' previews stay well under a megabyte per second at the driver.
PREVIEW_MAX_WIDTH = 256
PREVIEW_QUALITY = 80
PREVIEW_INTERVAL_S = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """Who ran a job: shown in the queue and stored with the entry."""

    name: str
    host: str
    node_ip: str
    pid: int
    device: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}@{self.host}"

    @classmethod
    def here(cls, name: str, node_ip: str, device: str = "") -> WorkerInfo:
        import os

        return cls(name=name, host=socket.gethostname(), node_ip=node_ip, pid=os.getpid(), device=device)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "node_ip": self.node_ip, "pid": self.pid}


@dataclass(frozen=True)
class WorkerProgress:
    """One progress message from a worker: a stage change, or a denoising step (maybe with a preview)."""

    job_id: str
    attempt: int
    worker: str
    stage: str = ""
    message: str = ""
    step: int = 0
    total: int = 0
    elapsed_s: float = 0.0
    eta_s: float = 0.0
    preview_jpeg: bytes | None = None


def job_message(
    job_id: str, request: dict[str, Any], files: dict[str, bytes], attempt: int
) -> dict[str, Any]:
    return {"job_id": job_id, "request": request, "files": dict(files), "attempt": attempt}


def encode_preview(pixels: np.ndarray) -> bytes:
    """A reduced JPEG of an HxWx3 uint8 preview."""
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    if image.width > PREVIEW_MAX_WIDTH:
        height = max(1, round(image.height * PREVIEW_MAX_WIDTH / image.width))
        image = image.resize((PREVIEW_MAX_WIDTH, height), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=PREVIEW_QUALITY)
    return buffer.getvalue()


def decode_preview(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def encode_result_png(image: Image.Image) -> bytes:
    """Lossless, without metadata: the driver writes the metadata when it saves the entry."""
    buffer = io.BytesIO()
    (image if image.mode == "RGB" else image.convert("RGB")).save(buffer, "PNG")
    return buffer.getvalue()


def decode_result_png(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.convert("RGB")


class PreviewThrottle:
    """Lets a preview through at most once per interval (the first one always)."""

    def __init__(self, interval_s: float = PREVIEW_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        if self._last is not None and now - self._last < self.interval_s:
            return False
        self._last = now
        return True
