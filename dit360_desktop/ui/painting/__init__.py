"""Painting on the sphere: the brush (disc footprints in degrees, seam- and pole-aware), the equirect mask
it paints, the paint tool that turns viewer drags into strokes and the thread that rasterises them. Shared
by edit mode (the regenerate mask) and the guides (sketches, region masks)."""
