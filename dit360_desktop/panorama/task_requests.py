"""Requests for the engine's tasks besides a generation or an edit (a ``GenerationRequest`` is its own).

Every request has a ``kind`` (the key of ``core/tasks/table.py``), a ``validate()`` that raises
``RequestError`` naming the field and returns warnings, and, when its task runs FLUX, a ``template``: the
``GenerationRequest`` whose model fields (LoRAs, tier, dtype, device) say which FLUX to load and whose
prompt and settings the task's own runs start from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.qa import POLE_CAP_DEGREES
from dit360_desktop.panorama.request import GenerationRequest

UPSCALE_SCALES = (2, 4)
MAX_DETAIL_STRENGTH = 0.6
DEFAULT_DETAIL_WINDOW = 2048


@dataclass(frozen=True)
class RepairOptions:
    seam: bool = True
    poles: bool = False
    # Seam band width in pixels (mask plus feather on both sides); None = W/8, at least 64.
    band: int | None = None
    feather: int = 8
    strength: float = 0.75
    cap_degrees: float = POLE_CAP_DEGREES
    feather_degrees: float = 4.0

    def validate(self, width: int) -> None:
        if not (self.seam or self.poles):
            raise RequestError("repair", "choose at least one repair: the seam, the poles, or both")
        band = self.band_width(width)
        if not 2 * self.feather + 16 <= band <= width // 2:
            raise RequestError(
                "band", f"must leave 16 px of mask inside the feather and be at most W/2 (got {band} px)"
            )
        if not 0.05 <= self.strength <= 1.0:
            raise RequestError("strength", f"must be between 0.05 and 1 (got {self.strength})")
        if not 45.0 <= self.cap_degrees <= 85.0:
            raise RequestError("cap_degrees", f"must be between 45 and 85 (got {self.cap_degrees})")
        if not 0.0 < self.feather_degrees < 90.0 - self.cap_degrees:
            raise RequestError("feather_degrees", "must be positive and smaller than the cap")

    def band_width(self, width: int) -> int:
        return self.band if self.band is not None else max(64, width // 8)


@dataclass(frozen=True)
class RepairRequest:
    """Fix seam and/or poles of ``source``; the repair's mask is written into ``work_dir``, which must live
    until the result is saved (the library copies the mask from there)."""

    source: Path
    template: GenerationRequest
    work_dir: Path
    options: RepairOptions = field(default_factory=RepairOptions)
    # An edit's mask from the source's lineage, as the library keeps it (white = regenerated): its black
    # pixels are the artist's (a placed photo, an edit's kept region) and the repair keeps them exactly
    # (history/protection.py finds it). None repaints freely.
    kept_mask: Path | None = None

    kind = "repair"

    def validate(self) -> list[str]:
        if not self.options.seam and not self.options.poles:
            raise RequestError("repair", "choose at least one repair: the seam, the poles, or both")
        return []


@dataclass(frozen=True)
class UpscaleRequest:
    """``source`` ×``scale`` with the super-resolution model ``sr_model``; ``detail`` > 0 adds DiT360
    img2img at that strength over ``window``-wide windows, run with ``template``'s prompt and model."""

    source: Path
    scale: int
    sr_model: Path
    template: GenerationRequest
    tile: int | None = None
    margin: int | None = None
    detail: float = 0.0
    window: int = DEFAULT_DETAIL_WINDOW

    @property
    def kind(self) -> str:
        return "upscale-detail" if self.detail > 0 else "upscale"

    def validate(self) -> list[str]:
        if self.scale not in UPSCALE_SCALES:
            raise RequestError("scale", f"must be one of {UPSCALE_SCALES} (got {self.scale})")
        if not 0.0 <= self.detail <= MAX_DETAIL_STRENGTH:
            raise RequestError(
                "detail", f"must be between 0 (off) and {MAX_DETAIL_STRENGTH} (got {self.detail})"
            )
        if self.tile is not None and self.tile < 0:
            raise RequestError(
                "tile", f"must be 0 (untiled) or a positive number of pixels (got {self.tile})"
            )
        if self.margin is not None and self.margin < 0:
            raise RequestError("margin", f"must be 0 or more (got {self.margin})")
        return []
