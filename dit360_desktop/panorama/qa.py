"""Seam and pole quality checks of an equirectangular panorama (numpy only, no Qt, no torch).

Two numbers, each about 1 for a good panorama and larger the worse it is:

- **Seam score** (the project's one definition; ``projection.discontinuity_score`` is this function):
  the mean absolute step across the 0/360° seam (column W−1 → column 0) divided by the mean absolute step
  between neighbouring interior columns next to it, over the k columns on either side of the seam
  (k = max(4, W/128)), averaged over rows and channels. A small epsilon makes a flat image score exactly 1.
  The per-row version of the same ratio (``seam_row_steps``) is the heat strip the viewer draws; its mean
  is the seam score.
- **Pole smear score**, per cap (pitch above +75° and below −75°): the mean gradient energy of the band
  just below the cap (60°–75°) divided by the cap's own. Equirect rows near a pole are stretched by
  1/cos(pitch), so horizontal steps are taken one *angular* pixel apart (a stride of round(1/cos pitch)
  columns) and a panorama with the same detail everywhere on the sphere scores about 1. Generators that
  smear the poles leave the caps with little detail, which scores well above 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "POLE_CAP_DEGREES",
    "POLE_POOR",
    "SEAM_FAINT",
    "SEAM_POOR",
    "QualityReport",
    "assess",
    "heat_strip_colours",
    "pole_smear_scores",
    "seam_row_steps",
    "seam_score",
]

POLE_CAP_DEGREES = 75.0
# The reference band below each cap is as tall as the cap (15°).
_BAND_DEGREES = 15.0
_EPSILON = 1e-6

# A score of 1.2 is invisible in the viewer; from about 1.5 a line shows on smooth skies; above 2 it is
# obvious. These thresholds only choose the words of the verdict.
SEAM_FAINT = 1.5
SEAM_POOR = 2.0
POLE_POOR = 3.0


def _unit_float(img: np.ndarray) -> np.ndarray:
    array = np.asarray(img)
    if array.ndim not in (2, 3) or array.shape[0] < 1:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {array.shape}")
    if array.ndim == 2:
        array = array[:, :, None]
    values = array.astype(np.float64)
    if np.issubdtype(array.dtype, np.integer):
        values /= float(np.iinfo(array.dtype).max)
    return values


def _seam_parts(img: np.ndarray, strip_half_width: int | None) -> tuple[np.ndarray, float]:
    """Per-row step across the seam (H,) and the mean interior step next to it."""
    src = _unit_float(img)
    width = src.shape[1]
    if width < 4:
        raise ValueError(f"the panorama is too small: it must be at least 4 pixels wide (got {width})")
    k = strip_half_width if strip_half_width is not None else max(4, width // 128)
    k = max(2, min(k, width // 2))
    # Columns W−k … W−1 then 0 … k−1: the seam sits between strip columns k−1 and k.
    strip = np.concatenate([src[:, width - k :], src[:, :k]], axis=1)
    steps = np.abs(np.diff(strip, axis=1))
    across_rows = steps[:, k - 1].mean(axis=-1)
    inside = np.delete(steps, k - 1, axis=1)
    inside_mean = float(inside.mean()) if inside.size else 0.0
    return across_rows, inside_mean


def seam_score(img: np.ndarray, *, strip_half_width: int | None = None) -> float:
    """The seam score (module docstring): about 1 is seamless; a hard seam in smooth content, 10 to 100s."""
    across_rows, inside_mean = _seam_parts(img, strip_half_width)
    return float((across_rows.mean() + _EPSILON) / (inside_mean + _EPSILON))


def seam_row_steps(img: np.ndarray, *, strip_half_width: int | None = None) -> np.ndarray:
    """The seam score of each row on its own scale: row step / the strip's mean interior step, shape (H,).

    Its mean equals ``seam_score``; the viewer draws it as the heat strip beside the seam.
    """
    across_rows, inside_mean = _seam_parts(img, strip_half_width)
    return (across_rows + _EPSILON) / (inside_mean + _EPSILON)


def _row_pitch(height: int) -> np.ndarray:
    return (0.5 - (np.arange(height) + 0.5) / height) * 180.0


def _gradient_energy(src: np.ndarray, rows: np.ndarray, pitch: np.ndarray) -> float:
    """Mean of (angular horizontal step)² + (vertical step)² over ``rows``, channels averaged."""
    width = src.shape[1]
    inside = set(rows.tolist())
    total = 0.0
    for row in rows:
        stride = int(min(width // 2, max(1, round(1.0 / max(math.cos(math.radians(pitch[row])), 1e-9)))))
        line = src[row]
        horizontal = np.roll(line, -stride, axis=0) - line
        # Rows are one angular pixel apart everywhere. Steps stay inside the region, so the edge between
        # a smeared cap and a sharp band counts for neither.
        other = row + 1 if row + 1 in inside else row - 1
        vertical = src[other] - line
        total += float((horizontal**2).mean() + (vertical**2).mean())
    return total / len(rows)


def pole_smear_scores(img: np.ndarray, *, cap_degrees: float = POLE_CAP_DEGREES) -> tuple[float, float]:
    """(north, south): the band's gradient energy / the cap's; about 1 is fine, higher is smeared."""
    src = _unit_float(img)
    height = src.shape[0]
    if height < 8:
        raise ValueError(
            f"the panorama is too small to judge its poles: it needs 8 rows or more (got {height})"
        )
    pitch = _row_pitch(height)
    band_low = cap_degrees - _BAND_DEGREES
    scores = []
    for sign in (1.0, -1.0):
        signed = pitch * sign
        cap = np.flatnonzero(signed > cap_degrees)
        band = np.flatnonzero((signed > band_low) & (signed <= cap_degrees))
        if cap.size == 0 or band.size == 0:
            raise ValueError(
                f"the panorama is too small ({height} rows) to hold a pole cap above {cap_degrees}°"
            )
        cap_energy = _gradient_energy(src, cap, pitch)
        band_energy = _gradient_energy(src, band, pitch)
        scores.append((band_energy + _EPSILON) / (cap_energy + _EPSILON))
    return scores[0], scores[1]


@dataclass(frozen=True)
class QualityReport:
    seam: float
    pole_north: float
    pole_south: float
    row_steps: np.ndarray = field(repr=False)
    verdicts: tuple[str, ...] = ()

    @property
    def seam_poor(self) -> bool:
        return self.seam > SEAM_FAINT

    @property
    def poles_poor(self) -> bool:
        return max(self.pole_north, self.pole_south) > POLE_POOR

    @property
    def poor(self) -> bool:
        return self.seam_poor or self.poles_poor

    def to_json(self) -> dict[str, Any]:
        worst = int(np.argmax(self.row_steps)) if self.row_steps.size else 0
        return {
            "seam_score": round(self.seam, 4),
            "seam_worst_row": worst,
            "seam_worst_row_score": round(float(self.row_steps[worst]), 4) if self.row_steps.size else None,
            "pole_smear_north": round(self.pole_north, 4),
            "pole_smear_south": round(self.pole_south, 4),
            "poor": self.poor,
            "verdicts": list(self.verdicts),
        }


def assess(img: np.ndarray) -> QualityReport:
    """Both scores of a panorama and, where one is poor, a sentence saying what is wrong and what to do."""
    row_steps = seam_row_steps(img)
    seam = float(row_steps.mean())
    north, south = pole_smear_scores(img)
    verdicts = []
    if seam > SEAM_POOR:
        verdicts.append(
            f"Visible seam: the step across the 0/360° edge is {seam:.1f}× the steps next to it. "
            "Use Repair → Fix seam."
        )
    elif seam > SEAM_FAINT:
        verdicts.append(
            f"Faint seam: the step across the 0/360° edge is {seam:.1f}× the steps next to it; "
            "it may show on smooth skies. Repair → Fix seam removes it."
        )
    for name, score in (("top (zenith)", north), ("bottom (nadir)", south)):
        if score > POLE_POOR:
            verdicts.append(
                f"Smeared {name} pole: the cap above 75° has {score:.1f}× less detail than the band below. "
                "Use Repair → Fix poles."
            )
    return QualityReport(
        seam=seam, pole_north=north, pole_south=south, row_steps=row_steps, verdicts=tuple(verdicts)
    )


def heat_strip_colours(row_steps: np.ndarray, *, width: int = 1) -> np.ndarray:
    """An (H, width, 3) uint8 strip: green where a row's step is at most 1× its surroundings, through
    yellow at ``SEAM_FAINT`` to red at ``SEAM_POOR`` and above."""
    steps = np.asarray(row_steps, dtype=np.float64)
    # 0 at a ratio of 1, 0.5 at SEAM_FAINT, 1 at SEAM_POOR; piecewise linear so both thresholds sit on it.
    t = np.where(
        steps <= SEAM_FAINT,
        0.5 * np.clip((steps - 1.0) / (SEAM_FAINT - 1.0), 0.0, 1.0),
        0.5 + 0.5 * np.clip((steps - SEAM_FAINT) / (SEAM_POOR - SEAM_FAINT), 0.0, 1.0),
    )
    red = np.clip(2.0 * t, 0.0, 1.0)
    green = np.clip(2.0 * (1.0 - t), 0.0, 1.0)
    colours = np.stack([red, green, np.zeros_like(t)], axis=-1)
    strip = np.rint(colours * 255.0).astype(np.uint8)[:, None, :]
    return np.repeat(strip, max(1, width), axis=1)
