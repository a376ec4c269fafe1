"""The colours and shades guides are drawn in (no imports: the panel is built before the first frame)."""

from __future__ import annotations

# The shades a sketch is drawn in (grey levels); a brighter shade wins where two overlap.
SKETCH_SHADES: dict[str, int] = {"White": 255, "Light grey": 170, "Dark grey": 85}

# One colour per region (RGB), distinct on the sphere and in the list.
REGION_COLOURS: tuple[tuple[int, int, int], ...] = (
    (255, 196, 0),
    (255, 80, 200),
    (60, 220, 90),
    (40, 90, 255),
    (150, 110, 255),
    (255, 120, 40),
    (0, 220, 200),
    (240, 240, 240),
)

# The control image's tint on the sphere.
CONTROL_COLOUR = (0, 230, 255)
