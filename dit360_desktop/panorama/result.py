"""The finished panorama and everything needed to reproduce it, and the one writer of what its file records.

A ``Result`` holds its request once, in ``Result.request``. Every file written from a result (the library
entry, ``--output``, the recovery copy, the app's "Save as…") gets its JSON from ``file_metadata``, which
serialises that request under ``"request"``: the key readers of the files use (``history/scan.py``, "re-use
parameters", ``dit360 repair``), unchanged since files first carried it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.request import GenerationRequest

log = logging.getLogger(__name__)

REQUEST_KEY = "request"
SEED_KEY = "seed"
# Added where the file is saved: by the library (``history/library.py``), and for a batch job
# (``history/saving.py``; "cluster" says which worker ran it).
CREATED_AT_KEY = "created_at"
LINEAGE_KEY = "lineage"
JOB_ID_KEY = "job_id"
CLUSTER_KEY = "cluster"
# What a file records about itself, never carried from one file's metadata into a result derived from it.
FILE_KEYS = (REQUEST_KEY, SEED_KEY, CREATED_AT_KEY, LINEAGE_KEY, JOB_ID_KEY, CLUSTER_KEY)


@dataclass(frozen=True)
class Result:
    image: Image.Image
    # The request as run: the seed is always the one actually used.
    request: GenerationRequest
    # JSON-serialisable, without the request: "models" (names, paths, sha256 when known), "timings" (seconds
    # per stage), "versions" (app, torch, diffusers, transformers), "warnings", a task's own block
    # ("upscale", "repair", …).
    metadata: dict[str, Any]
    # Final unpacked latent (1, C, H/8, W/8), pads dropped, before VAE un-scaling; on the CPU.
    latent: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if REQUEST_KEY in self.metadata:
            raise ValueError(
                "Result.metadata must not hold a 'request': Result.request is the one copy, and "
                "file_metadata() writes it (use carried_metadata() on metadata read from a file)"
            )

    def file_metadata(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return file_metadata(self.request, self.metadata, extra)


def file_metadata(
    request: GenerationRequest, metadata: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON a panorama file records: the request and its seed first, then the run's metadata, then
    what the place it is saved to adds (``extra``: the library's creation time and lineage, a batch job)."""
    record: dict[str, Any] = {REQUEST_KEY: request.to_dict(), SEED_KEY: request.seed}
    record.update((key, value) for key, value in metadata.items() if key not in (REQUEST_KEY, SEED_KEY))
    if extra:
        record.update(extra)
    return record


def carried_metadata(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """A file's metadata as the start of a result derived from it (an upscale keeps the source's models,
    versions and task blocks): without what only that file records (its request, seed, creation time,
    lineage and batch job), so files written before and after ``Result.request`` became the one copy read
    alike."""
    return {key: value for key, value in (stored or {}).items() if key not in FILE_KEYS}


def stored_request(stored: Mapping[str, Any] | None) -> GenerationRequest | None:
    """The request a file records, as the start of a task run on that file (a repair, an upscale) by the
    app and the CLI alike: its prompt and every setting, no init or mask image of its own, and its seed
    (older files may hold the seed only beside the request). None when the file records no request this
    version can read."""
    recorded = (stored or {}).get(REQUEST_KEY)
    if not isinstance(recorded, dict):
        return None
    seed = recorded.get("seed")
    if seed is None:
        seed = (stored or {}).get(SEED_KEY)
    whole = isinstance(seed, int) and not isinstance(seed, bool)
    try:
        # Not validated here: the task sets the size, and runs validate() on what it makes of it.
        request = GenerationRequest.from_dict(recorded)
        request = request.replace(init_image=None, mask_image=None, seed=seed if whole else None)
    except (RequestError, TypeError, ValueError) as e:
        log.info("The recorded parameters cannot be used (%s); the defaults are", e)
        return None
    return request
