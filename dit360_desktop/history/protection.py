"""Which pixels of a library entry are the artist's own, from its lineage, for repairs to keep.

An edit's entry keeps its mask beside it (``lineage.py``; white = regenerated): its black pixels are
what the artist chose to keep, and for a placed photo that is the photo's footprint. The nearest such
edit up the lineage (the entry itself first) decides; repairs are skipped on the way up, since their
masks mark what the repair changed, not what the artist made, and their kept region is their parent's.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dit360_desktop.history.entry import Entry
from dit360_desktop.history.errors import EntryNotFoundError
from dit360_desktop.history.files import MASK_SUFFIX
from dit360_desktop.history.library import Library

log = logging.getLogger(__name__)

# A lineage deeper than this is a loop in damaged data, not a real chain of edits.
_MAX_DEPTH = 256


def kept_mask(library: Library, entry: Entry) -> Path | None:
    """The mask (white = regenerated) whose black pixels are the artist's in ``entry``, or None."""
    current: Entry | None = entry
    for _ in range(_MAX_DEPTH):
        if current is None:
            return None
        is_repair = "repair" in (current.metadata or {})
        if not is_repair and current.mask_path is not None and current.mask_path.is_file():
            return current.mask_path
        if current.parent_id is None:
            return None
        try:
            current = library.get(current.parent_id)
        except EntryNotFoundError:
            return None
    log.warning(
        "The lineage of entry %s is deeper than %d entries; nothing is protected", entry.id, _MAX_DEPTH
    )
    return None


def kept_mask_beside(image: Path) -> Path | None:
    """For a file given by path (``dit360 repair IMAGE``): the edit mask the library keeps beside it,
    unless the file is itself a repair. Without the library's index the lineage is not walked further."""
    from dit360_desktop.panorama import imageio
    from dit360_desktop.panorama.errors import DiT360Error

    mask = image.with_name(image.name.rsplit(".", 1)[0] + MASK_SUFFIX)
    if not mask.is_file():
        return None
    try:
        metadata = imageio.read_metadata(image).dit360 or {}
    except (DiT360Error, OSError, ValueError):
        return None
    return None if "repair" in metadata else mask
