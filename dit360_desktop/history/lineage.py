"""Edit lineage: an edit's entry records the entry it was made from and keeps its mask beside the image.

The parent is found from the edit's own request: an edit of a library image has that image as its
``init_image``, so no extra plumbing is needed between the app, the worker and the library. The mask is
copied into the library (the request's mask is usually a temporary file) as ``<image>.mask.png``, an
8-bit greyscale PNG, white = regenerate, and the stored request points at that copy, so "re-use" gets
the mask back.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

from dit360_desktop.history.files import MASK_SUFFIX
from dit360_desktop.panorama.errors import ImageLoadError
from dit360_desktop.panorama.request import GenerationRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lineage:
    parent_file: str | None  # the parent image's path relative to the library root (posix)
    mask_png: bytes | None  # the mask to store beside the edit, re-encoded


def mask_relpath(image_relpath: str) -> str:
    return image_relpath.rsplit(".", 1)[0] + MASK_SUFFIX


# Results derived from a library image without editing it (a depth map, a stereo pair) name their source
# in their metadata as {key: {"source": path}}; they are linked to it like an edit, without a mask.
DERIVED_KEYS = ("depth", "stereo")


def lineage_of(request: GenerationRequest, root: Path, metadata: dict | None = None) -> Lineage | None:
    """What to record for ``request`` (and its result's ``metadata``); None when it is not an edit."""
    if not request.is_edit:
        for key in DERIVED_KEYS:
            source = ((metadata or {}).get(key) or {}).get("source")
            if isinstance(source, str):
                return Lineage(_library_relpath(source, root), None)
        return None
    return Lineage(_library_relpath(request.init_image, root), _mask_png(Path(request.mask_image)))


def _library_relpath(path: str | None, root: Path) -> str | None:
    if not path:
        return None
    try:
        relative = Path(path).resolve().relative_to(root.resolve())
    except (OSError, ValueError):
        return None  # an image from elsewhere (a drop, a placed photo): no parent entry
    return relative.as_posix()


def _mask_png(path: Path) -> bytes | None:
    """The mask as the edit read it (``panorama.mask.read_mask``: alpha, colour and noise alike)."""
    from PIL import Image

    from dit360_desktop.panorama.mask import read_mask

    try:
        values = read_mask(path)
    except ImageLoadError as e:
        # The edit already ran with this mask, so this is rare (deleted temp file); keep the result anyway.
        log.warning("The edit's mask %s could not be stored beside it: %s", path, e)
        return None
    buffer = io.BytesIO()
    Image.fromarray(values, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()
