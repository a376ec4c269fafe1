"""The Ray actor that runs jobs: one per GPU (or CPU slot), owning one PanoramaEngine for its lifetime.

The engine is created when the actor starts and its weights load with the first job, then stay loaded:
a model loads once per worker, not once per job. Jobs arrive as plain dicts (``wire.job_message``), and
results and failures go back as plain dicts too, so nothing depends on pickling our exception classes;
only the death of the process reaches the driver as a Ray error. The driver sends one job at a time per
actor, and the actor allows one more concurrent call so that ``cancel`` can reach a running job.

This module imports neither torch nor the engine at import time: the driver imports it to name the actor
class, and the engine is imported inside the worker process.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath
from typing import Any

from dit360_desktop.cluster.errors import WorkerRefusedError
from dit360_desktop.cluster.wire import (
    PreviewThrottle,
    WorkerInfo,
    WorkerProgress,
    encode_preview,
    encode_result_png,
)
from dit360_desktop.cluster.worker_models import ModelSource, prepare_model
from dit360_desktop.panorama.errors import (
    DiT360Error,
    GenerationCancelled,
    ImageLoadError,
    ModelInvalidError,
    ModelMissingError,
    OutOfMemoryError,
    RequestError,
)
from dit360_desktop.panorama.events import CancelToken, StageEvent, StepEvent
from dit360_desktop.panorama.fileio import write_atomic

log = logging.getLogger(__name__)

# Failure kinds a worker reports; the driver retries "refused" on another worker and fails the others.
CANCELLED, REFUSED, BAD_REQUEST, MODEL, OUT_OF_MEMORY, FAILED = (
    "cancelled",
    "refused",
    "bad_request",
    "model",
    "out_of_memory",
    "failed",
)


class ProgressInbox:
    """A small actor the workers post progress to (fire and forget) and the driver drains."""

    MAX_ITEMS = 10_000

    def __init__(self) -> None:
        from collections import deque

        self._items: deque[WorkerProgress] = deque(maxlen=self.MAX_ITEMS)

    def put(self, item: WorkerProgress) -> None:
        self._items.append(item)

    def flush(self) -> None:
        """Returns once every earlier ``put`` from the caller has run (Ray keeps one caller's order)."""

    def take(self) -> list[WorkerProgress]:
        items = list(self._items)
        self._items.clear()
        return items


class PanoramaWorker:
    def __init__(self, name: str, source: ModelSource, preview_interval_s: float = 1.0) -> None:
        import ray

        self._problem: str | None = None
        self._engine: Any = None
        self._default_lora: Path | None = None
        self._preview_interval_s = preview_interval_s
        self._lock = threading.Lock()
        self._tokens: dict[str, CancelToken] = {}
        self._cancelled: set[str] = set()
        self._loras = ShippedLoras()
        try:
            prepared = prepare_model(source)
            from dit360_desktop.core.engine import PanoramaEngine

            self._engine = PanoramaEngine(prepared.base, source.engine_options)
            self._default_lora = prepared.default_lora
        except WorkerRefusedError as e:
            self._problem = str(e)
        except (DiT360Error, OSError) as e:
            self._problem = f"its model could not be prepared: {e}"
        if self._problem is not None:
            log.error("Worker %s refuses jobs: %s", name, self._problem)
        self._info = WorkerInfo.here(name, ray.util.get_node_ip_address(), _device_label())

    def ready(self) -> tuple[WorkerInfo, str | None]:
        """Who this worker is, and why it refuses jobs (None when it takes them)."""
        return self._info, self._problem

    def cancel(self, job_id: str) -> bool:
        """Stop ``job_id`` within one step (or before it starts, when it has not yet)."""
        with self._lock:
            token = self._tokens.get(job_id)
            if token is None:
                self._cancelled.add(job_id)
                return False
        token.cancel()
        return True

    def run_job(self, message: dict[str, Any], inbox: Any) -> dict[str, Any]:
        job_id, attempt = message["job_id"], int(message["attempt"])
        if self._problem is not None:
            return _failure(job_id, REFUSED, f"{self._info.label} refuses jobs: {self._problem}")
        token = CancelToken()
        with self._lock:
            if job_id in self._cancelled:
                self._cancelled.discard(job_id)
                return _failure(job_id, CANCELLED, "Cancelled before it started.")
            self._tokens[job_id] = token
        relay = _ProgressRelay(inbox, job_id, attempt, self._info.label, self._preview_interval_s)
        started = time.perf_counter()
        try:
            with local_job_request(message, self._default_lora, self._loras) as request:
                result = self._engine.run(request, on_event=relay, cancel=token)
                png = encode_result_png(result.image)
            metadata = _with_driver_lora_paths(result.metadata, request, message)
            relay.flush()
        except GenerationCancelled as e:
            return _failure(job_id, CANCELLED, str(e))
        except Exception as e:
            log.exception("Job %s failed on %s", job_id, self._info.label)
            return _failure(job_id, _kind(e), str(e) or type(e).__name__)
        finally:
            with self._lock:
                self._tokens.pop(job_id, None)
        return {
            "job_id": job_id,
            "png": png,
            "request": result.request.to_dict(),
            "metadata": metadata,
            "worker": self._info,
            "seconds": time.perf_counter() - started,
        }


class ShippedLoras:
    """The extra LoRAs a worker received, kept for its lifetime in a private temporary folder, one folder
    per content hash. The engine knows a LoRA by its path, so a batch whose jobs share a LoRA loads it once
    instead of once per job (a fresh per-job copy had a new path every time); two different files of one
    name never share a path. The folder goes when the worker's process ends (or ``close``)."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="dit360-loras-")

    def path_for(self, data: bytes, file_name: str) -> Path:
        path = Path(self._folder.name) / hashlib.sha256(data).hexdigest()[:32] / file_name
        if not path.is_file():
            path.parent.mkdir(exist_ok=True)
            write_atomic(path, data)
        return path

    def close(self) -> None:
        self._folder.cleanup()


@contextlib.contextmanager
def local_job_request(
    message: dict[str, Any], default_lora: Path | None, loras: ShippedLoras | None = None
) -> Iterator[Any]:
    """The job's request, with the files sent with it (pictures, extra LoRAs) written to a private
    temporary folder of this worker and its paths pointing there; the folder is removed afterwards. With
    ``loras``, the extra LoRAs go to that worker-lifetime store instead."""
    with tempfile.TemporaryDirectory(prefix="dit360-job-") as folder:
        yield _request_with_local_files(message, Path(folder), default_lora, loras)


def _request_with_local_files(
    message: dict[str, Any], folder: Path, default_lora: Path | None, loras: ShippedLoras | None
):
    from dit360_desktop.cluster.jobs import EXTRA_LORA_PREFIX
    from dit360_desktop.models.selection import NO_LORA
    from dit360_desktop.panorama.request import GenerationRequest

    request = GenerationRequest.from_dict(message["request"])
    changes: dict[str, Any] = {}
    extra_loras = list(request.extra_loras)
    for name, data in message.get("files", {}).items():
        if name.startswith(EXTRA_LORA_PREFIX):
            # An extra LoRA sent with the job (cluster/jobs.py): its path is the driver's.
            index = _extra_lora_index(name, data, extra_loras)
            driver_path, scale = extra_loras[index]
            # Under the driver's file name, in a folder of its own: what the engine records (the name in
            # the metadata, the A1111 <lora:NAME:SCALE> tag) and an error naming the file are the user's.
            file_name = _file_name(driver_path, f"{name}.safetensors")
            if loras is not None:
                path = loras.path_for(data, file_name)
            else:
                path = folder / name / file_name
                path.parent.mkdir()
                path.write_bytes(data)
            extra_loras[index] = (str(path), scale)
            changes["extra_loras"] = tuple(extra_loras)
            continue
        path = folder / f"{name}{Path(str(getattr(request, name) or '')).suffix}"
        path.write_bytes(data)
        changes[name] = str(path)
    # No LoRA given: the one installed with this worker's model, as a local run uses the one installed
    # locally; "none" runs the base model alone.
    if request.lora_path is None:
        changes["lora_path"] = str(default_lora) if default_lora is not None else None
        if default_lora is None:
            log.warning("No DiT360 LoRA is installed on this worker; generating with the base model only.")
    elif request.lora_path.lower() == NO_LORA:
        changes["lora_path"] = None
    return request.replace(**changes)


def _extra_lora_index(name: str, data: Any, extra_loras: list[tuple[str, float]]) -> int:
    # A driver of another version may send what this worker does not expect: a sentence, not an IndexError.
    from dit360_desktop.cluster.jobs import EXTRA_LORA_PREFIX

    number = name.removeprefix(EXTRA_LORA_PREFIX)
    if not number.isdigit() or int(number) >= len(extra_loras):
        raise RequestError(
            "extra_loras",
            f"the job carries a LoRA file ({name}) that its request does not list "
            f"({len(extra_loras)} extra LoRA(s)); are the driver and this worker the same version?",
        )
    index = int(number)
    if not isinstance(data, bytes) or not data:
        raise RequestError(
            "extra_loras", f"{extra_loras[index][0]} arrived at this worker empty; send the job again"
        )
    return index


def _file_name(path: str, fallback: str) -> str:
    # The driver may run another system: PureWindowsPath splits at either kind of slash.
    name = PureWindowsPath(path).name
    return name if name.lower().endswith(".safetensors") and name not in {".", ".."} else fallback


def _with_driver_lora_paths(metadata: dict[str, Any], ran: Any, message: dict[str, Any]) -> dict[str, Any]:
    """The engine's record of the extra LoRAs, with the driver's paths in place of this worker's copies
    (private to this worker), as the driver restores them in the request."""
    from dit360_desktop.panorama.request import GenerationRequest

    models = metadata.get("models")
    entries = models.get("extra_loras") if isinstance(models, dict) else None
    if not entries:
        return metadata
    sent = GenerationRequest.from_dict(message["request"]).extra_loras
    driver = {
        str(Path(local).expanduser()): original
        for (local, _), (original, _) in zip(ran.extra_loras, sent, strict=True)
    }
    restored = [{**entry, "path": driver.get(entry.get("path"), entry.get("path"))} for entry in entries]
    return {**metadata, "models": {**models, "extra_loras": restored}}


class _ProgressRelay:
    def __init__(self, inbox: Any, job_id: str, attempt: int, worker: str, preview_interval_s: float) -> None:
        self._inbox = inbox
        self._job_id, self._attempt, self._worker = job_id, attempt, worker
        self._previews = PreviewThrottle(preview_interval_s)

    def __call__(self, event: Any) -> None:
        if isinstance(event, StageEvent):
            self._post(stage=event.stage.value, message=event.message)
        elif isinstance(event, StepEvent):
            preview = None
            if event.preview is not None and self._previews.allow(time.monotonic()):
                preview = encode_preview(event.preview)
            self._post(
                stage="denoising",
                step=event.step,
                total=event.total,
                elapsed_s=event.elapsed_s,
                eta_s=event.eta_s,
                preview_jpeg=preview,
            )

    def flush(self) -> None:
        # The driver relays progress before results, so the last steps must be in the inbox before the
        # result leaves; one round trip per job.
        import ray

        ray.get(self._inbox.flush.remote())

    def _post(self, **fields: Any) -> None:
        item = WorkerProgress(job_id=self._job_id, attempt=self._attempt, worker=self._worker, **fields)
        # Fire and forget: a slow driver must not slow the denoising loop. Ray runs one caller's calls to
        # an actor in the order they were made, so the steps arrive in order.
        self._inbox.put.remote(item)


def _failure(job_id: str, kind: str, message: str) -> dict[str, Any]:
    return {"job_id": job_id, "error": {"kind": kind, "message": message}}


def _kind(error: BaseException) -> str:
    if isinstance(error, (RequestError, ImageLoadError)):
        return BAD_REQUEST
    if isinstance(error, (ModelMissingError, ModelInvalidError)):
        return MODEL
    if isinstance(error, OutOfMemoryError):
        return OUT_OF_MEMORY
    return FAILED


def _device_label() -> str:
    import os

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"cuda:{visible}" if visible else "cpu"
