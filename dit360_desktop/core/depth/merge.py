"""Per-view depth → one distance map on the sphere: align every view's scale and shift, then blend.

A perspective depth model gives each view an affine-invariant answer: a relative Depth Anything V2 gives
disparity q = a·(1/z) + b, a metric one (or an exact test source) z-depth q = a·z + b, with a and b unknown
and different per view. The distance along the ray is d = L·z (``views.View.ray_lengths``). For a point
seen by views i and j the distance is one number, which for each kind is one *linear* equation in the
unknowns (a, b of both views) once the per-view correction p = α·q + β is written out:
    z-depth:    L_i·(α_i q_i + β_i) − L_j·(α_j q_j + β_j) = 0          (d = L·p)
    disparity:  L_j·(α_i q_i + β_i) − L_i·(α_j q_j + β_j) = 0          (d = L/p)
All overlaps together are one homogeneous least-squares system. The global scale is its only freedom (a
shift is *not* global on the sphere, because L differs between the two views of a point, so the overlaps
determine it); one firm gauge row (the views' mean corrected median = 1) fixes it, and a weak prior of
scale 1 and shift 0 per view settles what the overlaps leave undetermined (a flat view's α against β).
It is solved by iteratively reweighted least squares with Huber weights on relative residuals, so a few
points where the model disagrees with itself (an edge seen from two sides) do not pull the fit.

The blend works on the sphere: every output pixel's direction is projected into every view, and the
views' log-distances are averaged with weights (1 − n)² that fall to zero at each view's border (n is the
normalised position, ``View.project``). Nothing in the blend knows about columns 0 and W−1 or the pole
rows: they are directions like any other, which is what makes the seam and the poles ordinary places.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dit360_desktop.core.depth.views import View
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.projection import equirect_uv_to_direction

log = logging.getLogger(__name__)

__all__ = [
    "DISPARITY",
    "KINDS",
    "Z_DEPTH",
    "Alignment",
    "NoDepthError",
    "align_views",
    "blend_on_sphere",
    "check_outputs",
]

DISPARITY = "disparity"
Z_DEPTH = "z-depth"
KINDS = (DISPARITY, Z_DEPTH)

# Overlap samples are taken on a grid this many steps across each view (≈ 4 k points per view pair).
_SAMPLE_GRID = 64
# Points this close to a view's border are left out of the fit (interpolation there uses clamped pixels).
_FIT_INSET = 0.97
_IRLS_ROUNDS = 8
_PRIOR_WEIGHT = 1e-4
# Rows whose two terms are smaller than this share of the typical row are weighed as if at this size:
# shrinking a view towards zero cannot make its rows look well fitted.
_FLOOR = 0.1
_HUBER_K = 1.345
# The gauge row's weight against the root-sum-square of the fit rows' weights.
_GAUGE_WEIGHT = 10.0
# A distance is kept within this factor of the median: a disparity at or below zero (the sky, far away)
# would be infinitely far.
_MAX_RANGE = 200.0


class NoDepthError(RequestError):
    """The depth source's output carries no depth (flat in every view, or zero wherever views overlap):
    nothing can be inferred, so the merge refuses with a sentence instead of inventing a sphere. It is a
    bad request (exit 2): the image, not the model, is what gives nothing to measure."""

    def __init__(self, message: str) -> None:
        super().__init__("image", message)


def check_outputs(maps: Sequence[np.ndarray]) -> None:
    """Refuse outputs from which no distance can be inferred: every view flat (zero variance).

    A flat view alone is fine (a wall seen face-on; its scale comes from its neighbours through the
    overlaps), but when every view is flat the model saw nothing, and any answer would be made up.
    """
    arrays = [np.asarray(m, dtype=np.float64) for m in maps]
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise ValueError("the depth source gave non-finite values")
    size = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    if all(float(np.ptp(a)) <= 1e-9 * size for a in arrays if a.size):
        raise NoDepthError(
            "The depth model found no depth in this panorama: its output is the same everywhere in every "
            "view (a blank or flat image gives it nothing to measure)."
        )


@dataclass(frozen=True)
class Alignment:
    """Per-view corrections p = scale·q + shift, and the fit's robust relative residual (median, 0…)."""

    scales: tuple[float, ...]
    shifts: tuple[float, ...]
    residual: float
    pairs: int


def bilinear(image: np.ndarray, column: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Bilinear samples of a 2-D ``image`` at continuous pixel coordinates, edges clamped."""
    height, width = image.shape
    column = np.clip(column, 0.0, width - 1.0)
    row = np.clip(row, 0.0, height - 1.0)
    c0 = np.minimum(np.floor(column).astype(np.int64), width - 2 if width > 1 else 0)
    r0 = np.minimum(np.floor(row).astype(np.int64), height - 2 if height > 1 else 0)
    fc = column - c0
    fr = row - r0
    c1 = np.minimum(c0 + 1, width - 1)
    r1 = np.minimum(r0 + 1, height - 1)
    top = image[r0, c0] * (1.0 - fc) + image[r0, c1] * fc
    bottom = image[r1, c0] * (1.0 - fc) + image[r1, c1] * fc
    return top * (1.0 - fr) + bottom * fr


def _overlap_samples(views: Sequence[View], maps: Sequence[np.ndarray]):
    """For every pair of views, the points both see: (i, j, q_i, L_i, q_j, L_j) arrays."""
    rows = []
    for i, view in enumerate(views):
        step = max(1, view.size // _SAMPLE_GRID)
        pick = np.arange(step // 2, view.size, step)
        rays = view.world_rays()[np.ix_(pick, pick)].reshape(-1, 3)
        lengths_i = view.ray_lengths()[np.ix_(pick, pick)].reshape(-1)
        q_i = maps[i][np.ix_(pick, pick)].reshape(-1)
        col_i = (pick[None, :] + 0 * pick[:, None]).reshape(-1)
        row_i = (pick[:, None] + 0 * pick[None, :]).reshape(-1)
        n_i = np.maximum(np.abs(col_i + 0.5 - view.size / 2.0), np.abs(row_i + 0.5 - view.size / 2.0)) / (
            view.size / 2.0
        )
        for j in range(i + 1, len(views)):
            column, row, lengths_j, n_j = views[j].project(rays)
            both = (n_j < _FIT_INSET) & (n_i < _FIT_INSET)
            if both.sum() < 8:
                continue
            q_j = bilinear(maps[j], column[both], row[both])
            rows.append((i, j, q_i[both], lengths_i[both], q_j, lengths_j[both]))
    return rows


def _pair_connected(count: int, samples) -> bool:
    reach = {0}
    changed = True
    while changed:
        changed = False
        for i, j, *_ in samples:
            if (i in reach) != (j in reach):
                reach |= {i, j}
                changed = True
    return len(reach) == count


def align_views(views: Sequence[View], maps: Sequence[np.ndarray], kind: str) -> Alignment:
    """The per-view scale and shift that make all views agree on the distance in their overlaps."""
    if kind not in KINDS:
        raise ValueError(f"unknown depth kind {kind!r}; expected one of {KINDS}")
    count = len(views)
    check_outputs(maps)
    # Each view is first divided by its own typical magnitude, so that "leave it as it is" (scale 1,
    # shift 0) is a sensible prior for every view; the scales found are multiplied back at the end.
    norms = [float(np.median(np.abs(m))) or float(np.mean(np.abs(m))) or 1.0 for m in maps]
    samples = _overlap_samples(
        views, [np.asarray(m, dtype=np.float64) / n for m, n in zip(maps, norms, strict=True)]
    )
    if not _pair_connected(count, samples):
        raise ValueError("the views do not overlap enough to be aligned (widen the margin)")
    blocks = []
    for i, j, q_i, l_i, q_j, l_j in samples:
        # Columns (α_i, β_i, α_j, β_j) of each equation, from the module docstring.
        if kind == Z_DEPTH:
            coefficients = (l_i * q_i, l_i, -l_j * q_j, -l_j)
        else:
            coefficients = (l_j * q_i, l_j, -l_i * q_j, -l_i)
        block = np.zeros((q_i.size, 2 * count))
        for column, values in zip((2 * i, 2 * i + 1, 2 * j, 2 * j + 1), coefficients, strict=True):
            block[:, column] = values
        blocks.append(block)
    system = np.concatenate(blocks)
    # The weak prior (scale 1, shift 0 per view) fixes the global scale without singling out a view, and
    # keeps inconsistent views (a model that contradicts itself) from collapsing towards zero. When the
    # views agree exactly it barely moves the fit (the synthetic room's residual stays ~1e-11; at 1e-2 it
    # bent disparity views by half their distance: the shift is weakly determined where L_i ≈ L_j).
    gauge = np.zeros(2 * count)
    medians = [
        float(np.median(np.asarray(m, dtype=np.float64))) / n for m, n in zip(maps, norms, strict=True)
    ]
    gauge[0::2] = medians
    gauge[1::2] = 1.0
    prior = np.eye(2 * count) * _PRIOR_WEIGHT
    prior_rhs = np.tile([1.0, 0.0], count) * _PRIOR_WEIGHT
    parameters = np.tile([1.0, 0.0], count)
    terms = (system * parameters).reshape(system.shape[0], count, 2).sum(axis=-1)
    # The typical row is the median, unless most rows are (near) zero: a Depth Anything disparity is 0
    # wherever it sees nothing (a black or grey panorama: 0 almost everywhere, 1e-7 at most). There the
    # median was 0, the floor 1e-12, rows weighed 1e12 against the prior's 1e-4, and the homogeneous fit
    # fell to its trivial solution (scales 1e-29, distances 1e37, float32 overflow, NaN in the map). A
    # tenth of the mean keeps the floor on the scale of the rows that carry information.
    sizes = np.abs(terms).sum(axis=-1)
    typical = max(float(np.median(sizes)), 0.1 * float(np.mean(sizes)))
    if not typical > 0.0:
        raise NoDepthError(
            "The depth model found no depth in this panorama: its output is zero wherever the views overlap."
        )
    floor = _FLOOR * typical
    huber = np.ones(system.shape[0])
    residual = np.zeros(system.shape[0])
    for _ in range(_IRLS_ROUNDS):
        # Rows are made relative (divided by the size of their two terms under the current fit), so near
        # and far points count alike.
        terms = (system * parameters).reshape(system.shape[0], count, 2).sum(axis=-1)
        magnitude = np.maximum(np.abs(terms).sum(axis=-1), floor)
        weights = huber / magnitude
        # The gauge row holds the views' mean corrected median at 1 (its value under the prior), firmly:
        # it only fixes the global scale, which the overlaps leave free, so consistent views are not bent,
        # but views that contradict each other (identical outputs of a flat grey panorama) can no longer
        # all shrink towards the trivial solution p = 0, where every residual vanishes. With the weak
        # prior alone they did (scales 1e-12: every disparity ≤ 0, no usable distance left).
        gauge_weight = _GAUGE_WEIGHT * float(np.sqrt(np.sum(weights**2)))
        matrix = np.concatenate([system * weights[:, None], prior, gauge[None, :] * gauge_weight])
        rhs = np.concatenate([np.zeros(system.shape[0]), prior_rhs, [count * gauge_weight]])
        parameters, *_ = np.linalg.lstsq(matrix, rhs, rcond=None)
        residual = (system @ parameters) / magnitude
        spread = 1.4826 * np.median(np.abs(residual)) + 1e-12
        huber = np.minimum(1.0, _HUBER_K * spread / np.maximum(np.abs(residual), 1e-15))
    parameters = parameters.copy()
    parameters[0::2] /= np.asarray(norms)
    scales = tuple(float(v) for v in parameters[0::2])
    shifts = tuple(float(v) for v in parameters[1::2])
    result = Alignment(scales, shifts, float(np.median(np.abs(residual))), len(samples))
    log.debug("Aligned %d views over %d overlaps: %s", count, len(samples), result)
    return result


def view_distances(view: View, raw: np.ndarray, scale: float, shift: float, kind: str) -> np.ndarray:
    """One view's corrected map as distance along the ray (may hold ≤ 0 where a disparity runs out)."""
    corrected = scale * np.asarray(raw, dtype=np.float64) + shift
    lengths = view.ray_lengths()
    if kind == Z_DEPTH:
        return lengths * corrected
    with np.errstate(divide="ignore"):
        return np.where(corrected > 0, lengths / np.where(corrected > 0, corrected, 1.0), np.inf)


def blend_on_sphere(
    views: Sequence[View],
    distances: Sequence[np.ndarray],
    width: int,
    height: int,
    *,
    should_stop: Callable[[], None] | None = None,
) -> np.ndarray:
    """The (height, width) float32 distance map, divided by the views' median distance (callers set the
    final scale): the views' log-distances blended by border weights.

    Blending d ÷ median keeps every value within [1/_MAX_RANGE, _MAX_RANGE], so the float32 result cannot
    overflow whatever the fitted scale is (absolute distances of 1e37 once overflowed to inf here)."""
    finite = np.concatenate([d[np.isfinite(d) & (d > 0)] for d in distances])
    if finite.size == 0:
        raise NoDepthError(
            "The depth model found no depth in this panorama: no view gave a positive distance anywhere."
        )
    median = float(np.median(finite))
    low, high = median / _MAX_RANGE, median * _MAX_RANGE
    logs = [np.log(np.clip(np.where(np.isfinite(d), d, high), low, high) / median) for d in distances]
    out = np.empty((height, width), dtype=np.float32)
    block = max(1, (1 << 18) // max(1, width))
    u = (np.arange(width, dtype=np.float64) + 0.5) / width
    for start in range(0, height, block):
        if should_stop is not None:
            should_stop()
        stop = min(height, start + block)
        directions = _rows_directions(u, start, stop, height)
        total = np.zeros(directions.shape[:2])
        weight_sum = np.zeros(directions.shape[:2])
        for view, log_map in zip(views, logs, strict=True):
            column, row, _length, n = view.project(directions)
            weight = np.clip(1.0 - n, 0.0, None) ** 2
            inside = weight > 0
            if not inside.any():
                continue
            values = np.zeros_like(weight)
            values[inside] = bilinear(log_map, column[inside], row[inside])
            total += weight * values
            weight_sum += weight
        if np.any(weight_sum <= 0):
            raise ValueError("the views leave part of the sphere uncovered")
        out[start:stop] = np.exp(total / weight_sum)
    return out


def _rows_directions(u: np.ndarray, start: int, stop: int, height: int) -> np.ndarray:
    v = (np.arange(start, stop, dtype=np.float64) + 0.5) / height
    return equirect_uv_to_direction(u[None, :], v[:, None])
