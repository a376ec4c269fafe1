"""The legal range of every number a person types, shared by the command line and the app's fields.

A request's own fields have theirs in ``request.PARAMETERS``; the numbers here belong to the actions
around a request: where a photo is placed, how an export is framed, how a batch is spread over a
cluster. ``cli/arg_types.py`` turns a ``Limit`` into an argparse type; a spin box takes ``low``/``high``.

Sizes that are legal but too large for this machine are refused by ``check_fits_in_memory`` before the
work starts, with the memory they would need: a 16384×16384 perspective view is a legal request on a
128 GB workstation and a MemoryError a minute later on a laptop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.hdr import MAX_HIGHLIGHT_STOPS
from dit360_desktop.panorama.placement import MAX_FOV, MIN_FOV
from dit360_desktop.panorama.request import PARAMETERS

__all__ = [
    "BYTES_PER_PLACED_PIXEL",
    "BYTES_PER_PROJECTED_PIXEL",
    "BYTES_PER_UPSCALED_PIXEL",
    "LIMITS",
    "PROJECTION_OVERHEAD_BYTES",
    "Limit",
    "available_memory",
    "check_fits_in_memory",
    "format_gib",
    "parameter_limit",
]


@dataclass(frozen=True)
class Limit:
    """A closed range; ``multiple`` for sizes the model needs in whole patches; ``unit`` for messages."""

    low: float
    high: float
    integer: bool = False
    multiple: int = 1
    unit: str = ""

    def problem(self, value: float) -> str | None:
        """None when ``value`` is legal, else what is wrong with it, in words (without the value)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number between {self.describe()}"
        if self.integer and value != int(value):
            return f"must be a whole number between {self.describe()}"
        if not self.low <= value <= self.high:
            return f"must be between {self.describe()}"
        if self.multiple > 1 and int(value) % self.multiple:
            return f"must be a multiple of {self.multiple} (between {self.describe()})"
        return None

    def describe(self) -> str:
        if self.integer:
            return f"{int(self.low)} and {int(self.high)}{self.unit}"
        return f"{self.low:g} and {self.high:g}{self.unit}"


def parameter_limit(name: str) -> Limit:
    """A request field's range (``request.PARAMETERS``) as a ``Limit``; width and height in steps of 16."""
    spec = PARAMETERS[name]
    multiple = 16 if name in ("width", "height") else 1
    return Limit(spec.low, spec.high, integer=spec.is_int, multiple=multiple)


LIMITS: dict[str, Limit] = {
    # Where a photo, a view or a snapshot looks (viewer, placement, perspective export).
    "yaw": Limit(-180.0, 180.0, unit="°"),
    "pitch": Limit(-90.0, 90.0, unit="°"),
    "roll": Limit(-180.0, 180.0, unit="°"),
    "photo_fov": Limit(MIN_FOV, MAX_FOV, unit="°"),
    "view_fov": Limit(1.0, 170.0, unit="°"),
    # Sizes of derived pictures, in pixels.
    "view_side": Limit(1, 16384, integer=True, unit=" px"),
    "face_size": Limit(16, 8192, integer=True, unit=" px"),
    "jpeg_quality": Limit(1, 100, integer=True),
    "highlight_stops": Limit(0.0, MAX_HIGHLIGHT_STOPS, unit=" stops"),
    # Finishing: upscale tiles and the detail stage, repair bands.
    "upscale_tile": Limit(0, 8192, integer=True, unit=" px"),
    "upscale_margin": Limit(0, 512, integer=True, unit=" px"),
    "detail_strength": Limit(0.0, 0.6),
    # 2:1 windows at least 64 px tall, the smallest the detail stage plans (core/upscale/detail.py).
    "detail_window": Limit(128, 8192, integer=True, multiple=16, unit=" px"),
    "repair_strength": Limit(0.05, 1.0),
    "repair_band": Limit(16, 4096, integer=True, unit=" px"),
    "repair_feather": Limit(0, 256, integer=True, unit=" px"),
    "seed": Limit(0, 2**32 - 1, integer=True),
    # A batch on a cluster.
    "cpus_per_worker": Limit(0.01, 1024.0),
    "gpus_per_worker": Limit(0.0, 64.0),
    "workers": Limit(1, 4096, integer=True),
    "retries": Limit(0, 100, integer=True),
    "save_threads": Limit(1, 64, integer=True),
    "list_limit": Limit(1, 10**9, integer=True),
}

# Measured with tracemalloc (peak bytes; tests/panorama/test_limits.py checks these are upper bounds).
# Projection renders in row blocks into a float32 output: 148 MB for a 2048×1024 view, 318 MB for
# 4096×2048, so about 27 B per pixel plus a fixed 90 MB of block buffers; the uint8 picture and the
# encoder's copy add 6 B per pixel. Placement runs its float64 maths over the whole canvas (133 B/pixel
# at 4096×2048). An upscale's output is estimated (uint8 result, float32 seam blend, encoder copy).
BYTES_PER_PROJECTED_PIXEL = 36
PROJECTION_OVERHEAD_BYTES = 128 * 2**20
BYTES_PER_PLACED_PIXEL = 140
# An upscaled panorama: the uint8 output, its float32 copy for the seam blend, and a PNG encoder buffer.
BYTES_PER_UPSCALED_PIXEL = 3 + 12 + 3
# What a size check leaves to everything else running (the app, the model, the OS).
_MEMORY_SHARE = 0.8


def available_memory() -> int:
    """Bytes of memory this process can use now (free plus reclaimable cache)."""
    import psutil

    return int(psutil.virtual_memory().available)


def format_gib(count: int) -> str:
    return f"{count / 2**30:.1f} GiB"


def check_fits_in_memory(
    field: str, what: str, pixels: int, bytes_per_pixel: int, hint: str, *, overhead: int = 0
) -> None:
    """RequestError naming ``what`` (as the person gave it), the memory it needs and what this machine has."""
    needed = pixels * bytes_per_pixel + overhead
    available = available_memory()
    if needed > available * _MEMORY_SHARE:
        raise RequestError(
            field,
            f"{what} needs about {format_gib(needed)} of memory, but this machine has "
            f"{format_gib(available)} available. {hint}",
        )
