"""Per-pixel features for the LightGBM and random-forest baselines, vectorised.

For every pixel: the scaled bands; normalised differences of the bands identified by role
(NDWI green/NIR, NDVI NIR/red, NDSI green/SWIR when a SWIR band exists); with
``illumination``, in place of the bands, every band divided by the pixel's brightness (the mean
of its bands) and the log of that brightness — the same information, split into band ratios,
which shadow and sun angle change much less than the bands (shadowed snow differs from ice
mostly in them), and an overall level; and, for a window ``K`` > 1, the local
mean and standard deviation of every band over the K×K window centred on the pixel
(:func:`scipy.ndimage.uniform_filter`) — a texture cue.

Three entry points compute the same numbers, so a learner trained on sampled patches predicts
consistently on strips of a whole image:

- :func:`patch_features` — from K×K patches ``(n, K, K, bands)`` (training samples);
- :func:`strip_features` — from an array already padded by ``K // 2`` on every side (the
  prediction strips of phase two), giving one feature vector per interior pixel;
- :func:`pixel_features` — from a whole image, reflect-padded at its borders (numpy
  ``reflect``, i.e. scipy ``mirror``: the edge pixel is not repeated).
"""
import numpy as np
from scipy import ndimage as ndi

from csc.errors import BandError
from csc.options import PATCH_SIZE

#: Band roles a feature can use.
ROLES = ("red", "green", "blue", "nir", "swir", "")
#: Default band order of the method: Sentinel-2 B4 red, B3 green, B2 blue, B8 NIR.
DEFAULT_ROLES = ("red", "green", "blue", "nir")
#: Normalised differences (name, a, b) = (a − b) / (a + b), used when both roles exist.
NORMALISED_DIFFERENCES = (("ndwi", "green", "nir"), ("ndvi", "nir", "red"),
                          ("ndsi", "green", "swir"))
_EPS = 1e-6
#: Smallest brightness (scaled units) the illumination features divide by.
MIN_BRIGHTNESS = 1e-3


def default_roles(n_bands):
    """Roles of ``n_bands`` bands in the method's default order: B4, B3, B2, B8 for four or more
    bands (extra bands have no role), red, green, blue for three, none otherwise."""
    if n_bands >= 4:
        return DEFAULT_ROLES + ("",) * (n_bands - 4)
    if n_bands == 3:
        return DEFAULT_ROLES[:3]
    return ("",) * n_bands


def parse_roles(roles, n_bands):
    """Band roles as a tuple of length ``n_bands`` from None (defaults), a comma-separated text
    (``"red,green,blue,nir"``; empty entries or ``-`` for bands without a role) or a
    sequence."""
    if roles is None:
        return default_roles(n_bands)
    if isinstance(roles, str):
        roles = [r.strip() for r in roles.split(",")]
    roles = tuple("" if r in ("-", None) else str(r).strip().lower() for r in roles)
    if len(roles) != n_bands:
        raise BandError(f"band roles {','.join(roles)!r} name {len(roles)} band(s) but the image "
                        f"has {n_bands}; give one role per band, e.g. red,green,blue,nir")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise BandError(f"unknown band role(s) {unknown}; use {', '.join(r for r in ROLES if r)} "
                        "or - for a band without a role")
    named = [r for r in roles if r]
    if len(set(named)) != len(named):
        raise BandError(f"band roles {','.join(roles)!r} repeat a role; each role names one band")
    return roles


def _differences(roles):
    where = {r: i for i, r in enumerate(roles) if r}
    return [(name, where[a], where[b]) for name, a, b in NORMALISED_DIFFERENCES
            if a in where and b in where]


def feature_names(roles, *, window=1, illumination=False):
    """Names of the features :func:`pixel_features` returns, in order."""
    bands = [f"band{i + 1}" + (f"_{r}" if r else "") for i, r in enumerate(roles)]
    names = ([f"{b}_relative" for b in bands] + ["log_brightness"] if illumination
             else list(bands))
    names += [name for name, _, _ in _differences(roles)]
    if window > 1:
        names += [f"{b}_mean{window}" for b in bands] + [f"{b}_std{window}" for b in bands]
    return names


def _check_window(window):
    return PATCH_SIZE.check(window, label="the feature window")


def spectral_features(pixels, roles, illumination=False):
    """Bands (with ``illumination``: relative bands and log brightness) and normalised
    differences of (..., bands) pixels -> (..., F) float32: per pixel, so the features of a
    patch are the patch of the features (the phase-two network's input planes)."""
    pixels = np.asarray(pixels, dtype=np.float32)
    out = [pixels]
    if illumination:
        brightness = np.maximum(pixels.mean(axis=-1, keepdims=True), MIN_BRIGHTNESS)
        out = [pixels / brightness, np.log(brightness)]
    for _, a, b in _differences(roles):
        num = pixels[..., a] - pixels[..., b]
        den = pixels[..., a] + pixels[..., b]
        out.append((num / np.where(np.abs(den) < _EPS, _EPS, den))[..., None])
    return np.concatenate(out, axis=-1).astype(np.float32, copy=False)


def _check_bands(data, roles):
    if data.shape[-1] != len(roles):
        raise BandError(f"the data has {data.shape[-1]} band(s) but {len(roles)} band role(s) "
                        "were given; pass one role per band")


def strip_features(padded, *, roles, window=1, illumination=False):
    """Features of the interior pixels of ``padded`` (rows + 2h, cols + 2h, bands), an array
    already padded by ``h = window // 2`` on every side -> (rows, cols, F) float32."""
    window = _check_window(window)
    padded = np.asarray(padded)
    _check_bands(padded, roles)
    h = window // 2
    rows, cols = padded.shape[0] - 2 * h, padded.shape[1] - 2 * h
    if rows < 1 or cols < 1:
        raise ValueError(f"a strip padded by {h} must be larger than {2 * h} pixels each way, "
                         f"got {padded.shape[:2]}")
    inner = padded[h:h + rows, h:h + cols]
    spectral = spectral_features(inner, roles, illumination)
    if window == 1:
        return spectral
    data = padded.astype(np.float64)
    size = (window, window, 1)
    mean = ndi.uniform_filter(data, size=size, mode="mirror")[h:h + rows, h:h + cols]
    square = ndi.uniform_filter(data * data, size=size, mode="mirror")[h:h + rows, h:h + cols]
    std = np.sqrt(np.maximum(square - mean * mean, 0.0))
    return np.concatenate([spectral, mean.astype(np.float32), std.astype(np.float32)], axis=-1)


def pixel_features(image, *, roles, window=1, illumination=False):
    """Features of every pixel of ``image`` (rows, cols, bands), reflect-padded at the image
    borders -> (rows, cols, F) float32."""
    window = _check_window(window)
    h = window // 2
    image = np.asarray(image)
    if h:
        image = np.pad(image, ((h, h), (h, h), (0, 0)), mode="reflect")
    return strip_features(image, roles=roles, window=window, illumination=illumination)


def patch_features(patches, *, roles, illumination=False):
    """Features of the centre pixels of K×K patches ``(n, K, K, bands)`` -> (n, F) float32;
    equal to :func:`pixel_features` with ``window=K`` at those pixels."""
    patches = np.asarray(patches)
    if patches.ndim != 4 or patches.shape[1] != patches.shape[2] or patches.shape[1] % 2 == 0:
        raise ValueError(f"patches must be (n, K, K, bands) with K odd, got {patches.shape}")
    _check_bands(patches, roles)
    k = patches.shape[1]
    spectral = spectral_features(patches[:, k // 2, k // 2], roles, illumination)
    if k == 1:
        return spectral
    data = patches.astype(np.float64)
    mean = data.mean(axis=(1, 2))
    std = np.sqrt(np.maximum((data * data).mean(axis=(1, 2)) - mean * mean, 0.0))
    return np.concatenate([spectral, mean.astype(np.float32), std.astype(np.float32)], axis=-1)
