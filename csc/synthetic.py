"""Synthetic Sentinel-2 scenes of a marine-terminating glacier, with their manual-style labels.

A scene is a fjord of open water (1) with a zone of scattered icebergs (2), a band of ice
melange (3) packed against an irregular calving front, a crevassed glacier tongue (4) under a
snowy upper glacier (5), and rock valley walls (7) carrying snow (6): a few snowfields on
plateaus and upper slopes, some against the snow of the upper glacier, and small patches.
Pixel spectra are drawn from Sentinel-2 surface reflectance of real glacier surfaces
(:mod:`csc.spectra`), lit by a low Arctic sun over a synthetic terrain (hillshade and cast
shadows), with sensor noise.

The scenes are hard in the way real ones are: iceberg water, melange and open water share the
same two spectra (water, and an ice/snow mix for bergs and fragments) and differ by texture
only; snow on ice and snow on rock are the same snow and differ only by what surrounds them
(rock around a patch; rocks poking through a snowfield, whose surface is lit like the
glacier's). Labels (``SCLS_``) leave thin unlabelled gaps along some class boundaries, like
manual ones; ``EDGE_`` holds the calving front and ``VM_`` the valley margins as 1-pixel lines,
both on the glacier side of the boundary (glacier pixels touching ocean, and touching rock or
snow on rock).

Geometry is in pixels of 10 m (UTM zone 24N, East Greenland); every scene of a seed is
reproducible byte for byte.
"""
import dataclasses
import logging
from pathlib import Path

import numpy as np
import scipy.fft as sfft
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage
from skimage.morphology import thin

from csc import spectra
from csc.classes import GLACIER
from csc.errors import SceneSizeError
from csc.rasters import write_class_raster, write_image
from csc.tiling import window_sums

log = logging.getLogger(__name__)

CRS_UTM_24N = CRS.from_epsg(32624)
PIXEL_SIZE = 10.0
MIN_SIZE = 128

OPEN_WATER, ICEBERG_WATER, MELANGE, GLACIER_ICE, SNOW_ON_ICE, SNOW_ON_ROCK, ROCK = range(1, 8)
OCEAN = (OPEN_WATER, ICEBERG_WATER, MELANGE)

_CROSS = ndimage.generate_binary_structure(2, 1)


@dataclasses.dataclass
class SyntheticScene:
    """One synthetic scene: a 4-band image (B4, B3, B2, B8; reflectance x 10000) and its
    rasters on the same grid."""

    image: np.ndarray    # (rows, cols, 4) uint16
    labels: np.ndarray   # (rows, cols) uint8 class ids with unlabelled (0) gaps
    truth: np.ndarray    # (rows, cols) uint8 full class map, no gaps
    edge: np.ndarray     # (rows, cols) uint8, 1 on the calving front
    margins: np.ndarray  # (rows, cols) uint8, 1 on the valley margins
    transform: Affine
    crs: CRS

    @property
    def shape(self):
        return self.truth.shape

    def class_fractions(self):
        """Share of the scene's pixels in each class 1..7 of the full class map."""
        counts = np.bincount(self.truth.ravel(), minlength=8)[1:8]
        return {GLACIER.name_of(i + 1): counts[i] / self.truth.size for i in range(7)}


# --- noise fields ---------------------------------------------------------------------------

def _noise(rng, shape, sigma, *, count=None, beta=0.0, stretch=None):
    """Zero-mean, unit-variance random field(s) of ``shape`` by spectral synthesis.

    ``sigma`` is the Gaussian correlation length in pixels (the finest detail); ``beta`` > 0
    adds a power-law (fractal) spectrum f**-beta above it; ``stretch`` scales the correlation
    length per axis (anisotropic streaks). Fields are computed on a padded grid and cropped, so
    opposite edges are unrelated."""
    shape = tuple(int(n) for n in shape)
    stretch = tuple(stretch) if stretch is not None else (1.0,) * len(shape)
    reach = 3 * sigma * max(stretch) + (max(shape) / 8 if beta else 0)
    padded = tuple(sfft.next_fast_len(n + int(min(reach, n)), real=True) if n > 1 else 1
                   for n in shape)
    lead = () if count is None else (count,)
    white = rng.standard_normal(lead + padded, dtype=np.float32)
    axes = tuple(range(-len(shape), 0))
    spectrum = sfft.rfftn(white, axes=axes)
    f2 = np.zeros(1, dtype=np.float32)
    for i, (n, s) in enumerate(zip(padded, stretch)):
        f = (sfft.rfftfreq(n) if i == len(shape) - 1 else sfft.fftfreq(n)).astype(np.float32)
        f2 = f2 + (f.reshape([-1 if j == i else 1 for j in range(len(shape))]) * s) ** 2
    gain = np.exp(np.float32(-2 * np.pi ** 2 * sigma ** 2) * f2)
    if beta:
        gain *= (np.sqrt(f2) + np.float32(1.0 / max(shape))) ** np.float32(-beta / 2)
    spectrum *= gain
    field = sfft.irfftn(spectrum, s=padded, axes=axes)
    field = field[(Ellipsis,) + tuple(slice(0, n) for n in shape)]
    field = field - field.mean(axis=axes, keepdims=True)
    field /= np.maximum(field.std(axis=axes, keepdims=True), 1e-12)
    return field.astype(np.float32, copy=False)


def _largest(mask):
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == sizes.argmax()


def _touching(mask, edge_row):
    """Components of ``mask`` that touch row ``edge_row`` (0 or -1)."""
    labels, n = ndimage.label(mask)
    keep = np.zeros(n + 1, dtype=bool)
    keep[np.unique(labels[edge_row])] = True
    keep[0] = False
    return keep[labels]


def _drop_small(mask, min_size):
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    keep = np.bincount(labels.ravel()) >= min_size
    keep[0] = False
    return keep[labels]


def _smoothstep(x, lo, hi):
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


# --- layout (canonical frame: glacier flows from row 0 down to the fjord) ----------------------

@dataclasses.dataclass
class _Layout:
    classes: np.ndarray    # uint8: ocean zones, glacier ice, snow on ice, rock (7)
    dem: np.ndarray        # float32 metres
    crevasses: np.ndarray  # float32 (2, rows, cols): dark trough and bright ridge strength
    debris: np.ndarray     # float32 rock fraction: moraines on the glacier (and outcrops in
                           # snowfields on rock, added after the layout)
    foliation: np.ndarray  # float32 flow-parallel brightness streaks


def _layout(rng, size):
    S = size
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    y1 = np.arange(S, dtype=np.float32)                     # row (along flow) and column
    x1 = np.arange(S, dtype=np.float32)                     # coordinates of 1-D profiles
    smooth = _noise(rng, (S, S), S / 24, count=3)          # broad undulations, reused below
    rough = _noise(rng, (S, S), 1.2, beta=3.2)             # fractal roughness, reused below

    # Valley: a meandering centre line, a glacier that widens into its fjord.
    front = S * rng.uniform(0.40, 0.56)
    half_front = S * rng.uniform(0.19, 0.30)
    taper = rng.uniform(0.7, 1.0)
    widen = rng.uniform(0.0, 0.8)
    centre = S * (0.5 + rng.uniform(-0.06, 0.06)) + S * 0.05 * _noise(rng, (S,), S / 7)
    half = np.where(y1 < front, half_front * (taper + (1 - taper) * y1 / front),
                    half_front * (1 + widen * (y1 - front) / S))
    half = (half * (1 + 0.08 * _noise(rng, (S,), S / 10))).astype(np.float32)
    across = (xx - centre[:, None]) / half[:, None]               # -1..1 inside the valley
    coast = _smoothstep(yy, front - 0.04 * S, front + 0.06 * S)   # 0 glacier, 1 fjord coast
    margin = np.abs(across) - 1 + (0.04 + 0.08 * coast) * rough + 0.05 * smooth[0]
    valley = _largest(margin < 0)
    # Nunataks: rock knobs poking through the upper glacier.
    snowline = front * rng.uniform(0.35, 0.6)
    for _ in range(rng.integers(0, 3)):
        cy, cs = rng.uniform(0.1, 0.9) * snowline, rng.uniform(-0.5, 0.5)
        cx = centre[int(cy)] + cs * half[int(cy)]
        radius = S * rng.uniform(0.012, 0.03)
        valley &= ~(np.hypot(yy - cy, xx - cx) + radius * 0.5 * rough < radius)
    # Rock islands big enough to be real stay; specks in the valley are filled.
    outside = ~valley
    border = np.zeros_like(outside)
    border[[0, -1], :] = border[:, [0, -1]] = True
    labels, _ = ndimage.label(outside)
    holes = outside & ~np.isin(labels, np.unique(labels[border & outside]))
    valley |= holes & ~_drop_small(holes, 0.0006 * S * S)

    # Calving front: a noisy, fractal curve across the fjord.
    bulge = S * rng.uniform(-0.04, 0.07)
    c_front = centre[min(int(front), S - 1)]
    s_front = np.clip((x1 - c_front) / half_front, -1.3, 1.3)
    front_line = (front + bulge * (1 - s_front ** 2)
                  + S * rng.uniform(0.01, 0.03) * _noise(rng, (S,), S / 25, beta=2.0)
                  + rng.uniform(1.0, 3.0) * _noise(rng, (S,), 1.0, beta=1.0))
    jag = rng.uniform(1.5, 4.0) * _noise(rng, (S, S), 1.0, beta=2.5)
    glacier = valley & (yy + jag < front_line[None, :])
    glacier = ndimage.binary_opening(glacier, structure=_CROSS, iterations=2)
    glacier = _touching(glacier, 0)
    ocean = _touching(valley & ~glacier, -1)
    # Pockets cut off from the fjord: behind the front they are glacier, elsewhere land.
    pockets, _ = ndimage.label(valley & ~glacier & ~ocean)
    behind = np.unique(pockets[ndimage.binary_dilation(glacier, structure=_CROSS)])
    glacier |= np.isin(pockets, behind[behind > 0])
    valley = glacier | ocean
    rock = ~valley

    # Ocean zones by distance from the ice front: melange, then bergs, then open water.
    room = max(S - (front + max(bulge, 0)) - 0.04 * S, 0.15 * S)
    melange_w = S * rng.uniform(0.04, 0.10)
    bergs_w = S * rng.uniform(0.08, 0.20)
    scale = min(1.0, 0.6 * room / (melange_w + bergs_w))
    melange_w, bergs_w = melange_w * scale, bergs_w * scale
    from_ice = ndimage.distance_transform_edt(~glacier).astype(np.float32) + 1.5 * rough
    melange_edge = melange_w * np.clip(1 + 0.5 * smooth[1], 0.4, None)
    bergs_edge = melange_edge + bergs_w * np.clip(1 + 0.5 * smooth[2], 0.3, None)
    classes = np.full((S, S), ROCK, dtype=np.uint8)
    classes[ocean] = OPEN_WATER
    classes[ocean & (from_ice < bergs_edge)] = ICEBERG_WATER
    classes[ocean & (from_ice < melange_edge)] = MELANGE

    # Glacier: snow above a patchy snowline, bare crevassed ice below it.
    to_ocean = ndimage.distance_transform_edt(~ocean).astype(np.float32)
    snow = glacier & (yy + S * 0.05 * _noise(rng, (S, S), 2.0, beta=2.8) < snowline)
    snow &= to_ocean > 0.1 * S
    classes[glacier] = GLACIER_ICE
    classes[snow] = SNOW_ON_ICE

    # Terrain: a glacier surface rising inland, walls rising away from the valley, cut by
    # gullies running down them.
    z_front = rng.uniform(35, 80)
    slope = rng.uniform(0.01, 0.03)
    inland = np.clip(front - y1, -0.02 * S, None)
    base = np.maximum(z_front + slope * PIXEL_SIZE * inland, 0)
    base = ndimage.gaussian_filter1d(np.where(y1 > front + 0.02 * S, 0, base), 8)
    surface = base[:, None] + 0.02 * PIXEL_SIZE * half[:, None] * (1 - np.clip(across, -1, 1) ** 2)
    surface = surface + 4 * smooth[1]
    to_valley = ndimage.distance_transform_edt(rock).astype(np.float32)
    wall_height = S * PIXEL_SIZE * rng.uniform(0.03, 0.09)       # 300-900 m for 1024 px
    wall = wall_height * (1 - np.exp(-to_valley / (S * rng.uniform(0.1, 0.25))))
    ramp = 1 - np.exp(-to_valley / 6)
    spurs = 1 - np.abs(_noise(rng, (S, S), 7, stretch=(1, 3.5), beta=0.8))   # ridged noise
    relief = 70 * spurs ** 2 + 10 * rough + 0.06 * S * smooth[2]
    dem = np.where(glacier, surface, 0).astype(np.float32)
    dem[rock] = (base[:, None] + wall + relief * ramp)[rock]

    # Crevasses across flow: arcuate bands, chevrons at the margins, chaos near the front.
    spacing = rng.uniform(6.0, 11.0)
    bow = rng.uniform(0.25, 0.6)
    warp = spacing * (0.35 * _noise(rng, (S, S), 30) + 0.1 * rough)
    bend = bow * half[:, None] * np.clip(across, -1.2, 1.2) ** 2
    phase = 2 * np.pi * (yy - bend + warp) / spacing
    trough = np.clip((np.cos(phase) - 0.3) / 0.7, 0, 1) ** 1.5
    ridge = np.clip((np.cos(phase - 1.6) - 0.5) / 0.5, 0, 1)
    split = 2 * np.pi * (xx + warp * 1.5) / (spacing * 1.4)
    trough2 = np.clip((np.cos(split) - 0.5) / 0.5, 0, 1)
    segments = _smoothstep(_noise(rng, (S, S), 3.0, stretch=(1, 3)), -0.4, 0.3)
    to_rock = ndimage.distance_transform_edt(valley).astype(np.float32)
    near_front = np.exp(-to_ocean / (S * rng.uniform(0.08, 0.18)))
    fields = np.clip(0.6 * smooth[0] + 0.5, 0, 1)
    strength = np.clip(np.maximum(near_front, 0.9 * np.exp(-to_rock / 15)) + 0.6 * fields, 0, 1)
    strength = np.where(snow, 0.2 * strength, strength) * glacier
    chaos = np.exp(-to_ocean / 15) * glacier
    dark = np.clip(strength * segments * trough + chaos * trough2, 0, 1)
    bright = np.clip(strength * segments * ridge + 0.5 * chaos * ridge, 0, 1)
    crevasses = np.stack([dark, bright]).astype(np.float32)

    # Moraines: debris along the margins and in medial stripes below the snowline.
    bare = glacier & ~snow
    lateral = 0.7 * np.exp(-to_rock / rng.uniform(2, 5)) * _smoothstep(rough, -1.0, 0.5)
    medial = np.zeros((S, S), dtype=np.float32)
    for _ in range(rng.integers(0, 3)):
        pos, width = rng.uniform(-0.6, 0.6), rng.uniform(1.5, 4.0)
        offset = (across - pos) * half[:, None] + 0.5 * warp
        medial = np.maximum(medial, rng.uniform(0.3, 0.6) * np.exp(-(offset / width) ** 2))
    emerge = _smoothstep(yy, snowline, snowline + 0.1 * S)
    debris = np.where(bare, np.maximum(lateral, medial * emerge), 0)
    foliation = np.where(glacier, _noise(rng, (S, S), 2.0, stretch=(6, 1)), 0)
    return _Layout(classes=classes, dem=dem, crevasses=crevasses,
                   debris=debris.astype(np.float32), foliation=foliation.astype(np.float32))


# --- icebergs and melange -------------------------------------------------------------------

def _power_law(rng, n, lo, hi, alpha):
    """Radii with density ~ r**-alpha on [lo, hi]."""
    u = rng.uniform(size=n)
    a = 1 - alpha
    return (lo ** a + u * (hi ** a - lo ** a)) ** (1 / a)


def _mean_square(lo, hi, alpha):
    """Mean of r**2 for radii with density ~ r**-alpha on [lo, hi] (alpha not 1 or 3)."""
    def integral(k):
        return (hi ** (k + 1 - alpha) - lo ** (k + 1 - alpha)) / (k + 1 - alpha)
    return integral(2) / integral(0)


def _poisson_points(rng, density):
    """Row and column of points of a Poisson process with ``density`` points per pixel (at
    most one per pixel)."""
    expected = float(density.sum())
    n = min(int(rng.poisson(expected)) if expected > 0 else 0, int(np.count_nonzero(density)))
    if n == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    flat = density.ravel().astype(np.float64)
    where = rng.choice(flat.size, size=n, replace=False, p=flat / flat.sum())
    return np.divmod(where, density.shape[1])


def _rasterise_pieces(rng, shape, rows, cols, radius, rough, *, cracks=None):
    """Coverage (0..1) and piece index (0..n-1) of ice pieces centred at (rows, cols).

    Each pixel belongs to its nearest centre (one distance transform); a piece covers pixels
    within its radius in a rotated, stretched p-norm, so pieces are angular and elongated, with
    an anti-aliased rim. ``cracks`` (0..1 map) opens water along the seams between pieces."""
    n = len(rows)
    if n == 0:
        return np.zeros(shape, np.float32), np.zeros(shape, np.intp)
    angle = rng.uniform(0, np.pi, n)
    aspect = rng.uniform(1.0, 1.8, n)
    power = rng.uniform(1.4, 4.0, n)
    seeds = np.ones(shape, bool)
    seeds[rows, cols] = False
    index = np.full(shape, -1, np.intp)
    index[rows, cols] = np.arange(n)
    _, (iy, ix) = ndimage.distance_transform_edt(seeds, return_indices=True)
    nearest = index[iy, ix]
    grid_y, grid_x = np.indices(shape, dtype=np.float32)
    dy, dx = grid_y - iy, grid_x - ix
    cos, sin = np.cos(angle)[nearest], np.sin(angle)[nearest]
    a, p = aspect[nearest], power[nearest]
    u = np.abs(dx * cos + dy * sin) / a + 1e-3
    v = np.abs(dy * cos - dx * sin) * a + 1e-3
    dist = (u ** p + v ** p) ** (1 / p) * (1 + 0.25 * rough)
    cover = np.clip(radius[nearest] - dist + 0.5, 0, 1)
    if cracks is not None:
        seam = np.zeros(shape, bool)
        seam[:, 1:] |= nearest[:, 1:] != nearest[:, :-1]
        seam[1:, :] |= nearest[1:, :] != nearest[:-1, :]
        cover = np.where(seam, cover * (1 - cracks), cover)
    return cover.astype(np.float32), nearest


def _ice_pieces(rng, classes):
    """Coverage, snow share and freeboard (m) of icebergs and melange fragments."""
    shape = classes.shape
    rough = _noise(rng, shape, 0.8, beta=1.0)
    ocean = np.isin(classes, OCEAN)

    # Icebergs: power-law sizes, patchy in the iceberg-water zone, rare in open water; a few
    # large tabular bergs calved from the front drift in the melange.
    r_hi, alpha = rng.uniform(7, 14), rng.uniform(2.3, 2.9)
    mean_area = np.pi * _mean_square(0.6, r_hi, alpha) + 1.0        # rims add about a pixel
    patchy = np.clip(0.6 + 0.5 * _noise(rng, shape, shape[0] / 20), 0.1, 1.6)
    density = np.zeros(shape, np.float32)
    density[classes == ICEBERG_WATER] = rng.uniform(0.12, 0.3) / mean_area
    density *= patchy
    density[classes == OPEN_WATER] = rng.uniform(0.001, 0.004) / mean_area
    melange = classes == MELANGE
    density[melange] = rng.uniform(1, 6) / max(np.count_nonzero(melange), 1)
    rows, cols = _poisson_points(rng, density)
    tabular = classes[rows, cols] == MELANGE
    radius = np.where(tabular, rng.uniform(6, 18, len(rows)),
                      _power_law(rng, len(rows), 0.6, r_hi, alpha)).astype(np.float32)
    bergs, berg_id = _rasterise_pieces(rng, shape, rows, cols, radius, rough)
    berg_snow = _snow_share(rng, len(rows))
    berg_height = np.clip(5.0 * radius ** 0.7 * rng.uniform(0.6, 1.4, len(rows)), 2, 60)

    # Melange: densely packed fragments with water in some seams between them.
    spacing = rng.uniform(2.2, 3.5)
    dense = np.where(classes == MELANGE, 1.0 / spacing ** 2, 0).astype(np.float32)
    rows, cols = _poisson_points(rng, dense)
    radius = (_power_law(rng, len(rows), 0.7, 3.0, 2.0) * spacing).astype(np.float32)
    cracks = _smoothstep(_noise(rng, shape, 3.0), -0.2, 1.0)
    frags, frag_id = _rasterise_pieces(rng, shape, rows, cols, radius, rough, cracks=cracks)
    frags *= np.clip(0.8 + 0.4 * _noise(rng, shape, 6), 0, 1)
    frag_snow = _snow_share(rng, len(rows))
    frag_height = rng.uniform(2, 6, len(rows))

    use_berg = bergs >= frags
    cover = np.where(ocean, np.maximum(bergs, frags), 0)
    snow = np.where(use_berg, _lookup(berg_snow, berg_id), _lookup(frag_snow, frag_id))
    height = np.where(use_berg, _lookup(berg_height, berg_id), _lookup(frag_height, frag_id))
    return cover.astype(np.float32), snow.astype(np.float32), (height * cover).astype(np.float32)


def _snow_share(rng, n):
    """Share of snow (the rest glacier ice) in the spectrum of each of ``n`` ice pieces; bergs
    and melange fragments draw from this one distribution."""
    return rng.beta(1.5, 1.5, n).astype(np.float32)


def _lookup(values, index):
    if len(values) == 0:
        return np.zeros(index.shape, np.float32)
    return values[np.clip(index, 0, None)]


# --- light ----------------------------------------------------------------------------------

def _illumination(dem, *, sun_azimuth, sun_elevation, pixel_size=PIXEL_SIZE, shadows=True):
    """Direct-light factor of each pixel: 1 on flat ground in sun, higher on slopes facing the
    sun, 0 in cast shadow (unless ``shadows`` is false) or on slopes facing away (north-up
    grid of ``pixel_size`` m)."""
    el, az = np.radians(sun_elevation), np.radians(sun_azimuth)
    gy, gx = np.gradient(dem, pixel_size)
    east, north = -gx, gy                      # rows run south
    sun = np.array([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)])
    incidence = (east * sun[0] + north * sun[1] + sun[2]) / np.sqrt(gx ** 2 + gy ** 2 + 1)
    direct = np.clip(incidence, 0, None) / np.sin(el)
    if not shadows:
        return direct.astype(np.float32)
    # Cast shadows along the columns (the sun is in the south at a Sentinel-2 overpass): a
    # pixel is shaded when terrain to its south rises above the sun ray through it.
    reach = dem - np.arange(dem.shape[0], dtype=np.float32)[:, None] * pixel_size * np.tan(el)
    horizon = np.maximum.accumulate(reach[::-1], axis=0)[::-1]
    shaded = np.zeros(dem.shape, bool)
    shaded[:-1] = horizon[1:] > reach[:-1] + 0.5
    lit = ndimage.gaussian_filter((~shaded).astype(np.float32), 0.7)
    return (direct * lit).astype(np.float32)


# --- spectra --------------------------------------------------------------------------------

#: How each material's log-reflectance variance (the measured one, across sites and dates)
#: splits between a scene-wide offset, broad (fractal) and fine patterns, and per-pixel
#: variation. Snow and shadowed snow share one draw.
_TEXTURE = {"water": (0.6, 0.75, 0.1, 0.25), "ice": (0.6, 0.45, 0.4, 0.3),
            "snow": (0.75, 0.25, 0.35, 0.35), "rock": (0.5, 0.5, 0.6, 0.35)}
_TEXTURE["shadowed snow"] = _TEXTURE["snow"]


class _Spectra:
    """Per-pixel reflectance x 10000 of each material, drawn on demand for a set of pixels.

    One set of shocks (broad, fine, per-pixel; 4 bands each) serves every material: a pixel
    shows one material, or a mix of ice and snow that should vary together anyway."""

    def __init__(self, rng, shape):
        n = shape[0] * shape[1]
        self.broad = _noise(rng, shape, 3.0, beta=3.0, count=4).reshape(4, n)
        self.fine = _noise(rng, shape, 0.8, beta=1.5, count=4).reshape(4, n)
        self.white = rng.standard_normal((4, n), dtype=np.float32)
        offsets = {m: rng.standard_normal((4, 1)).astype(np.float32)
                   for m in ("water", "ice", "snow", "rock")}
        self.offset = dict(offsets, **{"shadowed snow": offsets["snow"]})

    def __call__(self, material, index):
        w, a, b, c = np.array(_TEXTURE[material]) / np.linalg.norm(_TEXTURE[material])
        shocks = (np.float32(w) * self.offset[material]
                  + np.float32(a) * self.broad[:, index] + np.float32(b) * self.fine[:, index]
                  + np.float32(c) * self.white[:, index])
        log_mean, log_cov = spectra.lognormal_parameters(material)
        chol = np.linalg.cholesky(log_cov).astype(np.float32)
        return np.exp(log_mean.astype(np.float32)[:, None] + chol @ shocks).T   # (n, 4)


def _render(rng, truth, layout, cover, berg_snow, direct):
    """Reflectance x 10000 (rows, cols, 4) of a scene."""
    shape = truth.shape
    draw = _Spectra(rng, shape)
    diffuse = spectra.DIFFUSE_RATIO.astype(np.float32)
    flat, sun = truth.ravel(), direct.ravel()

    def light(index):          # per band: diffuse sky light plus direct sun; 1 on flat ground
        return diffuse + (1 - diffuse) * sun[index, None]

    def snow(index):           # shadowed snow in shade, brighter on slopes facing the sun
        shade = draw("shadowed snow", index)
        return shade + sun[index, None] * (draw("snow", index) - shade)

    def crevassed(index):      # troughs lit by the sky only, sunlit ridges brighter
        dark = layout.crevasses[0].ravel()[index, None]
        bright = layout.crevasses[1].ravel()[index, None]
        return (diffuse + (1 - diffuse) * (1 - dark)) * (1 - 0.4 * dark) * (1 + 0.4 * bright)

    image = np.empty((flat.size, 4), np.float32)
    sea = np.flatnonzero(np.isin(flat, OCEAN))
    image[sea] = draw("water", sea) * light(sea)
    bergs = sea[cover.ravel()[sea] > 0]
    share, mix = cover.ravel()[bergs, None], berg_snow.ravel()[bergs, None]
    pieces = mix * snow(bergs) + (1 - mix) * draw("ice", bergs) * light(bergs)
    image[bergs] = share * pieces + (1 - share) * image[bergs]

    ice = np.flatnonzero(flat == GLACIER_ICE)
    debris = layout.debris.ravel()[ice, None]
    surface = draw("ice", ice) * crevassed(ice) * (1 + 0.06 * layout.foliation.ravel()[ice, None])
    image[ice] = ((1 - debris) * surface + debris * draw("rock", ice)) * light(ice)
    firn = np.flatnonzero(flat == SNOW_ON_ICE)
    image[firn] = snow(firn) * crevassed(firn)
    patches = np.flatnonzero(flat == SNOW_ON_ROCK)
    grit = layout.debris.ravel()[patches, None]            # rock poking through snowfields
    image[patches] = (1 - grit) * snow(patches) + grit * draw("rock", patches) * light(patches)
    rock = np.flatnonzero(flat == ROCK)
    image[rock] = draw("rock", rock) * light(rock)

    # The optics blur the sharpest edges a little; then sensor noise.
    image = ndimage.gaussian_filter(image.reshape(shape + (4,)), sigma=(0.45, 0.45, 0))
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(30)
    return np.clip(np.rint(image), 1, 65535).astype(np.uint16)


# --- labels ---------------------------------------------------------------------------------

#: Snow lying on the walls damps the rock's relief between these Gaussian scales (px) by
#: this share: drifts fill the gullies and cover the ribs.
_SNOW_SCALES = (2.0, 20.0)
_SNOW_DAMPING = 0.9


def _snow_surface(dem, *, scales=_SNOW_SCALES, damping=_SNOW_DAMPING):
    """The surface of snow lying on the terrain ``dem``: drifted snow fills the gullies and
    evens out the ribs, so relief between the two Gaussian ``scales`` (px) is damped by
    ``damping``; the finest roughness and the lie of the land stay."""
    fine, broad = scales
    band = (ndimage.gaussian_filter(dem, fine, mode="nearest")
            - ndimage.gaussian_filter(dem, broad, mode="nearest", truncate=3.0))
    return dem - damping * band


def _snowfields(rng, classes, dem, *, high, sun, gully, budget):
    """Contiguous snowfields on the walls: perennial snow on plateaus, benches and upper
    slopes, one of them (where the walls allow) against the snow of the upper glacier.

    Fields are irregular blobs about 120-200 px across (scaled down in scenes under 512 px),
    drawn out along the contours and reaching a little down gullies, never onto the cliffs
    just above the fjord. They lie high up, where their snow surface would face the sun about
    as squarely as the glacier does. They are added until they cover about ``budget`` pixels
    and at least two (three from 768 px) hold three whole 50 px tiles each (from 512 px; a
    field holding none is dropped). ``high`` is the height on the walls scaled 0..1 and
    ``gully`` the normalised local hollowness. Returns a boolean mask of rock pixels."""
    shape = classes.shape
    rock = classes == ROCK
    fields = np.zeros(shape, bool)
    if not rock.any():
        return fields
    scale = min(1.0, min(shape) / 512)
    small = scale ** 1.5                # fields shrink faster than the walls in small scenes
    wanted = 3 if min(shape) >= 768 else 2
    ocean = np.isin(classes, OCEAN)
    buffer = 20 * scale

    # Centres are drawn on a coarse grid, where distances and light are cheap and close enough.
    step = max(1, min(shape) // 256)
    grid = (slice(None, None, step),) * 2
    to_valley = step * ndimage.distance_transform_edt(rock[grid])
    to_ocean = step * ndimage.distance_transform_edt(~ocean[grid])
    to_firn = step * ndimage.distance_transform_edt(classes[grid] != SNOW_ON_ICE)
    rows, cols = np.ogrid[0:shape[0]:step, 0:shape[1]:step]
    to_border = np.minimum(np.minimum(rows, shape[0] - 1 - rows),
                           np.minimum(cols, shape[1] - 1 - cols))
    surface = _snow_surface(dem[grid], scales=tuple(s / step for s in _SNOW_SCALES))
    glare = np.abs(_illumination(surface, pixel_size=PIXEL_SIZE * step, shadows=False, **sun)
                   - 1)
    glare = ndimage.gaussian_filter(glare, 10 * scale / step)
    weight = np.exp(2.5 * high[grid] - 6.0 * glare)
    free, made, firn_tries = rock[grid] & (to_ocean > buffer), 0, 3
    for _ in range(12):
        area = np.count_nonzero(fields)
        if ((made >= wanted and budget - area < 0.5 * np.pi * (60 * small) ** 2)
                or area >= 1.25 * budget):
            break
        # Fields share the budget: once it is mostly spent, only small ones are added.
        left = max(budget - area, 0) / max(wanted - made, 1)
        radius = min(rng.uniform(60, 100) * small, max(60 * small, np.sqrt(1.2 * left / np.pi)))
        aspect, turn = rng.uniform(1.0, 1.3), rng.uniform(-0.5, 0.5)
        inside = free & (to_border > 0.6 * radius) & (to_ocean > radius + buffer)
        beside_firn = inside & (to_firn > 0.15 * radius) & (to_firn < 0.45 * radius)
        beside = firn_tries > 0 and beside_firn.any()
        firn_tries -= 1
        if beside:
            candidates = beside_firn
        else:
            candidates = inside & (to_valley > 0.6 * radius)
            if not candidates.any():
                candidates = inside if inside.any() else free
        if not candidates.any():
            break
        if (candidates & (glare < 0.15)).any():
            candidates &= glare < 0.15
        flat = np.flatnonzero(candidates)
        p = weight.ravel()[flat]
        i, j = np.divmod(flat[rng.choice(flat.size, p=p / p.sum())], free.shape[1])
        cy, cx = i * step, j * step
        # Long axis along the wall: across the local gradient of the distance to the valley.
        near = (slice(max(i - 2, 0), i + 3), slice(max(j - 2, 0), j + 3))
        gy, gx = (float(g.mean()) for g in np.gradient(to_valley[near]))
        angle = np.arctan2(gy, -gx) + turn
        reach = int(np.ceil(1.55 * radius * np.sqrt(aspect))) + 2
        top, left_col = max(cy - reach, 0), max(cx - reach, 0)
        win = (slice(top, cy + reach + 1), slice(left_col, cx + reach + 1))
        dy = (np.arange(top, min(cy + reach + 1, shape[0])) - cy)[:, None]
        dx = (np.arange(left_col, min(cx + reach + 1, shape[1])) - cx)[None, :]
        along = dy * np.cos(angle) + dx * np.sin(angle)
        across = dx * np.cos(angle) - dy * np.sin(angle)
        rho = np.hypot(along / np.sqrt(aspect), across * np.sqrt(aspect)) / radius
        land = rock[win] & (high[win] > high[cy, cx] - 0.3)
        pad = int(np.ceil(buffer)) + 1
        outer = (slice(max(top - pad, 0), cy + reach + 1 + pad),
                 slice(max(left_col - pad, 0), cx + reach + 1 + pad))
        if ocean[outer].any():
            shore = ndimage.distance_transform_edt(~ocean[outer])
            land &= shore[top - outer[0].start:, left_col - outer[1].start:][
                :land.shape[0], :land.shape[1]] > buffer
        outline = np.clip(_noise(rng, rho.shape, 4.0 * scale + 1.0, beta=2.5), -1.5, 1.5)
        blob = (rho + 0.15 * outline - 0.05 * np.clip(gully[win], -2, 2) < 1) & land
        labels, n = ndimage.label(blob)
        if n == 0:
            continue
        own = labels[cy - top, cx - left_col]
        blob = labels == own if own else _largest(blob)
        blob = ndimage.binary_fill_holes(blob) & land
        # From 512 px a field counts once it holds three whole 50 px tiles (25 px apart) and
        # stays if it holds one and lies against the glacier's snow.
        tiles = 3 if scale < 1 else _whole_tiles(blob, top, left_col)
        taken = fields.copy()
        taken[win] |= blob
        free &= step * ndimage.distance_transform_edt(~taken[grid]) > radius + 10
        if tiles >= 3 or (beside and tiles >= 1):
            fields = taken
            made += tiles >= 3
            firn_tries = 0 if beside else firn_tries
    return fields


def _whole_tiles(mask, top, left, *, tile=50, stride=25, share=0.95):
    """How many ``tile`` px squares on the scene's ``stride`` grid lie (by ``share``) in
    ``mask``, a window whose first pixel is at (``top``, ``left``) in the scene."""
    first = [(-start) % stride for start in (top, left)]
    if any(f + tile > n for f, n in zip(first, mask.shape)):
        return 0
    rows, cols = (np.arange(f, n - tile + 1, stride) for f, n in zip(first, mask.shape))
    rows, cols = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    return int(np.count_nonzero(window_sums(mask, tile, rows, cols) >= share * tile * tile))


def _snow_filled(dem, fields):
    """``dem`` with the snow surface (:func:`_snow_surface`) over ``fields``, feathered into
    the bare rock around them; computed field by field, in windows."""
    out = dem.copy()
    labels, _ = ndimage.label(fields)
    pad = int(3 * _SNOW_SCALES[1]) + 1
    for k, box in enumerate(ndimage.find_objects(labels), start=1):
        outer = tuple(slice(max(b.start - pad, 0), b.stop + pad) for b in box)
        cover = ndimage.gaussian_filter((labels[outer] == k).astype(np.float32), 2.0)
        out[outer] += cover * (_snow_surface(dem[outer]) - dem[outer])
    return out


def _snow_on_rock(rng, classes, dem, *, sun):
    """Snow on the walls, and the terrain under it: a few large snowfields (most of the snow)
    with rock poking through here and there, and small patches up high, in gullies and on
    benches (gentle slopes); together about 7-12 % of the scene.

    Returns the class map, the direct-light factor (:func:`_illumination` of the terrain
    with the snowfields' surface) and the share of rock seen in each pixel of the fields'
    outcrops (0 elsewhere). Like moraine on glacier ice, the outcrops belong to their
    snowfield's class, as a labeller outlining the field has it."""
    rock = classes == ROCK
    if not rock.any():
        return classes, _illumination(dem, **sun), np.zeros(classes.shape, np.float32)
    high = (dem - dem[rock].min()) / max(float(np.ptp(dem[rock])), 1.0)
    gully = ndimage.gaussian_filter(dem, 4) - dem
    gully /= max(float(gully[rock].std()), 1e-6)
    target = rng.uniform(0.07, 0.10) * classes.size
    fields = _snowfields(rng, classes, dem, high=high, sun=sun, gully=gully,
                         budget=rng.uniform(0.8, 0.9) * target)
    # Light on the terrain under the fields' snow surface (bare rock is lit as before).
    direct = _illumination(_snow_filled(dem, fields), **sun)
    score = (1.6 * high - 2.0 * np.abs(direct - 1) + 0.35 * np.clip(gully, -2, 2)
             + 0.6 * _noise(rng, classes.shape, 4, beta=2.0))
    rest = rock & ~fields
    share = np.clip((target - np.count_nonzero(fields)) / max(np.count_nonzero(rest), 1),
                    0.015, 0.22)
    patches = rest & (score > np.quantile(score[rest], 1 - share)) if rest.any() else rest
    patches = _drop_small(ndimage.binary_opening(patches, structure=_CROSS), 12)
    # Rocks poke through about 3 % of the fields, scattered, a little more on knobs and ribs
    # than in hollows: seen from close by, a snowfield on rock is not the glacier's snow.
    outcrops = np.zeros(classes.shape, np.float32)
    if fields.any():
        knobs = ndimage.gaussian_filter(rng.standard_normal(classes.shape, dtype=np.float32), 0.7)
        knobs = knobs / knobs.std() - 0.2 * np.clip(gully, -2, 2)
        above = knobs - np.quantile(knobs[fields], 0.97)
        outcrops[fields] = np.where(above[fields] > 0, np.clip(0.6 + above[fields], 0, 1), 0)
    out = classes.copy()
    out[fields | patches] = SNOW_ON_ROCK
    return out, direct, outcrops


def _boundary_line(inner, outer):
    """1-pixel line of ``inner`` pixels that touch ``outer`` (4-neighbours), thinned."""
    touching = inner & ndimage.binary_dilation(outer, structure=_CROSS)
    return thin(touching).astype(np.uint8)


def adjacent_pairs(classes):
    """Sorted (a, b) class pairs, a < b, that share a boundary (4-neighbours)."""
    pairs = set()
    for first, second in ((classes[:, :-1], classes[:, 1:]), (classes[:-1], classes[1:])):
        differ = first != second
        a, b = first[differ].astype(np.int32), second[differ].astype(np.int32)
        codes = np.unique(np.minimum(a, b) * 256 + np.maximum(a, b))
        pairs |= {(int(c) // 256, int(c) % 256) for c in codes}
    return sorted(pairs)


def _gaps(rng, truth):
    """Unlabelled strips (1-3 px) along parts of the boundaries of some class pairs (at most
    half of them), as a manual labeller leaves; at most about 5 % of the scene."""
    pairs = adjacent_pairs(truth)
    gaps = np.zeros(truth.shape, bool)
    if not pairs:
        return gaps
    grown = {}

    def near(c, width):
        if width == 0:
            return np.zeros(truth.shape, bool)
        if (c, width) not in grown:
            grown[c, width] = ndimage.binary_dilation(truth == c, structure=_CROSS,
                                                      iterations=width)
        return grown[c, width]

    budget = 0.05 * truth.size
    patches = _noise(rng, truth.shape, 12)
    count = int(rng.integers(max(1, len(pairs) // 3), len(pairs) // 2 + 2))
    chosen = rng.permutation(len(pairs))[:count]
    for i in chosen:
        a, b = pairs[i]
        width = int(rng.integers(1, 4))
        on_a = int(rng.integers(0, width + 1))
        strip = ((truth == a) & near(b, on_a)) | ((truth == b) & near(a, width - on_a))
        partial = strip & (patches > rng.uniform(-0.8, 0.3))
        strip = partial if partial.any() else strip
        if np.count_nonzero(gaps | strip) <= budget:
            gaps |= strip
    if not gaps.any():                     # every choice was too long: a 1-px strip instead
        a, b = pairs[chosen[0]]
        gaps = (truth == a) & near(b, 1) & (patches > 0)
    return gaps


# --- scenes ---------------------------------------------------------------------------------

def make_scene(size, *, seed):
    """One synthetic glacier scene of ``size`` x ``size`` pixels (10 m, UTM 24N).

    The layout (orientation, fjord width, tongue length, front shape, melange width, berg
    density, snowline, sun) varies with ``seed``; the same seed gives identical arrays.
    Raises ``SceneSizeError`` (a ``ValueError``) below 128 pixels."""
    size = int(size)
    if size < MIN_SIZE:
        raise SceneSizeError(f"synthetic scenes must be at least {MIN_SIZE} pixels square so "
                             f"every class fits; got size {size}. Use size >= {MIN_SIZE}")
    rng = np.random.default_rng(seed)
    layout = _layout(rng, size)
    turns, flip = int(rng.integers(4)), bool(rng.integers(2))

    def orient(array):
        array = np.rot90(array, turns, axes=(-2, -1))
        return np.ascontiguousarray(array[..., ::-1] if flip else array)

    layout = _Layout(**{f.name: orient(getattr(layout, f.name))
                        for f in dataclasses.fields(_Layout)})
    classes = layout.classes
    cover, berg_snow, freeboard = _ice_pieces(rng, classes)
    dem = layout.dem + freeboard
    sun = {"sun_azimuth": rng.uniform(165, 195), "sun_elevation": rng.uniform(28, 42)}
    truth, direct, outcrops = _snow_on_rock(rng, classes, dem, sun=sun)
    layout = dataclasses.replace(layout, debris=np.maximum(layout.debris, outcrops))
    image = _render(rng, truth, layout, cover, berg_snow, direct)

    glacier = np.isin(truth, (GLACIER_ICE, SNOW_ON_ICE))
    edge = _boundary_line(glacier, np.isin(truth, OCEAN))
    margins = _boundary_line(glacier, np.isin(truth, (SNOW_ON_ROCK, ROCK)))
    labels = np.where(_gaps(rng, truth), 0, truth).astype(np.uint8)

    # Somewhere on the coast of Sermilik Fjord and its neighbours (Helheim Glacier lies at
    # about 536 km E, 7359 km N), on the 10 m grid.
    east = PIXEL_SIZE * np.round(rng.uniform(430_000, 590_000) / PIXEL_SIZE)
    north = PIXEL_SIZE * np.round(rng.uniform(7_230_000, 7_400_000) / PIXEL_SIZE)
    transform = Affine(PIXEL_SIZE, 0.0, east, 0.0, -PIXEL_SIZE, north)
    return SyntheticScene(image=image, labels=labels, truth=truth, edge=edge, margins=margins,
                          transform=transform, crs=CRS_UTM_24N)


def write_scene(scene, folder, stem):
    """Write ``<stem>.tif`` and its SCLS_, EDGE_ and VM_ rasters into ``folder``; returns the
    image path."""
    folder = Path(folder)
    geo = {"crs": scene.crs, "transform": scene.transform}
    path = write_image(folder / f"{stem}.tif", scene.image, **geo)
    write_class_raster(folder / f"SCLS_{stem}.tif", scene.labels, schema=GLACIER, **geo)
    write_image(folder / f"EDGE_{stem}.tif", scene.edge, **geo)
    write_image(folder / f"VM_{stem}.tif", scene.margins, **geo)
    return path


def write_scenes(out_dir, *, scenes, size, seed):
    """Write ``scenes`` synthetic scenes ``scene_000.tif`` ... into ``out_dir`` (scene i uses
    seed ``seed + i``); returns the image paths."""
    scenes, size = int(scenes), int(size)
    if scenes < 1:
        raise SceneSizeError(f"asked for {scenes} synthetic scenes; ask for at least one")
    if size < MIN_SIZE:
        raise SceneSizeError(f"synthetic scenes must be at least {MIN_SIZE} pixels square so "
                             f"every class fits; got size {size}. Use size >= {MIN_SIZE}")
    paths = []
    for i in range(scenes):
        scene = make_scene(size, seed=seed + i)
        paths.append(write_scene(scene, out_dir, f"scene_{i:03d}"))
        log.info("wrote %s (%dx%d, seed %d)", paths[-1], size, size, seed + i)
    return paths
