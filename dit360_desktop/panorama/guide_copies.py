"""The guide pictures of a result, kept beside it (docs/guides.md): the control image, the reference
image, and the regions file with its masks.

A request names its guides by the paths they had when it ran (a temporary ``--control-from`` picture, a
file in Downloads). Saving copies them into ``<result name>.guides/`` beside the result's PNG and records
their names in the file's metadata under ``"guides"``, relative to that folder. The regions file is
rewritten so that its masks name their copies beside it.

Restoring ("Re-use parameters", a dropped PNG, a library entry) points the request's guide fields at the
copies of the PNG being read, so a moved library or a copied PNG with its folder keeps its guides. A copy
that is gone gives a sentence, and the request falls back to the original path if that still exists, or
goes without that guide.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dit360_desktop.panorama import fileio
from dit360_desktop.panorama.regions import read_regions
from dit360_desktop.panorama.request import GenerationRequest

log = logging.getLogger(__name__)

GUIDES_KEY = "guides"
GUIDES_SUFFIX = ".guides"
REGIONS_NAME = "regions.json"
# The request fields a guide copy replaces, with what to clear when neither the copy nor the original
# is there (a control image without its Control LoRA is refused by the request).
GUIDE_FIELDS = {
    "control_image": ("control_image", "control_lora"),
    "reference_image": ("reference_image",),
    "regions_file": ("regions_file",),
}
LABELS = {
    "control_image": "control image",
    "reference_image": "reference image",
    "regions_file": "regions file",
}


def guides_folder(png: Path) -> Path:
    """``<folder>/<name>.guides`` for ``<folder>/<name>.png``."""
    return png.with_name(png.stem + GUIDES_SUFFIX)


def _suffix(path: Path) -> str:
    return path.suffix.lower() or ".png"


def guide_record(request: GenerationRequest) -> dict[str, Any]:
    """What the metadata records of the request's guides: each copy's name in the guides folder
    (``{}`` when the request has none)."""
    record: dict[str, Any] = {}
    if request.control_image is not None:
        record["control_image"] = "control" + _suffix(Path(request.control_image))
    if request.reference_image is not None:
        record["reference_image"] = "reference" + _suffix(Path(request.reference_image))
    if request.regions_file is not None:
        record["regions_file"] = REGIONS_NAME
    return record


def write_guide_copies(request: GenerationRequest, png: Path) -> list[Path]:
    """Copy the request's guides into ``png``'s guides folder (names from ``guide_record``); returns the
    files written. Raises ``OSError`` (a source gone, a full disk) and ``RequestError`` (a regions file
    that no longer reads)."""
    record = guide_record(request)
    if not record:
        return []
    folder = guides_folder(png)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for field in ("control_image", "reference_image"):
        if field in record:
            source = Path(getattr(request, field)).expanduser()
            written.append(fileio.write_atomic(folder / record[field], source.read_bytes()))
    if "regions_file" in record:
        written += _copy_regions(Path(request.regions_file), folder)
    return written


def _copy_regions(source: Path, folder: Path) -> list[Path]:
    regions = read_regions(source)
    written, listed = [], []
    for index, region in enumerate(regions):
        name = f"region-{index + 1}{_suffix(region.mask)}"
        written.append(fileio.write_atomic(folder / name, region.mask.read_bytes()))
        listed.append({"prompt": region.prompt, "mask": name})
    text = json.dumps(listed, indent=2, ensure_ascii=False) + "\n"
    written.append(fileio.write_atomic(folder / REGIONS_NAME, text.encode("utf-8")))
    return written


def restore_guide_paths(
    fields: Mapping[str, Any], metadata: Mapping[str, Any] | None, png: Path
) -> tuple[dict[str, Any], list[str]]:
    """The request fields a file records, with its guides pointing at their copies beside ``png``; and a
    sentence for each copy that is missing."""
    restored = dict(fields)
    record = (metadata or {}).get(GUIDES_KEY)
    notes: list[str] = []
    if not isinstance(record, Mapping):
        return restored, notes
    folder = guides_folder(png)
    for field, cleared in GUIDE_FIELDS.items():
        name = record.get(field)
        if not isinstance(name, str) or not name or Path(name).name != name:
            continue
        copy = folder / name
        if copy.is_file():
            restored[field] = str(copy)
            continue
        original = restored.get(field)
        label = LABELS[field]
        if isinstance(original, str) and Path(original).expanduser().is_file():
            notes.append(
                f"The {label} saved with {png.name} ({copy}) is missing; the original file {original} is "
                "used."
            )
            continue
        notes.append(
            f"The {label} saved with {png.name} ({copy}) is missing, and so is the original; the "
            f"parameters are restored without it."
        )
        for key in cleared:
            restored[key] = None
    for note in notes:
        log.warning("%s", note)
    return restored, notes
