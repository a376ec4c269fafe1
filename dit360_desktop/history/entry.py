"""What the library hands out: immutable entries and scan reports."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from dit360_desktop.panorama.guide_copies import GUIDE_FIELDS, restore_guide_paths
from dit360_desktop.panorama.request import GenerationRequest

ENTRY_COLUMNS = (
    "id, file, thumbnail, prompt, negative_prompt, params, seed, width, height, models, timings, "
    "created_at, favorite, tags, missing, metadata, parent_id, mask"
)


@dataclass(frozen=True)
class Entry:
    id: int
    path: Path
    thumbnail_path: Path | None
    prompt: str
    negative_prompt: str
    # The generation request as run (GenerationRequest field names; seed resolved).
    params: dict[str, Any] = field(hash=False)
    seed: int | None
    width: int
    height: int
    models: dict[str, Any] = field(hash=False)
    timings: dict[str, Any] = field(hash=False)
    created_at: datetime
    favorite: bool
    tags: tuple[str, ...]
    # True when the index has a row but the image file is gone (moved, deleted outside the app).
    missing: bool
    # The complete JSON chunk stored in the PNG, as text; ``metadata`` decodes it when first asked. A
    # gallery page of entries never needs it, and decoding it was a third of the cost of fetching one.
    metadata_json: str = field(default="{}", repr=False, compare=False)
    # An edit's lineage: the entry it was made from (None once that entry is deleted) and its mask file.
    parent_id: int | None = None
    mask_path: Path | None = None
    # Why a guide picture of ``params`` is not the copy kept beside the image (panorama/guide_copies.py).
    guide_notes: tuple[str, ...] = field(default=(), compare=False)

    @cached_property
    def metadata(self) -> dict[str, Any]:
        """The complete JSON chunk (versions, warnings, ...)."""
        return json.loads(self.metadata_json)

    def request(self) -> GenerationRequest:
        return GenerationRequest.from_dict(self.params)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "thumbnail_path": str(self.thumbnail_path) if self.thumbnail_path else None,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "params": self.params,
            "seed": self.seed,
            "width": self.width,
            "height": self.height,
            "models": self.models,
            "timings": self.timings,
            "created_at": self.created_at.isoformat(),
            "favorite": self.favorite,
            "tags": list(self.tags),
            "missing": self.missing,
            "parent_id": self.parent_id,
            "mask_path": str(self.mask_path) if self.mask_path else None,
        }


def entry_from_row(root: Path, row: sqlite3.Row | tuple) -> Entry:
    (
        entry_id,
        file,
        thumbnail,
        prompt,
        negative,
        params,
        seed,
        width,
        height,
        models,
        timings,
        created_at,
        favorite,
        tags,
        missing,
        metadata,
        parent_id,
        mask,
    ) = row
    # One string join and one Path per file: pathlib's "/" re-parses the root each time.
    path = Path(f"{root}{os.sep}{file}")
    request = json.loads(params)
    notes: list[str] = []
    if any(request.get(name) for name in GUIDE_FIELDS):
        # Guides point at their copies beside the image, wherever the library folder is now.
        request, notes = restore_guide_paths(request, json.loads(metadata or "{}"), path)
    return Entry(
        id=int(entry_id),
        path=path,
        thumbnail_path=Path(f"{root}{os.sep}{thumbnail}") if thumbnail else None,
        prompt=prompt,
        negative_prompt=negative,
        params=request,
        seed=seed,
        width=int(width),
        height=int(height),
        models=json.loads(models),
        timings=json.loads(timings),
        created_at=datetime.fromtimestamp(created_at, tz=timezone.utc),
        favorite=bool(favorite),
        tags=tuple(json.loads(tags)),
        missing=bool(missing),
        metadata_json=metadata,
        parent_id=int(parent_id) if parent_id is not None else None,
        mask_path=Path(f"{root}{os.sep}{mask}") if mask else None,
        guide_notes=tuple(notes),
    )


@dataclass
class RescanReport:
    scanned: int = 0
    adopted: int = 0
    refreshed: int = 0
    flagged_missing: int = 0
    restored: int = 0
    removed_partials: int = 0
    removed_thumbnails: int = 0
    made_thumbnails: int = 0
    unrecognised: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.scanned} image(s) in the folder"]
        if self.adopted:
            parts.append(f"{self.adopted} added to the index")
        if self.refreshed:
            parts.append(f"{self.refreshed} re-read")
        if self.flagged_missing:
            noun = "entry" if self.flagged_missing == 1 else "entries"
            parts.append(f"{self.flagged_missing} {noun} with a missing file")
        if self.restored:
            parts.append(f"{self.restored} missing file(s) found again")
        if self.unrecognised:
            parts.append(f"{len(self.unrecognised)} PNG(s) without DiT360 parameters skipped")
        if self.removed_partials:
            parts.append(f"{self.removed_partials} unfinished temp file(s) removed")
        if self.removed_thumbnails:
            parts.append(f"{self.removed_thumbnails} stale thumbnail(s) removed")
        if self.made_thumbnails:
            parts.append(f"{self.made_thumbnails} missing thumbnail(s) made")
        return "; ".join(parts) + "."
