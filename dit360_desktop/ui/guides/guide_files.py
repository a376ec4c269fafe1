"""The pictures and files the Guides panel makes, without Qt: sketches, computed control images, regions.

Everything is written into the app's data folder (``<data>/guides/``), named by content so a history
entry's request keeps pointing at a file that exists, and written atomically (``panorama.fileio``): a full
disk or a bad folder leaves nothing half written. A regions set (its JSON and every mask) is one atomic
set, then read back with the core's own reader (``panorama.regions.read_regions``), so what the panel
writes is exactly what a run accepts.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dit360_desktop.panorama.fileio import write_atomic, write_atomic_set
from dit360_desktop.panorama.regions import MAX_REGIONS, read_regions

# As the engine does for control images and region masks (core/guides): further than this from the
# panorama's aspect a picture is refused, nearer it is fitted with a notice.
MAX_ASPECT_MISMATCH = 4.0
# Same tolerance as the engine's "stretched" note.
ASPECT_TOLERANCE = 0.01
# Columns wrapped around each side before edge detection, as `dit360 generate --control-from canny`:
# wider than Canny's 5×5 smoothing and Sobel, so an edge crossing the seam is found on both sides.
# Guides are tinted over a copy of the panorama at most this wide (every n-th pixel): an 8K copy would
# take seconds of numpy and a texture upload of 100 MB on the UI thread for a preview.
OVERLAY_MAX_WIDTH = 4096


class GuideError(ValueError):
    """A guide picture or region set the panel cannot use; the message is a sentence for the user."""


def guides_dir() -> Path:
    from dit360_desktop.paths import data_dir

    return data_dir() / "guides"


def png_bytes(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_control_png(pixels: np.ndarray, kind: str, folder: Path | None = None) -> Path:
    """Write a control picture (H, W) or (H, W, 3) uint8 as ``<kind>-<digest>.png``; returns its path."""
    data = png_bytes(pixels)
    folder = folder or guides_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomic(folder / f"{kind}-{hashlib.sha256(data).hexdigest()[:16]}.png", data)


# Sketches ---------------------------------------------------------------------------------------------


def compose_sketch(layers: dict[int, np.ndarray], rows: slice | None = None) -> np.ndarray:
    """The sketch as grey levels: each shade's coverage (0..255) scaled to its level, the brightest kept."""
    rows = rows or slice(None)
    out: np.ndarray | None = None
    for level, coverage in layers.items():
        part = coverage[rows].astype(np.uint16) * level // 255
        out = part if out is None else np.maximum(out, part)
    if out is None:
        raise ValueError("a sketch needs at least one shade")
    return out.astype(np.uint8)


# Fitting pictures to the panorama ---------------------------------------------------------------------


@dataclass(frozen=True)
class FittedPicture:
    pixels: np.ndarray  # (height, width, 3) uint8
    note: str | None  # why and how it was fitted, or None when it already had the panorama's aspect


def overlay_step(width: int) -> int:
    """Every how many pixels the overlay samples a panorama ``width`` wide."""
    return max(1, -(-width // OVERLAY_MAX_WIDTH))


def fit_guide_picture(
    path: str | Path, width: int, height: int, fit: str, what: str, *, step: int = 1
) -> FittedPicture:
    """A control image or region mask at the panorama's size (divided by ``step``), as the engine fits it:
    ``fit`` (crop, pad or stretch, the form's choice for control images; regions are always stretched),
    with a note; refused with a sentence when it is more than 4× off the panorama's aspect or cannot be
    read."""
    from dit360_desktop.panorama.errors import ImageLoadError
    from dit360_desktop.panorama.userimage import fit_image, load_user_image

    path = Path(path)
    try:
        picture = load_user_image(path)
    except ImageLoadError as e:
        raise GuideError(f"The {what} {path.name} cannot be read: {e}") from e
    source_w, source_h = picture.size
    ratio = (source_w / source_h) / (width / height)
    if max(ratio, 1 / ratio) > MAX_ASPECT_MISMATCH:
        raise GuideError(
            f"The {what} {path.name} is {source_w}×{source_h}, too far from the panorama's {width}×{height} "
            "to be fitted; use an equirectangular (2:1) picture."
        )
    note = None
    if abs(ratio - 1.0) > ASPECT_TOLERANCE:
        note = f"The {what} {path.name} is {source_w}×{source_h}, not 2:1: it is fitted by {fit}."
    target = (-(-width // step), -(-height // step))
    if picture.size != target:
        picture = fit_image(picture, *target, fit)
    return FittedPicture(np.asarray(picture, dtype=np.uint8), note)


# Computed control images -----------------------------------------------------------------------------


def canny_control(pixels: np.ndarray) -> np.ndarray:
    """The panorama's seam-aware Canny edges (``panorama/edges.py``, as ``--control-from canny``);
    GuideError with the sentence when OpenCV is absent."""
    from dit360_desktop.panorama.edges import canny_edges
    from dit360_desktop.panorama.features import FeatureUnavailableError

    try:
        return canny_edges(pixels)
    except FeatureUnavailableError as error:
        raise GuideError(str(error)) from error


# Regions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionDraft:
    prompt: str
    mask: np.ndarray  # (H, W) uint8, white = the region


def check_regions(drafts: Sequence[RegionDraft]) -> None:
    """Refuse what ``read_regions`` or the engine would refuse, in the panel's words."""
    if not drafts:
        raise GuideError("Add a region first: each region is a prompt and a mask painted on the sphere.")
    if len(drafts) > MAX_REGIONS:
        raise GuideError(f"At most {MAX_REGIONS} regions can steer a generation (there are {len(drafts)}).")
    for number, draft in enumerate(drafts, start=1):
        if not draft.prompt.strip():
            raise GuideError(f"Region {number} has no prompt: say what belongs in it.")
        if not draft.mask.any():
            raise GuideError(f"Region {number} has no mask: paint where it is on the sphere.")


def write_regions(drafts: Sequence[RegionDraft], folder: Path | None = None) -> Path:
    """Write ``regions.json`` and one mask PNG per region into a folder named by their content, all or
    nothing, and check the result with the engine's reader; returns the JSON's path."""
    check_regions(drafts)
    masks = [png_bytes(draft.mask) for draft in drafts]
    entries = [{"prompt": d.prompt.strip(), "mask": f"region-{i + 1}.png"} for i, d in enumerate(drafts)]
    document = json.dumps(entries, indent=2, ensure_ascii=False).encode("utf-8")
    digest = hashlib.sha256(document + b"".join(masks)).hexdigest()[:16]
    target = (folder or guides_dir()) / f"regions-{digest}"
    target.mkdir(parents=True, exist_ok=True)
    files: dict[Path, bytes] = {target / e["mask"]: data for e, data in zip(entries, masks, strict=True)}
    files[target / "regions.json"] = document
    write_atomic_set(files)
    path = target / "regions.json"
    read_regions(path)  # the engine's own check: what it refuses is refused here too
    return path


def read_region_drafts(
    path: str | Path, width: int, height: int, *, step: int = 1
) -> tuple[list[RegionDraft], list[str]]:
    """A regions file back as drafts at the panorama's size (masks stretched, as the engine does), and
    the notes about masks that were fitted; GuideError (naming the field) for what the engine refuses."""
    from dit360_desktop.panorama.errors import RequestError

    try:
        regions = read_regions(path)
    except RequestError as e:
        raise GuideError(str(e)) from e
    drafts, notes = [], []
    for number, region in enumerate(regions, start=1):
        fitted = fit_guide_picture(
            region.mask, width, height, "stretch", f"mask of region {number}", step=step
        )
        drafts.append(RegionDraft(region.prompt, luminance(fitted.pixels)))
        if fitted.note:
            notes.append(fitted.note)
    return drafts, notes


def tint_overlay(
    panorama: np.ndarray,
    layers: Sequence[tuple[np.ndarray, tuple[int, int, int]]],
    strength: float = 0.6,
) -> np.ndarray:
    """``panorama`` (H, W, 3) uint8 with each (coverage (H, W) 0..255, colour) mixed over it in turn."""
    out = panorama[..., :3].astype(np.float32)
    for coverage, colour in layers:
        if coverage.shape != out.shape[:2]:
            raise ValueError(f"an overlay of {coverage.shape} does not fit a panorama of {out.shape[:2]}")
        weight = coverage.astype(np.float32)[..., None] * (strength / 255.0)
        out = out * (1.0 - weight) + np.asarray(colour, np.float32) * weight
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def luminance(pixels: np.ndarray) -> np.ndarray:
    """(H, W) uint8 luminance of (H, W, 3) or (H, W) pixels."""
    if pixels.ndim == 2:
        return pixels.astype(np.uint8)
    grey = pixels[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)
