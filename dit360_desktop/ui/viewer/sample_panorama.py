"""A procedural sample panorama (evening sky, low sun, mountains, forest, lake, meadow), numpy only.

Shown on first run before any model is installed, and used for the viewer's screenshots. Every
feature is a function of the view direction, never of the pixel column, so the picture is seamless
across 0/360° and has no pinching at the poles:
- longitude-dependent shapes (ridges) are sums of sines with whole-number frequencies;
- clouds and ground are textured in plane coordinates (where the ray meets a cloud deck or the
  ground), which also gives them true perspective;
- mountain rock uses 3D noise on the unit sphere.
Work is only done on the pixels a feature covers, and the lake reflects the upper half that is
already rendered instead of rendering the sky twice.
"""

from __future__ import annotations

import functools
import math

import numpy as np

SUN_YAW = math.radians(-20.0)
SUN_PITCH = math.radians(3.5)
SUN_RADIUS = math.radians(1.0)
_F = np.float32


def _rgb(r: float, g: float, b: float) -> np.ndarray:
    return np.array([r, g, b], dtype=_F)


_ZENITH = _rgb(0.030, 0.075, 0.24)
_MID_SKY = _rgb(0.13, 0.27, 0.58)
_HORIZON_COOL = _rgb(0.50, 0.52, 0.70)
_HORIZON_WARM = _rgb(1.15, 0.62, 0.30)
_SUN_GLOW = _rgb(1.0, 0.50, 0.18)
_SUN_DISC = _rgb(14.0, 11.0, 7.0)

# Mountain ranges, far to near: (base height°, amplitude°, ridge seed, rock colour, haze, forest)
_LAYERS = (
    (2.5, 13.0, 11, _rgb(0.13, 0.11, 0.22), 0.20, False),
    (1.2, 8.0, 23, _rgb(0.045, 0.04, 0.085), 0.12, False),
    (0.2, 4.2, 37, _rgb(0.015, 0.032, 0.024), 0.05, True),
)
_MOUNTAIN_TOP = math.radians(max(base + amp for base, amp, *_ in _LAYERS))
_RIDGE_SAMPLES = 32768


def sample_panorama(width: int = 2048, height: int = 1024) -> np.ndarray:
    """The sample scene as a width×height equirect (HxWx3 uint8); width should be 2 × height."""
    if width < 8 or height < 4:
        raise ValueError(f"the sample panorama needs at least 8×4 pixels, got {width}×{height}")
    lon_axis = ((np.arange(width, dtype=_F) + 0.5) / width - 0.5) * _F(2 * np.pi)
    lat_axis = (0.5 - (np.arange(height, dtype=_F) + 0.5) / height) * _F(np.pi)
    above = int(np.count_nonzero(lat_axis > 0))
    sky = _cloudy_sky(lon_axis, lat_axis[:above]).reshape(-1, 3)
    lon, lat = (a.ravel() for a in np.meshgrid(lon_axis, lat_axis[:above]))
    sky = _mountains(lon, lat, sky).reshape(above, width, 3)
    lon, lat = (a.ravel() for a in np.meshgrid(lon_axis, lat_axis[above:]))
    columns = np.tile(np.arange(width), height - above)
    ground = _ground(lon, lat, _Mirror(sky, columns, height)).reshape(height - above, width, 3)
    return _tone_map(np.concatenate([sky, ground]))


class _Mirror:
    """Looks up the already rendered upper half at a mirrored latitude, for the lake's reflection."""

    def __init__(self, sky: np.ndarray, columns: np.ndarray, height: int) -> None:
        self.sky = sky
        self.columns = columns
        self.height = height

    def reflect(self, pixels: np.ndarray, latitude: np.ndarray) -> np.ndarray:
        """Radiance at the same longitude as ``pixels`` (indices into the lower half) and ``latitude``."""
        last = self.sky.shape[0] - 1
        row = np.clip((0.5 - latitude / _F(np.pi)) * self.height - 0.5, 0, last)
        top = row.astype(np.int64)
        below = np.minimum(top + 1, last)
        weight = (row - top)[:, None]
        column = self.columns[pixels]
        return self.sky[top, column] * (1 - weight) + self.sky[below, column] * weight


def _sun_angle(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    cosine = np.sin(lat) * _F(math.sin(SUN_PITCH)) + np.cos(lat) * _F(math.cos(SUN_PITCH)) * np.cos(
        lon - _F(SUN_YAW)
    )
    return np.arccos(np.clip(cosine, -1.0, 1.0))


def _sky(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Sky gradient, warm towards the low sun, with the sun's glow (the disc is added separately)."""
    elevation = np.clip(lat / _F(np.pi / 2), 0.0, 1.0)[:, None]
    angle = _sun_angle(lon, lat)[:, None]
    toward_sun = ((1 + np.cos(angle)) / 2) ** 3
    horizon = _HORIZON_COOL + (_HORIZON_WARM - _HORIZON_COOL) * toward_sun
    low = np.clip(elevation / _F(0.22), 0.0, 1.0) ** _F(0.7)
    high = np.clip((elevation - _F(0.22)) / _F(0.78), 0.0, 1.0) ** _F(0.8)
    colour = horizon + (_MID_SKY - horizon) * low
    colour = colour + (_ZENITH - colour) * high
    near_horizon = np.exp(-elevation / _F(0.2))
    colour += _SUN_GLOW * (1.2 * np.exp(-angle / _F(0.3)) * near_horizon + 2.5 * np.exp(-angle / _F(0.045)))
    return colour


def _add_sun_disc(sky: np.ndarray, lon_axis: np.ndarray, lat_axis: np.ndarray) -> None:
    """Paint the sun's disc, with an antialiased rim, into the rows it touches."""
    rows = np.nonzero(np.abs(lat_axis - _F(SUN_PITCH)) < _F(2 * SUN_RADIUS))[0]
    if rows.size == 0:
        return
    lon, lat = np.meshgrid(lon_axis, lat_axis[rows])
    angle = _sun_angle(lon, lat)[..., None]
    disc = np.clip((_F(SUN_RADIUS) - angle) / _F(0.2 * SUN_RADIUS) + _F(0.5), 0.0, 1.0)
    sky[rows] += (_SUN_DISC - sky[rows]) * disc


def _clouds(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wind-streaked altocumulus on a flat deck, lit pink and gold from below by the low sun.

    Returns the cloud cover in [0, 1] and the cloud colour in the directions (lon, lat).
    """
    cover = np.zeros(lon.shape, dtype=_F)
    colour = np.zeros((*lon.shape, 3), dtype=_F)
    visible = lat > _F(math.radians(1.0))
    lo, la = lon[visible], lat[visible]
    distance = 1.0 / np.sin(la)
    x = np.cos(la) * np.sin(lo) * distance
    z = np.cos(la) * np.cos(lo) * distance
    warp = _fbm2(x * _F(0.4) + 11.0, z * _F(0.4) - 3.0, octaves=2, seed=7)
    density = _fbm2(x * _F(1.4) + 1.2 * warp, z * _F(2.6) + 0.4 * warp, octaves=5, seed=3)
    # Distant clouds melt into haze instead of aliasing.
    cover[visible] = np.clip((density - _F(0.47)) / _F(0.2), 0.0, 1.0) * np.exp(-distance / _F(9.0))
    thickness = np.clip((density - _F(0.5)) / _F(0.2), 0.0, 1.0)[:, None]
    sun_side = np.exp(-_sun_angle(lo, la) / _F(0.7))[:, None]
    # Thin edges catch the low sun (gold and pink); thick cores are the shadowed, violet underside.
    edge = _rgb(1.45, 0.62, 0.40) * (0.45 + 2.2 * sun_side)
    core = _rgb(0.42, 0.30, 0.40) * (0.8 + 1.2 * sun_side)
    colour[visible] = edge + (core - edge) * thickness
    return cover, colour


def _cloudy_sky(lon_axis: np.ndarray, lat_axis: np.ndarray) -> np.ndarray:
    """Sky with clouds on the (lat_axis × lon_axis) grid, (rows, columns, 3).

    The sky gradient and the clouds are soft, so they are computed on a grid of half the size and
    interpolated up (the noise behind the clouds is most of the scene's cost); only the sun's disc
    is drawn at full resolution.
    """
    half_lon = _axis(max(lon_axis.size // 2, 4), -np.pi, np.pi)
    half_lat = _axis(max(lat_axis.size // 2, 2), float(lat_axis[0]), float(lat_axis[-1]), centred=False)
    lon, lat = (a.ravel() for a in np.meshgrid(half_lon, half_lat))
    cover, cloud = _clouds(lon, lat)
    layer = np.concatenate([_sky(lon, lat), cloud, cover[:, None]], axis=1)
    layer = _resample(layer.reshape(half_lat.size, half_lon.size, 7), half_lat, lat_axis, lon_axis.size)
    sky = np.ascontiguousarray(layer[..., :3])
    _add_sun_disc(sky, lon_axis, lat_axis)
    return sky + (layer[..., 3:6] - sky) * (0.95 * layer[..., 6:])


def _axis(count: int, start: float, stop: float, *, centred: bool = True) -> np.ndarray:
    """``count`` pixel-centre positions over [start, stop) (centred) or from start to stop inclusive."""
    if centred:
        return (start + (np.arange(count, dtype=_F) + 0.5) * _F((stop - start) / count)).astype(_F)
    return np.linspace(start, stop, count, dtype=_F)


def _resample(grid: np.ndarray, grid_lat: np.ndarray, lat_axis: np.ndarray, width: int) -> np.ndarray:
    """Bilinear resize of a (rows, columns, C) longitude-periodic grid to (len(lat_axis), width, C).

    Separable: along longitude first (wrapping, so the seam stays seamless), then along latitude
    (clamped at the ends).
    """
    rows, columns = grid.shape[:2]
    x = (np.arange(width, dtype=_F) + 0.5) * _F(columns / width) - 0.5
    left = np.floor(x).astype(np.int64)
    fx = (x - left)[None, :, None]
    wide = grid[:, left % columns] * (1 - fx) + grid[:, (left + 1) % columns] * fx
    y = np.interp(lat_axis, grid_lat[::-1], np.arange(rows - 1, -1, -1, dtype=_F)).astype(_F)
    top = np.minimum(np.floor(y).astype(np.int64), rows - 1)
    fy = (y - top)[:, None, None]
    return wide[top] * (1 - fy) + wide[np.minimum(top + 1, rows - 1)] * fy


@functools.cache
def _ridge_table(seed: int, forest: bool) -> np.ndarray:
    """Silhouette height in [0, 1] on a periodic longitude grid (whole-number harmonics → seamless)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 2 * np.pi, _RIDGE_SAMPLES, endpoint=False)
    height = np.zeros_like(t)
    for n in range(1, 40):
        amplitude = n**-1.3
        height += amplitude * np.sin(n * t + rng.uniform(0, 2 * np.pi))
        # Folded sines make sharp peaks and rounded valleys, like eroded ridges.
        height += 0.9 * amplitude * (1 - 2 * np.abs(np.sin(0.5 * n * t + rng.uniform(0, np.pi))))
    height -= height.min()
    height /= height.max()
    if forest:
        # Conifers: a ring of narrow triangles with random heights and spacing on the hill line.
        trees = 700
        centres = (np.arange(trees) + rng.uniform(-0.35, 0.35, trees)) * (2 * np.pi / trees)
        tops = rng.uniform(0.3, 0.6, trees)
        half_widths = tops * rng.uniform(0.010, 0.016, trees)
        step = 2 * np.pi / _RIDGE_SAMPLES
        reach = int(np.ceil(half_widths.max() / step)) + 1
        offsets = np.arange(-reach, reach + 1)
        nearest = np.rint(centres / step).astype(np.int64)
        index = nearest[:, None] + offsets[None, :]
        distance = np.abs(index * step - centres[:, None])
        profile = tops[:, None] * np.clip(1 - distance / half_widths[:, None], 0.0, None)
        canopy = np.zeros_like(t)
        np.maximum.at(canopy, index % _RIDGE_SAMPLES, profile)
        height = 0.55 * height + canopy
        height /= height.max()
    return height.astype(_F)


def _ridge_height(table: np.ndarray, lon: np.ndarray) -> np.ndarray:
    position = (lon / _F(2 * np.pi) % _F(1.0)) * _RIDGE_SAMPLES
    i = position.astype(np.int64)
    f = position - i
    return table[i % _RIDGE_SAMPLES] * (1 - f) + table[(i + 1) % _RIDGE_SAMPLES] * f


def _sunset_pass(lon: np.ndarray) -> np.ndarray:
    """A broad valley in the ranges where the sun goes down, so it sets between the peaks."""
    offset = np.angle(np.exp(1j * (lon - SUN_YAW))).astype(_F)  # wrapped to (-pi, pi]
    return 1.0 - 0.8 * np.exp(-((offset / _F(0.4)) ** 2))


def _unit(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.sin(lon), np.sin(lat), cos_lat * np.cos(lon)], axis=-1)


def _mountains(lon: np.ndarray, lat: np.ndarray, behind: np.ndarray) -> np.ndarray:
    out = behind.copy()
    band = np.nonzero(lat < _F(_MOUNTAIN_TOP))[0]
    lon_b, lat_deg = lon[band], np.degrees(lat[band])
    # Nearest range first: a pixel it covers is settled and hidden from the ranges behind it.
    for index, (base, amplitude, seed, rock, haze, forest) in reversed(list(enumerate(_LAYERS))):
        table = _ridge_table(seed, forest)
        valley = _sunset_pass(lon_b) if not forest else 1.0
        top = base + amplitude * _ridge_height(table, lon_b) * valley
        inside = lat_deg < top
        lo, la, top = lon_b[inside], np.radians(lat_deg[inside]), top[inside]
        depth = np.clip((top - np.degrees(la)) / np.maximum(top, 0.5), 0.0, 1.0)
        # Rock facets: the noise's slope across the view says which way each facet faces, and the
        # sun is either to its left or right.
        scale = _F(120.0 if forest else 30.0)
        left = _fbm3(_unit(lo - _F(0.003), la) * scale, octaves=5, seed=50 + index)
        right = _fbm3(_unit(lo + _F(0.003), la) * scale, octaves=5, seed=50 + index)
        texture = (left + right) / 2
        facing = np.clip((right - left) * 14.0 * np.sign(np.sin(_F(SUN_YAW) - lo)), -1.0, 1.0)
        light = (0.8 + 0.4 * facing) * (0.8 + 0.4 * texture) * (1.0 - 0.45 * depth)
        layer = rock * light[:, None]
        if not forest:
            snow_line = base + 0.55 * amplitude
            snow = np.clip((np.degrees(la) - snow_line) / 1.0 + (texture - 0.5) * 1.5 - depth * 2, 0, 1)
            snow_colour = _rgb(1.25, 0.78, 0.66) * (0.35 + 0.55 * np.clip(facing + 0.6, 0, 1.4))[:, None]
            layer += (snow_colour - layer) * snow[:, None]
        # Aerial perspective: distant ranges take the colour of the evening air.
        toward_sun = ((1 + np.cos(lo - _F(SUN_YAW))) / 2) ** 2
        air = _HORIZON_COOL * 0.85 + (_HORIZON_WARM - _HORIZON_COOL) * 0.7 * toward_sun[:, None]
        layer += (air - layer) * _F(haze)
        rows = band[inside]
        out[rows] = layer
        lon_b, lat_deg, band = lon_b[~inside], lat_deg[~inside], band[~inside]
    return out


def _ground(lon: np.ndarray, lat: np.ndarray, mirror: _Mirror) -> np.ndarray:
    """A small grassy island one unit (eye height) below the viewer, in a lake that mirrors the sky."""
    distance = 1.0 / np.maximum(-np.sin(lat), _F(1e-3))
    x = np.cos(lat) * np.sin(lon) * distance
    z = np.cos(lat) * np.cos(lon) * distance
    shore = _fbm2(x * _F(0.12), z * _F(0.12), octaves=3, seed=5)
    # Distance past the shoreline, in eye heights: negative on the island.
    beyond = np.hypot(x, z) - (_F(3.2) + _F(4.0) * (shore - _F(0.5)))
    colour = np.empty((lon.size, 3), dtype=_F)
    land = np.nonzero(beyond < 0.6)[0]
    colour[land] = _island(x[land], z[land], beyond[land])
    wet = np.nonzero(beyond > 0.2)[0]
    water = _water(wet, lat[wet], x[wet], z[wet], mirror)
    wetness = np.clip((beyond[wet] - _F(0.2)) / _F(0.4), 0.0, 1.0)[:, None]
    both = beyond[wet] < 0.6
    water[both] = colour[wet[both]] + (water[both] - colour[wet[both]]) * wetness[both]
    colour[wet] = water
    return colour


def _island(x: np.ndarray, z: np.ndarray, beyond: np.ndarray) -> np.ndarray:
    patches = _fbm2(x * _F(0.5), z * _F(0.5), octaves=3, seed=13)
    tufts = _fbm2(x * _F(14.0), z * _F(14.0), octaves=3, seed=17)
    tone = np.clip((patches - 0.55) * 2.5 + 0.2, 0.0, 1.0)[:, None]
    lush = _rgb(0.022, 0.060, 0.016)
    dry = _rgb(0.13, 0.10, 0.035)
    grass = (lush + (dry - lush) * tone) * (0.3 + 1.5 * tufts)[:, None]
    # A band of pale sand and pebbles where the grass meets the water.
    sand = _rgb(0.26, 0.20, 0.13) * (0.8 + 0.5 * tufts)[:, None]
    beach = np.clip((beyond + _F(0.7)) / _F(0.6), 0.0, 1.0)[:, None]
    colour = grass + (sand - grass) * beach
    # Low warm light from the sun.
    return colour * _rgb(1.3, 1.0, 0.78)


def _water(pixels: np.ndarray, lat: np.ndarray, x: np.ndarray, z: np.ndarray, mirror: _Mirror) -> np.ndarray:
    # Ripples tilt the mirror; stretched noise turns the sun's reflection into a glittering path.
    ripple = _fbm2(x * _F(0.5), z * _F(3.0), octaves=3, seed=41) - 0.5
    tilt = ripple * (0.010 + 0.08 * np.abs(lat))
    mirrored = np.clip(-lat + tilt, _F(1e-4), _F(np.pi / 2))
    reflected = mirror.reflect(pixels, mirrored)
    # Fresnel: water mirrors at grazing angles and shows its dark body when looking down.
    fresnel = (0.04 + 0.96 * (1 - np.clip(-np.sin(lat), 0, 1)) ** 5)[:, None]
    body = _rgb(0.012, 0.035, 0.045)
    return body + (reflected * _F(0.9) - body) * fresnel


def _tone_map(radiance: np.ndarray) -> np.ndarray:
    """Exponential exposure curve, then sRGB encoding, through a lookup table (fast on 2 M pixels)."""
    index = np.rint(_F(_LUT_SIZE - 1) * (1.0 - np.exp(_F(-1.25) * radiance))).astype(np.int32)
    return _srgb_table()[np.clip(index, 0, _LUT_SIZE - 1)]


_LUT_SIZE = 8192  # 13-bit steps of the linear value keep the dark end free of banding


@functools.cache
def _srgb_table() -> np.ndarray:
    linear = np.linspace(0.0, 1.0, _LUT_SIZE)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.clip(np.rint(encoded * 255.0), 0, 255).astype(np.uint8)


def _hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Pseudo-random values in [0, 1) on an integer lattice (uint32 arithmetic wraps by design)."""
    h = ix * np.uint32(0x27D4EB2D) + iy * np.uint32(0x165667B1) + np.uint32(seed * 0x9E3779B1 & 0xFFFFFFFF)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    return (h >> np.uint32(8)).astype(_F) * _F(1.0 / 16777216.0)


def _lattice(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cell = np.floor(p)
    f = p - cell
    return cell.astype(np.int64).astype(np.uint32), f * f * (3 - 2 * f)


def _value_noise2(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    ix, fx = _lattice(x)
    iy, fy = _lattice(y)
    one = np.uint32(1)
    a, b = _hash(ix, iy, seed), _hash(ix + one, iy, seed)
    c, d = _hash(ix, iy + one, seed), _hash(ix + one, iy + one, seed)
    top = a + (b - a) * fx
    return top + (c + (d - c) * fx - top) * fy


def _value_noise3(p: np.ndarray, seed: int) -> np.ndarray:
    ix, fx = _lattice(p[:, 0])
    iy, fy = _lattice(p[:, 1])
    iz, fz = _lattice(p[:, 2])
    one = np.uint32(1)
    planes = []
    for dz in (0, 1):
        # Fold z into x with a large odd multiplier so each z slice gets an independent 2D lattice.
        kx = ix + (iz + np.uint32(dz)) * np.uint32(0x3C6EF372)
        a, b = _hash(kx, iy, seed), _hash(kx + one, iy, seed)
        c, d = _hash(kx, iy + one, seed), _hash(kx + one, iy + one, seed)
        top = a + (b - a) * fx
        planes.append(top + (c + (d - c) * fx - top) * fy)
    return planes[0] + (planes[1] - planes[0]) * fz


def _fbm2(x: np.ndarray, y: np.ndarray, *, octaves: int, seed: int) -> np.ndarray:
    total = np.zeros(np.shape(x), dtype=_F)
    amplitude, frequency, norm = 0.5, 1.0, 0.0
    for octave in range(octaves):
        total += _F(amplitude) * _value_noise2(x * _F(frequency), y * _F(frequency), seed + octave)
        norm += amplitude
        amplitude *= 0.5
        frequency *= 2.03  # not exactly 2, so the octaves' lattices never line up
    return total / _F(norm)


def _fbm3(p: np.ndarray, *, octaves: int, seed: int) -> np.ndarray:
    total = np.zeros(p.shape[0], dtype=_F)
    amplitude, frequency, norm = 0.5, 1.0, 0.0
    for octave in range(octaves):
        total += _F(amplitude) * _value_noise3(p * _F(frequency), seed + octave)
        norm += amplitude
        amplitude *= 0.5
        frequency *= 2.03
    return total / _F(norm)
