"""The regions file of a regional-prompt generation (docs/guides.md): read and checked before any work.

``REGIONS.json`` is a list of ``{"prompt": "...", "mask": "file.png"}`` (at most ``MAX_REGIONS``); mask
paths are relative to the file's folder; a mask is an equirectangular picture, white = the region.
Every refusal is a ``RequestError`` naming the field (``regions``, ``regions[2].prompt``…).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dit360_desktop.panorama.errors import RequestError

MAX_REGIONS = 8
FIELD = "regions"


@dataclass(frozen=True)
class Region:
    prompt: str
    mask: Path


def read_regions(path: str | Path) -> list[Region]:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RequestError(FIELD, f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RequestError(FIELD, f"{path} cannot be read ({error})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(
            FIELD, f"{path.name} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    if not isinstance(data, list):
        raise RequestError(FIELD, f"{path.name} must hold a list of {{prompt, mask}} objects")
    if not data:
        raise RequestError(FIELD, f"{path.name} lists no regions")
    if len(data) > MAX_REGIONS:
        raise RequestError(FIELD, f"at most {MAX_REGIONS} regions (got {len(data)})")
    regions = []
    for index, item in enumerate(data):
        name = f"{FIELD}[{index}]"
        if not isinstance(item, dict):
            raise RequestError(name, "must be an object with a prompt and a mask")
        unknown = set(item) - {"prompt", "mask"}
        if unknown:
            raise RequestError(name, f"unknown keys {', '.join(sorted(unknown))}")
        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise RequestError(f"{name}.prompt", "must not be empty")
        mask = item.get("mask")
        if not isinstance(mask, str) or not mask.strip():
            raise RequestError(f"{name}.mask", "must be the path of a mask picture")
        mask_path = (path.parent / mask).expanduser()
        if not mask_path.is_file():
            raise RequestError(f"{name}.mask", f"{mask_path} does not exist")
        regions.append(Region(prompt=prompt, mask=mask_path))
    return regions
