"""One-click repairs of a finished panorama, built on the editing engine's masked ``blend`` edit.

- **Fix seam.** Roll the panorama by W/2 so the 0/360° seam is in the middle, regenerate a vertical band
  around it with a masked edit (the model sees both sides as one picture), roll back. The blend keeps
  every pixel outside the band (mask plus feather) bit for bit, and rolling is exact, so the rest of the
  panorama is unchanged. The band runs from pole to pole, and the edit's feather follows the sphere: in
  the ``feather`` rows next to each pole it also reaches over the pole onto the opposite meridian, the
  panorama's centre columns (``seam_support`` is the exact region).
- **Fix poles.** Render each cap (pitch above ``cap_degrees``) as a gnomonic view looking straight up or
  down, where the pole is an ordinary point in the middle of a perspective picture (FLUX's home ground)
  instead of a stretched top row; regenerate a disc a little larger than the cap with a masked edit;
  sample the edited view back onto the equirect rows of the cap, blended in over ``feather_degrees``
  inside the cap edge. Rows outside the caps are untouched. The view is continuous across yaw, so the
  reprojected cap has no seam.

Each fix is judged by its own score (``panorama/qa.py``): the seam fix is kept only when it lowers the
seam score, and each pole's cap only when it lowers that pole's smear score (and the seam score does not
rise); a fix that does not improve its score is not applied, and the report says so.

Pixels the artist placed are kept: ``protected`` (from the entry's lineage: a placed photo's footprint,
an edit's kept region; ``history/protection.py``) is left out of every regenerated region and copied back
bit for bit, so a repair never repaints them unless the caller passes none.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dit360_desktop.core.tasks.base import Runner
from dit360_desktop.panorama import qa
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.events import CancelToken, EventCallback
from dit360_desktop.panorama.mask import feather_alpha, mask_to_png
from dit360_desktop.panorama.projection import equirect_directions, equirect_to_perspective
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.panorama.task_requests import RepairOptions

log = logging.getLogger(__name__)

VIEW_FOV = 60.0  # degrees: the cap (15° radius) plus as much context again around it
DISC_MARGIN_DEGREES = 3.0  # the regenerated disc reaches this far beyond the cap
SEAM_SLACK = 1e-6


@dataclass
class RepairReport:
    seam_before: float
    seam_after: float
    poles_before: tuple[float, float]
    poles_after: tuple[float, float]
    applied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Pixels kept as the artist's (placed photo, an edit's kept region), 0 when nothing was protected.
    protected_pixels: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "seam_before": round(self.seam_before, 4),
            "seam_after": round(self.seam_after, 4),
            "poles_before": [round(v, 4) for v in self.poles_before],
            "poles_after": [round(v, 4) for v in self.poles_after],
            "applied": self.applied,
            "notes": self.notes,
            "protected_pixels": self.protected_pixels,
        }


def seam_band_mask(width: int, height: int, band: int, feather: int) -> np.ndarray:
    """The mask for the rolled panorama: white columns centred on W/2, ``band − 2·feather`` wide, so that
    with the edit's feather the band touches exactly ``band`` columns."""
    inner = band - 2 * feather
    mask = np.zeros((height, width), np.float32)
    start = width // 2 - inner // 2
    mask[:, start : start + inner] = 1.0
    return mask


def seam_band_columns(width: int, band: int) -> np.ndarray:
    """Boolean (W,) of the band's columns in the panorama's own frame (around column 0 / W−1)."""
    rolled = np.zeros(width, bool)
    start = width // 2 - band // 2
    rolled[start : start + band] = True
    return np.roll(rolled, -(width // 2))


def seam_support(width: int, height: int, options: RepairOptions) -> np.ndarray:
    """Boolean (H, W): every pixel a seam repair may change, in the panorama's own frame (the edit's
    feathered mask, rolled back)."""
    mask = seam_band_mask(width, height, options.band_width(width), options.feather)
    return np.roll(feather_alpha(mask, options.feather) > 0, -(width // 2), axis=1)


def _edit(
    runner: Runner,
    template: GenerationRequest,
    picture: np.ndarray,
    mask: np.ndarray,
    options: RepairOptions,
    work_dir: Path,
    name: str,
    on_event: EventCallback | None,
    cancel: CancelToken | None,
) -> tuple[np.ndarray, Result]:
    picture_path = work_dir / f"{name}.png"
    mask_path = work_dir / f"{name}.mask.png"
    Image.fromarray(picture).save(picture_path)
    mask_to_png(mask).save(mask_path)
    height, width = picture.shape[:2]
    request = template.replace(
        width=width,
        height=height,
        init_image=str(picture_path),
        mask_image=str(mask_path),
        edit_method="blend",
        strength=options.strength,
        feather=options.feather,
        fit="stretch",
    )
    result = runner.run(request, on_event, cancel)
    return np.asarray(result.image.convert("RGB")), result


def fix_seam(
    runner: Runner,
    pixels: np.ndarray,
    template: GenerationRequest,
    options: RepairOptions,
    work_dir: Path,
    *,
    protected: np.ndarray | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, Result]:
    height, width = pixels.shape[:2]
    half = width // 2
    mask = seam_band_mask(width, height, options.band_width(width), options.feather)
    if protected is not None:
        mask[np.roll(protected, half, axis=1)] = 0.0  # the model is not asked to repaint them
    edited, result = _edit(
        runner, template, np.roll(pixels, half, axis=1), mask, options, work_dir, "seam", on_event, cancel
    )
    return keep_protected(np.roll(edited, -half, axis=1), pixels, protected), result


def keep_protected(candidate: np.ndarray, original: np.ndarray, protected: np.ndarray | None) -> np.ndarray:
    """``candidate`` with the protected pixels of ``original`` put back (the edit's feather reaches a few
    pixels past its mask, and a pole view's disc cannot leave them out)."""
    if protected is None:
        return candidate
    out = candidate.copy()
    out[protected] = original[protected]
    return out


def _apply_poles(
    runner: Runner,
    current: np.ndarray,
    template: GenerationRequest,
    options: RepairOptions,
    work_dir: Path,
    protected: np.ndarray | None,
    report: RepairReport,
    changed: np.ndarray,
    *,
    on_event: EventCallback | None,
    cancel: CancelToken | None,
) -> tuple[np.ndarray, Result]:
    """Each pole's repaired cap is kept only when it lowers that pole's smear score, and only while the
    seam score does not rise."""
    height = current.shape[0]
    candidate, result = fix_poles(
        runner, current, template, options, work_dir, on_event=on_event, cancel=cancel
    )
    candidate = keep_protected(candidate, current, protected)
    before = qa.pole_smear_scores(current)
    after = qa.pole_smear_scores(candidate)
    caps = cap_weights(height, options) > 0
    north = np.arange(height) < height // 2
    out = current.copy()
    taken = np.zeros(height, bool)
    for index, (name, rows) in enumerate((("north pole", caps & north), ("south pole", caps & ~north))):
        if after[index] < before[index] - SEAM_SLACK:
            out[rows] = candidate[rows]
            taken |= rows
        else:
            report.notes.append(
                f"The {name} repair did not lower its smear score ({before[index]:.2f} → "
                f"{after[index]:.2f}); it was not applied."
            )
    if taken.any():
        seam_before, seam_after = qa.seam_score(current), qa.seam_score(out)
        if seam_after > seam_before + SEAM_SLACK:
            report.notes.append(
                f"The pole repair would have raised the seam score ({seam_before:.3f} → {seam_after:.3f}); "
                "it was not applied."
            )
            return current, result
        report.applied.extend(
            name for name, rows in (("north pole", caps & north), ("south pole", caps & ~north))
            if (taken & rows).any()
        )  # fmt: skip
        changed[taken] = True
    return out, result


def _camera_basis(pitch_deg: float) -> np.ndarray:
    """Rows: the world directions of a yaw-0 camera's right, up and forward axes (projection.py's
    R_yaw · R_pitch applied to the unit vectors)."""
    p = math.radians(pitch_deg)
    return np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, math.cos(p), -math.sin(p)],
            [0.0, math.sin(p), math.cos(p)],
        ]
    )


def view_pixel_of(
    directions: np.ndarray, pitch_deg: float, fov_deg: float, size: int
) -> tuple[np.ndarray, ...]:
    """Continuous (column, row) in a square pinhole view (``equirect_to_perspective`` conventions) of
    world ``directions``, and whether each lies in front of the camera."""
    camera = directions @ _camera_basis(pitch_deg).T
    tan_half = math.tan(math.radians(fov_deg) / 2.0)
    front = camera[..., 2] > 1e-9
    z = np.where(front, camera[..., 2], 1.0)
    cx = camera[..., 0] / z / tan_half
    cy = camera[..., 1] / z / tan_half
    return (cx + 1.0) * size / 2.0 - 0.5, (1.0 - cy) * size / 2.0 - 0.5, front


def _bilinear(image: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    col = np.clip(col, 0, width - 1)
    row = np.clip(row, 0, height - 1)
    c0 = np.floor(col).astype(int)
    r0 = np.floor(row).astype(int)
    c1 = np.minimum(c0 + 1, width - 1)
    r1 = np.minimum(r0 + 1, height - 1)
    fc = (col - c0)[..., None]
    fr = (row - r0)[..., None]
    src = image.astype(np.float32)
    top = src[r0, c0] * (1 - fc) + src[r0, c1] * fc
    bottom = src[r1, c0] * (1 - fc) + src[r1, c1] * fc
    return top * (1 - fr) + bottom * fr


def pole_view_size(height: int) -> int:
    """A view with the equirect's own pixel density at its centre (H/π pixels per radian), in steps of 16."""
    side = 2.0 * math.tan(math.radians(VIEW_FOV) / 2.0) * height / math.pi
    return max(64, round(side / 16.0) * 16)


def cap_weights(height: int, options: RepairOptions) -> np.ndarray:
    """(H,) blend weight of the repaired cap per row: 0 at and below ``cap_degrees`` (those rows are
    never touched), rising smoothly to 1 over ``feather_degrees``."""
    pitch = np.abs((0.5 - (np.arange(height) + 0.5) / height) * 180.0)
    t = np.clip((pitch - options.cap_degrees) / options.feather_degrees, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def fix_poles(
    runner: Runner,
    pixels: np.ndarray,
    template: GenerationRequest,
    options: RepairOptions,
    work_dir: Path,
    *,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, Result]:
    height, width = pixels.shape[:2]
    size = pole_view_size(height)
    tan_half = math.tan(math.radians(VIEW_FOV) / 2.0)
    centre = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size]
    # Angle from the view's centre of each view pixel, for the disc mask.
    radius = np.hypot(xx - centre, yy - centre) / (size / 2.0) * tan_half
    disc = (np.degrees(np.arctan(radius)) <= 90.0 - options.cap_degrees + DISC_MARGIN_DEGREES).astype(
        np.float32
    )
    weights = cap_weights(height, options)
    # Both views side by side make one 2:1 picture (what the edit takes), so one run repairs both poles;
    # the discs sit in the middle of each half, far from where the halves meet.
    views = [equirect_to_perspective(pixels, 0.0, pitch, VIEW_FOV, size, size) for pitch in (90.0, -90.0)]
    edited, result = _edit(
        runner,
        template,
        np.concatenate(views, axis=1),
        np.concatenate([disc, disc], axis=1),
        options,
        work_dir,
        "poles",
        on_event,
        cancel,
    )
    out = pixels.astype(np.float32)
    directions = equirect_directions(width, height)
    for index, pitch in enumerate((90.0, -90.0)):
        view = edited[:, index * size : (index + 1) * size]
        hemisphere = np.arange(height) < height // 2 if pitch > 0 else np.arange(height) >= height // 2
        touched = np.flatnonzero((weights > 0) & hemisphere)
        col, row, front = view_pixel_of(directions[touched], pitch, VIEW_FOV, size)
        sampled = _bilinear(view, col, row)
        w = (weights[touched][:, None] * front)[..., None]
        out[touched] = out[touched] * (1.0 - w) + sampled * w
    repaired = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    # Rows with weight 0 are copied, not recomputed: bit for bit the input.
    untouched = weights == 0
    repaired[untouched] = pixels[untouched]
    return repaired, result


def repair_panorama(
    runner: Runner,
    source: Path,
    template: GenerationRequest,
    options: RepairOptions,
    work_dir: Path,
    *,
    protected: np.ndarray | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[Result, RepairReport]:
    """Repair ``source`` (a 2:1 panorama); the Result is an edit of ``source`` whose mask (written in
    ``work_dir``) covers everything the repair may have changed, so the library links it to its parent.
    ``protected`` (H, W) bool: pixels that stay exactly as they are."""
    from dit360_desktop.panorama.userimage import load_user_image

    pixels = np.asarray(load_user_image(source))
    height, width = pixels.shape[:2]
    if width % 16 or height % 16:
        raise RequestError("image", f"a repair needs sides that are multiples of 16 (got {width}×{height})")
    options.validate(width)
    if protected is not None and protected.shape != (height, width):
        raise RequestError(
            "protected",
            f"the protected region is {protected.shape[1]}×{protected.shape[0]}, not {width}×{height}",
        )
    keep = protected if protected is not None and protected.any() else None
    report = RepairReport(
        seam_before=qa.seam_score(pixels),
        seam_after=0.0,
        poles_before=qa.pole_smear_scores(pixels),
        poles_after=(0.0, 0.0),
        protected_pixels=int(keep.sum()) if keep is not None else 0,
    )
    current = pixels
    changed = np.zeros((height, width), bool)
    last = None
    if options.seam:
        candidate, last = fix_seam(
            runner, current, template, options, work_dir, protected=keep, on_event=on_event, cancel=cancel
        )
        after = qa.seam_score(candidate)
        if after < report.seam_before - SEAM_SLACK:
            current = candidate
            changed |= seam_support(width, height, options)
            report.applied.append("seam")
        else:
            report.notes.append(
                f"The seam repair did not lower the seam score ({report.seam_before:.3f} → {after:.3f}); "
                "it was not applied."
            )
    if options.poles:
        current, last_poles = _apply_poles(runner, current, template, options, work_dir, keep, report,
                                           changed, on_event=on_event, cancel=cancel)  # fmt: skip
        last = last_poles or last
    if keep is not None:
        changed &= ~keep
    report.seam_after = qa.seam_score(current)
    report.poles_after = qa.pole_smear_scores(current)
    mask_path = work_dir / "repair.mask.png"
    mask_to_png(changed.astype(np.float32)).save(mask_path)
    request = last.request.replace(
        width=width, height=height, init_image=str(source), mask_image=str(mask_path), fit="crop"
    )
    metadata = dict(last.metadata)
    metadata["repair"] = report.to_json()
    return Result(image=Image.fromarray(current), request=request, metadata=metadata), report
