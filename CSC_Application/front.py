"""Calving-front extraction from a class map, and its validation against a manual front.

The method follows Marochov et al. (2021):

1. **Ocean** — the ocean classes (role ``ocean``: open water, iceberg water, melange). Of the
   ocean regions that touch the image border only the largest is kept; regions smaller than a
   minimum area (km², converted with the raster's real pixel size) are dropped; holes (icebergs
   mapped as glacier ice) are filled.
2. **Glacier** — the largest connected region of the glacier class (role ``glacier``), holes
   filled.
3. **Refinement** — the glacier outline is refined by a morphological geodesic active contour
   (:func:`skimage.segmentation.morphological_geodesic_active_contour`) started from the closed
   and dilated glacier mask, on the inverse Gaussian gradient of the glacier mask. The published
   defaults are kept (30 iterations, smoothing 1, balloon −0.5, threshold 0.6). Note that with
   an inverse Gaussian gradient (values in 0..1) a balloon only acts where the gradient image
   exceeds ``threshold / |balloon|``; at the published values (1.2) it never does, so the
   contour is driven by edge attraction and curvature smoothing alone.
4. **Front** — the longest contour of the refined glacier (the published script took the first
   contour found, which is not necessarily the glacier outline) is kept where it lies within a
   few pixels of the ocean; the largest connected piece is the front. A front longer than the
   image diagonal is rejected as implausible.

Distances to a manual front (``EDGE_<stem>``) are nearest-neighbour distances in metres from
the raster's own pixel size, computed in both directions with a k-d tree (never a full
distance matrix).

:func:`extract_front` and :func:`front_errors` are pure array functions; :func:`front_outputs`
writes the GeoJSON, JSON, CSV and histogram of one scene and is what phase two calls.
"""
import dataclasses
import inspect
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio.transform
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage import measure, morphology, segmentation

from csc.errors import FrontError, LabelMismatchError
from csc.files import write_csv, write_json

log = logging.getLogger(__name__)

#: Published active-contour settings (Marochov et al. 2021).
GAC_DEFAULTS = {"iterations": 30, "smoothing": 1, "balloon": -0.5, "threshold": 0.6}
#: Minimum ocean-region area when the raster is georeferenced.
DEFAULT_MIN_OCEAN_KM2 = 1.0
#: Minimum ocean-region size in pixels when it is not (1 km² at 10 m).
DEFAULT_MIN_OCEAN_PIXELS = 10_000
#: The error statistics reported, in this order.
STATISTICS = ("median", "mean", "mode", "std", "p90")

_EIGHT = np.ones((3, 3), dtype=bool)


# ------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------
class TracedLines:
    """Lengths of ordered (row, col) pixel runs ``lines`` with an optional ``pixel_size``."""

    @property
    def length_px(self):
        return float(sum(_path_length(line, (1.0, 1.0)) for line in self.lines))

    @property
    def length_m(self):
        if self.pixel_size is None:
            return None
        return float(sum(_path_length(line, self.pixel_size) for line in self.lines))


@dataclasses.dataclass
class FrontResult(TracedLines):
    """A calving front found in a class map.

    ``lines`` are the ordered front pieces as ``(n, 2)`` arrays of (row, col) pixel indexes;
    ``mask`` the same pixels as a raster; ``glacier`` the refined glacier, ``ocean`` the
    cleaned ocean; ``pixel_size`` (x, y) in metres or None."""

    mask: np.ndarray
    lines: list
    glacier: np.ndarray
    ocean: np.ndarray
    pixel_size: tuple = None

    @property
    def n_pixels(self):
        return int(self.mask.sum())


def _path_length(line, pixel_size):
    steps = np.diff(np.asarray(line, dtype=float), axis=0)
    return float(np.hypot(steps[:, 0] * pixel_size[1], steps[:, 1] * pixel_size[0]).sum())


def _pixel_size_xy(pixel_size):
    """(x, y) from a scalar, a pair or None."""
    if pixel_size is None:
        return None
    if np.ndim(pixel_size) == 0:
        size = float(pixel_size)
        xy = (size, size)
    else:
        xy = tuple(float(v) for v in pixel_size)
        if len(xy) != 2:
            raise ValueError(f"pixel_size must be a number or an (x, y) pair, got {pixel_size!r}")
    if min(xy) <= 0:
        raise ValueError(f"pixel_size must be positive, got {pixel_size!r}")
    return xy


def metric_pixel_size(info):
    """(x, y) pixel size in metres of a :class:`csc.rasters.RasterInfo`, or None when the raster
    is not georeferenced or its CRS is not projected (degrees are not metres)."""
    size = info.pixel_size
    if size is None:
        return None
    crs = info.crs
    if crs is not None and getattr(crs, "is_geographic", False):
        log.warning("%s: CRS %s is geographic; front lengths and errors are reported in pixels "
                    "(reproject to a projected CRS such as UTM for metres)", info.path, crs)
        return None
    return float(size[0]), float(size[1])


# ------------------------------------------------------------------------------------------
# masks
# ------------------------------------------------------------------------------------------
def fill_gaps(class_map, *, width=3):
    """Close thin unlabelled (0) gaps between classes, as manual labels leave along
    boundaries: ``width`` times, every unlabelled pixel next to labelled ones takes the most
    frequent class among its 8 neighbours (ties: the lower id). Gaps up to ``2 × width``
    pixels wide close in their middle; larger unlabelled areas (nodata) keep a rim of
    ``width`` filled pixels and stay unlabelled inside."""
    out = np.array(class_map, dtype=np.uint8, copy=True)
    ids = [int(c) for c in np.unique(out) if c != 0]
    for _ in range(int(width)):
        gaps = out == 0
        if not gaps.any() or not ids:
            break
        best = np.zeros(out.shape, dtype=np.uint8)
        best_count = np.zeros(out.shape, dtype=np.uint8)
        for c in ids:
            count = ndi.convolve((out == c).astype(np.uint8), _EIGHT.astype(np.uint8),
                                 mode="constant")
            better = count > best_count
            best[better], best_count[better] = c, count[better]
        fill = gaps & (best_count > 0)
        out[fill] = best[fill]
    return out


def ocean_mask(class_map, *, schema, min_pixels):
    """The cleaned ocean: ocean classes, only the largest border-touching region, regions of at
    least ``min_pixels``, holes filled. Raises :class:`FrontError` when nothing is left."""
    if not schema.ocean_ids:
        raise FrontError(f"class schema {schema.name!r} names no ocean classes (role 'ocean'); "
                         "a calving front needs them — pass a --classes CSV with roles")
    ocean = np.isin(class_map, schema.ocean_ids)
    if not ocean.any():
        raise FrontError("the class map holds no ocean pixels (classes "
                         f"{_names(schema, schema.ocean_ids)}), so there is no calving front")
    labels, n = ndi.label(ocean, structure=_EIGHT)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    keep = np.ones(n + 1, dtype=bool)
    keep[0] = False
    if len(border) > 1:
        keep[border[border != border[np.argmax(sizes[border])]]] = False
    keep &= sizes >= min_pixels
    if not keep.any():
        raise FrontError(f"no ocean region reaches the minimum size of {min_pixels:g} pixels "
                         f"(largest: {int(sizes[1:].max())} pixels); lower --min-ocean-km2 "
                         "(or --min-ocean-pixels for a raster without georeferencing)")
    return ndi.binary_fill_holes(keep[labels])


def glacier_mask(class_map, *, schema):
    """The largest connected region of the glacier class, holes filled."""
    if schema.glacier_id is None:
        raise FrontError(f"class schema {schema.name!r} names no glacier class (role 'glacier'); "
                         "a calving front needs one — pass a --classes CSV with roles")
    glacier = np.asarray(class_map) == schema.glacier_id
    if not glacier.any():
        raise FrontError(f"the class map holds no {schema.name_of(schema.glacier_id)!r} pixels "
                         f"(class {schema.glacier_id}), so there is no calving front")
    labels, n = ndi.label(glacier, structure=_EIGHT)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    return ndi.binary_fill_holes(labels == np.argmax(sizes))


def refine_glacier(glacier, *, iterations=30, smoothing=1, balloon=-0.5, threshold=0.6,
                   sigma=2.0, alpha=100.0, init_radius=2):
    """Refine a glacier mask with a morphological geodesic active contour started from the
    closed and dilated mask (see the module notes on the published defaults). Works on the
    glacier's bounding box plus a margin, so memory follows the glacier, not the image."""
    glacier = np.asarray(glacier, dtype=bool)
    if iterations <= 0:
        return glacier.copy()
    margin = int(iterations + init_radius + 4 * sigma + 2)
    rows, cols = np.nonzero(glacier)
    r0, r1 = max(rows.min() - margin, 0), min(rows.max() + margin + 1, glacier.shape[0])
    c0, c1 = max(cols.min() - margin, 0), min(cols.max() + margin + 1, glacier.shape[1])
    crop = glacier[r0:r1, c0:c1]
    disk = morphology.disk(init_radius) if init_radius > 0 else None
    start = crop
    if disk is not None:
        start = ndi.binary_closing(np.pad(crop, init_radius, mode="edge"), disk)
        start = start[init_radius:-init_radius, init_radius:-init_radius]
        start = ndi.binary_dilation(start, disk)
    gimage = segmentation.inverse_gaussian_gradient(crop.astype(np.float32), alpha=alpha,
                                                    sigma=sigma)
    refined = segmentation.morphological_geodesic_active_contour(
        gimage, iterations, init_level_set=start, smoothing=smoothing, threshold=threshold,
        balloon=balloon)
    out = np.zeros_like(glacier)
    out[r0:r1, c0:c1] = refined.astype(bool)
    return out


# ------------------------------------------------------------------------------------------
# contours as ordered pixel runs
# ------------------------------------------------------------------------------------------
def boundary_runs(mask, *, longest=False, side="inside"):
    """Ordered runs of boundary pixels of ``mask``: contours at level 0.5 traced with
    :func:`skimage.measure.find_contours`, each contour vertex replaced by the pixel on the
    ``mask`` side of it (``side="inside"``) or on the other side (``"outside"``). Stretches
    along the image border are left out (they are no boundary in the scene), which splits a
    contour into runs.

    Returns a list of ``(n, 2)`` int arrays of (row, col). With ``longest`` only the runs of the
    longest contour are returned."""
    if side not in ("inside", "outside"):
        raise ValueError(f"side must be 'inside' or 'outside', got {side!r}")
    mask = np.asarray(mask, dtype=bool)
    padded = np.pad(mask, 1).astype(np.float32)
    contours = measure.find_contours(padded, 0.5)
    if not contours:
        return []
    if longest:
        contours = [max(contours, key=len)]
    height, width = mask.shape
    runs = []
    for contour in contours:
        lo, hi = np.floor(contour).astype(int), np.ceil(contour).astype(int)
        lo_in = padded[lo[:, 0], lo[:, 1]] > 0.5
        inside = np.where(lo_in[:, None], lo, hi)
        outside = np.where(lo_in[:, None], hi, lo)
        # an outside pixel in the padding means this vertex lies on the image border
        interior = ((outside[:, 0] >= 1) & (outside[:, 0] <= height)
                    & (outside[:, 1] >= 1) & (outside[:, 1] <= width))
        for start, stop in _true_runs(interior, closed=_closed(contour)):
            idx = np.arange(start, stop) % len(contour)
            runs.append(_dedupe((inside if side == "inside" else outside)[idx] - 1))
    return [r for r in runs if len(r)]


def _closed(contour):
    return len(contour) > 2 and np.allclose(contour[0], contour[-1])


def _true_runs(flags, *, closed):
    """(start, stop) index pairs of runs of True; for a closed contour a run may wrap around
    (stop > len)."""
    flags = np.asarray(flags, dtype=bool)
    n = len(flags)
    if closed and n > 1:
        flags = flags[:-1]  # the closing vertex repeats the first
        n -= 1
        if flags.all():
            return [(0, n + 1)]
        if not flags.any():
            return []
        shift = int(np.argmin(flags))  # start the scan on a False vertex
        rolled = np.roll(flags, -shift)
        return [(a + shift, b + shift) for a, b in _true_runs(rolled, closed=False)]
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _dedupe(pixels):
    pixels = np.asarray(pixels, dtype=np.int64)
    if len(pixels) < 2:
        return pixels
    keep = np.concatenate([[True], np.any(np.diff(pixels, axis=0) != 0, axis=1)])
    return pixels[keep]


def _split_runs(runs, selected):
    """Split each ordered run where its pixels leave ``selected`` (a bool raster)."""
    out = []
    for run in runs:
        flags = selected[run[:, 0], run[:, 1]]
        for start, stop in _true_runs(flags, closed=False):
            out.append(run[start:stop])
    return out


def runs_mask(runs, shape):
    mask = np.zeros(shape, dtype=bool)
    for run in runs:
        mask[run[:, 0], run[:, 1]] = True
    return mask


# ------------------------------------------------------------------------------------------
# the front
# ------------------------------------------------------------------------------------------
def ocean_min_pixels(pixel_size=None, *, min_ocean_km2=DEFAULT_MIN_OCEAN_KM2,
                     min_ocean_pixels=None):
    """Minimum ocean-region size in pixels: ``min_ocean_pixels`` when given, else
    ``min_ocean_km2`` converted with the pixel size, else :data:`DEFAULT_MIN_OCEAN_PIXELS`."""
    if min_ocean_pixels is not None:
        return float(min_ocean_pixels)
    xy = _pixel_size_xy(pixel_size)
    if xy is None:
        log.info("raster is not georeferenced: minimum ocean region %d pixels "
                 "(set min_ocean_pixels to change it)", DEFAULT_MIN_OCEAN_PIXELS)
        return float(DEFAULT_MIN_OCEAN_PIXELS)
    return float(min_ocean_km2) * 1e6 / (xy[0] * xy[1])


def extract_front(class_map, *, schema, pixel_size=None, min_ocean_km2=DEFAULT_MIN_OCEAN_KM2,
                  min_ocean_pixels=None, iterations=30, smoothing=1, balloon=-0.5,
                  threshold=0.6, sigma=2.0, alpha=100.0, init_radius=2, front_buffer=3,
                  max_length_ratio=1.0, gap_fill=3):
    """Find the calving front in a class map.

    ``pixel_size`` is the (x, y) pixel size in metres (or one number), None when the raster is
    not georeferenced; it converts ``min_ocean_km2`` into pixels unless ``min_ocean_pixels`` is
    given. ``iterations, smoothing, balloon, threshold`` drive the active contour on an inverse
    Gaussian gradient of width ``sigma`` and steepness ``alpha``, started from the glacier
    closed and dilated by ``init_radius`` pixels. The front is the refined outline within
    ``front_buffer`` pixels of the ocean; one longer than ``max_length_ratio`` × the image
    diagonal is rejected. Unlabelled gaps up to ``2 × gap_fill`` pixels wide (manual labels
    leave them along class boundaries) are closed first with :func:`fill_gaps`.

    Returns a :class:`FrontResult`; raises :class:`FrontError` saying why when there is no
    front (no ocean, no glacier, the two do not meet, or an implausible front)."""
    class_map = np.asarray(class_map)
    if class_map.ndim != 2:
        raise ValueError(f"class map must be 2-D, got shape {class_map.shape}")
    xy = _pixel_size_xy(pixel_size)
    if gap_fill:
        class_map = fill_gaps(class_map, width=gap_fill)
    min_px = ocean_min_pixels(xy, min_ocean_km2=min_ocean_km2,
                              min_ocean_pixels=min_ocean_pixels)
    ocean = ocean_mask(class_map, schema=schema, min_pixels=min_px)
    glacier = glacier_mask(class_map, schema=schema) & ~ocean
    if not glacier.any():
        raise FrontError("the glacier lies entirely inside the ocean after hole filling; "
                         "check the class map")
    refined = refine_glacier(glacier, iterations=iterations, smoothing=smoothing,
                             balloon=balloon, threshold=threshold, sigma=sigma, alpha=alpha,
                             init_radius=init_radius)
    if not refined.any():
        raise FrontError("the active contour removed the whole glacier; use fewer --iterations "
                         "or a smaller --sigma")
    near_ocean = ocean
    if front_buffer > 0:
        near_ocean = ndi.binary_dilation(ocean, morphology.disk(front_buffer))
    runs = _split_runs(boundary_runs(refined, longest=True), near_ocean)
    if not runs:
        raise FrontError("the glacier and the ocean do not meet (no glacier outline within "
                         f"{front_buffer} pixels of the ocean); the scene may show no calving "
                         "front, or widen --front-buffer")
    candidates = runs_mask(runs, class_map.shape)
    pieces, n = ndi.label(candidates, structure=_EIGHT)
    largest = np.argmax(np.bincount(pieces.ravel(), minlength=n + 1)[1:]) + 1
    front = pieces == largest
    lines = [r for r in _split_runs(runs, front) if len(r)]
    result = FrontResult(mask=front, lines=lines, glacier=refined, ocean=ocean, pixel_size=xy)
    diagonal = float(np.hypot(*class_map.shape))
    if result.length_px > max_length_ratio * diagonal:
        raise FrontError(f"the front found is {result.length_px:.0f} pixels long, longer than "
                         f"{max_length_ratio:g} × the image diagonal ({diagonal:.0f} pixels); "
                         "it is implausible (the ocean/glacier classes are probably fragmented)"
                         " and was rejected")
    return result


def burn_front(class_map, result, *, schema):
    """The class map with the refined glacier burnt in as glacier ice and the front as the
    schema's front class. Pixels of any class that is not an ocean class (rock, snow, …) are
    preserved; only ocean and unlabelled pixels inside the refined glacier become glacier
    ice."""
    out = np.array(class_map, dtype=np.uint8, copy=True)
    replace = result.glacier & (np.isin(out, schema.ocean_ids) | (out == 0))
    out[replace] = schema.glacier_id
    if schema.front_id is not None:
        out[result.mask] = schema.front_id
    return out


# ------------------------------------------------------------------------------------------
# errors against a manual line
# ------------------------------------------------------------------------------------------
def _coords(pixels):
    pixels = np.asarray(pixels)
    if pixels.ndim == 2 and pixels.dtype == bool:
        return np.argwhere(pixels)
    if pixels.ndim == 2 and pixels.shape[1] == 2:
        return pixels.astype(float)
    raise ValueError("give a boolean raster or an (n, 2) array of (row, col) pixels, "
                     f"got an array of shape {pixels.shape} and type {pixels.dtype}")


def line_distances(predicted, manual, *, pixel_size=None):
    """Nearest-neighbour distances between two lines (boolean rasters or (n, 2) row/col
    arrays): ``(predicted_to_manual, manual_to_predicted)`` in metres when ``pixel_size`` is
    given, else in pixels. Uses k-d trees, never a full distance matrix."""
    p, m = _coords(predicted), _coords(manual)
    if not len(p) or not len(m):
        raise FrontError(f"cannot measure distances: the predicted line has {len(p)} pixels and "
                         f"the manual line {len(m)}")
    xy = _pixel_size_xy(pixel_size) or (1.0, 1.0)
    scale = np.array([xy[1], xy[0]])
    p, m = p * scale, m * scale
    to_manual, _ = cKDTree(m).query(p)
    to_predicted, _ = cKDTree(p).query(m)
    return to_manual, to_predicted


def distance_stats(distances, *, unit="m"):
    """Median, mean, mode, standard deviation and 90th percentile of distances (keys
    ``median_error_<unit>`` …), plus ``percent_within_100m`` for metres. The mode is the most
    frequent distance (distances between grid pixels take discrete values)."""
    d = np.asarray(distances, dtype=float)
    values, counts = np.unique(np.round(d, 6), return_counts=True)
    stats = {f"median_error_{unit}": float(np.median(d)),
             f"mean_error_{unit}": float(np.mean(d)),
             f"mode_error_{unit}": float(values[np.argmax(counts)]),
             f"std_error_{unit}": float(np.std(d)),
             f"p90_error_{unit}": float(np.percentile(d, 90))}
    if unit == "m":
        stats["percent_within_100m"] = float(100.0 * np.mean(d <= 100.0))
    stats[f"n_{unit}"] = int(len(d))
    return stats


def front_errors(predicted, manual, *, pixel_size):
    """Error statistics of a predicted line against a manual one, both ways.

    ``predicted`` and ``manual`` are boolean rasters or (n, 2) row/col arrays; ``pixel_size``
    the (x, y) pixel size in metres (or one number), None for pixels only. Top-level keys are
    the statistics of both directions pooled (``median_error_m``, ``mean_error_m``,
    ``mode_error_m``, ``std_error_m``, ``p90_error_m``, ``percent_within_100m`` and the same
    ``*_px`` in pixels); ``predicted_to_manual`` and ``manual_to_predicted`` hold each
    direction."""
    xy = _pixel_size_xy(pixel_size)
    px_p, px_m = line_distances(predicted, manual, pixel_size=None)
    out = {}
    parts = {"predicted_to_manual": [px_p], "manual_to_predicted": [px_m]}
    out.update(_drop_n(distance_stats(np.concatenate([px_p, px_m]), unit="px")))
    if xy is not None:
        m_p, m_m = line_distances(predicted, manual, pixel_size=xy)
        parts["predicted_to_manual"].append(m_p)
        parts["manual_to_predicted"].append(m_m)
        out.update(_drop_n(distance_stats(np.concatenate([m_p, m_m]), unit="m")))
    for name, (px, *m) in parts.items():
        one = _drop_n(distance_stats(px, unit="px"))
        if m:
            one.update(_drop_n(distance_stats(m[0], unit="m")))
        one["n_pixels"] = int(len(px))
        out[name] = one
    return out


def _drop_n(stats):
    return {k: v for k, v in stats.items() if not k.startswith("n_")}


# ------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------
def crs_name(crs):
    """The legacy GeoJSON ``crs`` member naming ``crs`` (``urn:ogc:def:crs:EPSG::32624``), or
    None when the CRS has no authority code."""
    if crs is None:
        return None
    authority = crs.to_authority()
    if authority is None:
        log.warning("CRS %s has no authority code; the GeoJSON carries no crs member", crs)
        return None
    return {"type": "name", "properties": {"name": f"urn:ogc:def:crs:{authority[0]}::"
                                                   f"{authority[1]}"}}


def lines_geojson(lines, *, transform, crs=None, properties=None):
    """A GeoJSON FeatureCollection holding ordered (row, col) pixel runs as one LineString (or
    MultiLineString), at pixel centres through the affine ``transform``, in the raster's CRS
    (pixel coordinates when ``transform`` is None or the identity)."""
    parts = []
    for line in lines:
        line = np.asarray(line, dtype=float)
        if transform is None:
            xs, ys = line[:, 1] + 0.5, line[:, 0] + 0.5
        else:
            xs, ys = rasterio.transform.xy(transform, line[:, 0], line[:, 1], offset="center")
        coords = np.column_stack([xs, ys]).tolist()
        if len(coords) == 1:
            coords = coords * 2  # a LineString needs two positions
        parts.append(coords)
    if len(parts) == 1:
        geometry = {"type": "LineString", "coordinates": parts[0]}
    else:
        geometry = {"type": "MultiLineString", "coordinates": parts}
    collection = {"type": "FeatureCollection",
                  "features": [{"type": "Feature", "properties": dict(properties or {}),
                                "geometry": geometry}]}
    member = crs_name(crs)
    if member is not None:
        collection["crs"] = member
    return collection


def read_line_raster(path, *, shape, what="EDGE_", class_path=None):
    """A manual line raster (``EDGE_``/``VM_``) as a boolean mask: non-zero, non-nodata pixels.
    Its shape must equal the class map's."""
    from csc.rasters import read_image

    image = read_image(path)
    if image.shape != tuple(shape):
        raise LabelMismatchError(
            f"{what} raster {path} is {image.shape[0]}x{image.shape[1]} pixels but the class map "
            f"{class_path or ''} is {shape[0]}x{shape[1]}; draw the line on the image's grid")
    data = image.data[..., 0]
    line = (data != 0) & image.valid
    if data.dtype.kind == "f":
        line &= np.isfinite(data)
    if not line.any():
        raise LabelMismatchError(f"{what} raster {path} holds no line pixels (all zero or "
                                 "nodata); draw the line with non-zero values")
    return line


def _write_errors(stem, out_dir, predicted, manual, pixel_size, kind):
    """Write ``<stem>_<kind>_errors.csv`` and ``.png``; return their paths."""
    from csc.figures import plt, save

    unit = "m" if pixel_size is not None else "px"
    to_manual, to_predicted = line_distances(predicted, manual, pixel_size=pixel_size)
    p, m = _coords(predicted).astype(int), _coords(manual).astype(int)
    frame = pd.concat([
        pd.DataFrame({"direction": "predicted_to_manual", "row": p[:, 0], "col": p[:, 1],
                      f"distance_{unit}": to_manual}),
        pd.DataFrame({"direction": "manual_to_predicted", "row": m[:, 0], "col": m[:, 1],
                      f"distance_{unit}": to_predicted})], ignore_index=True)
    csv_path = Path(out_dir) / f"{stem}_{kind}_errors.csv"
    write_csv(csv_path, frame.round(4))
    fig, ax = plt.subplots(figsize=(6, 4))
    both = np.concatenate([to_manual, to_predicted])
    bins = np.linspace(0, max(float(np.percentile(both, 99)), 1e-9), 40)
    ax.hist([np.clip(to_manual, 0, bins[-1]), np.clip(to_predicted, 0, bins[-1])], bins=bins,
            label=["predicted → manual", "manual → predicted"], stacked=True)
    ax.axvline(float(np.median(both)), color="k", ls="--",
               label=f"median {np.median(both):.1f} {unit}")
    ax.set_xlabel(f"distance to the other line ({unit}; the last bin holds the farthest 1 %)")
    ax.set_ylabel("pixels")
    ax.set_title(f"{stem}: {kind} errors")
    ax.legend()
    png_path = save(fig, Path(out_dir) / f"{stem}_{kind}_errors.png")
    return csv_path, png_path


def front_outputs(class_map, *, schema, info, stem, out_dir, edge_path=None, margins_path=None,
                  burn=True, min_margin_length_m=None, min_margin_length_px=None, **options):
    """Extract the front of one class map and write its files in ``out_dir``:

    - ``<stem>_front.geojson`` — the front as a LineString in the raster's CRS;
    - ``<stem>_front.json`` — ``front_found``, ``reason``, ``length_m``, ``pixel_size_m`` and,
      when ``edge_path`` (the manual ``EDGE_`` raster) is given, the error statistics;
    - ``<stem>_front_errors.csv`` / ``.png`` — the distances and their histogram (with EDGE_);
    - with ``margins_path`` (``VM_``): ``<stem>_margins.json`` etc., see
      :func:`CSC_Application.margins.margin_outputs`.

    ``info`` is the class map's :class:`csc.rasters.RasterInfo`; ``options`` go to
    :func:`extract_front`. Returns ``(class_map_out, result)``: the class map with the refined
    glacier and the front burnt in (``burn``), or unchanged when no front was found — that is
    reported (``front_found`` False and ``reason``), not raised. Bad inputs (a class map or
    EDGE_ raster of the wrong shape) raise."""
    class_map = np.asarray(class_map)
    if class_map.shape != tuple(info.shape):
        raise LabelMismatchError(f"class map is {class_map.shape[0]}x{class_map.shape[1]} pixels "
                                 f"but {info.path} is {info.height}x{info.width}; pass the "
                                 "raster's own RasterInfo")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pixel_size = metric_pixel_size(info)
    edge = None
    if edge_path is not None:
        edge = read_line_raster(edge_path, shape=class_map.shape, what="EDGE_",
                                class_path=info.path)
    settings = {name: options.get(name, p.default)
                for name, p in inspect.signature(extract_front).parameters.items()
                if p.kind is p.KEYWORD_ONLY and name not in ("schema", "pixel_size")}
    result = {"stem": stem, "front_found": False, "reason": None, "length_m": None,
              "length_px": None, "pixel_size_m": None if pixel_size is None else
              list(pixel_size), "edge": None if edge_path is None else str(edge_path),
              "settings": settings}
    class_map_out = class_map
    files = {}
    try:
        if not schema.has_front_roles:
            raise FrontError(f"class schema {schema.name!r} has no ocean and glacier roles; "
                             "a calving front needs a schema with roles ocean and glacier")
        front = extract_front(class_map, schema=schema, pixel_size=pixel_size, **options)
    except FrontError as exc:
        result["reason"] = str(exc)
        log.warning("%s: no calving front: %s", stem, exc)
        front = None
    if front is not None:
        result.update(front_found=True, length_m=front.length_m, length_px=front.length_px,
                      n_front_pixels=front.n_pixels)
        props = {"stem": stem, "length_m": front.length_m, "length_px": front.length_px}
        geo = lines_geojson(front.lines, transform=info.transform if info.georeferenced else None,
                            crs=info.crs if info.georeferenced else None, properties=props)
        files["geojson"] = out_dir / f"{stem}_front.geojson"
        write_json(files["geojson"], geo)
        if edge is not None:
            result.update(front_errors(front.mask, edge, pixel_size=pixel_size))
            files["errors_csv"], files["errors_png"] = _write_errors(
                stem, out_dir, front.mask, edge, pixel_size, "front")
        if burn:
            class_map_out = burn_front(class_map, front, schema=schema)
    files["json"] = out_dir / f"{stem}_front.json"
    result["files"] = {k: str(v) for k, v in files.items()}
    write_json(files["json"], result)
    if margins_path is not None:
        from CSC_Application.margins import margin_outputs

        result["margins"] = margin_outputs(
            class_map, schema=schema, info=info, stem=stem, out_dir=out_dir,
            margins_path=margins_path, min_length_m=min_margin_length_m,
            min_length_px=min_margin_length_px)
    return class_map_out, result


def _names(schema, ids):
    return ", ".join(f"{i} {schema.name_of(i)}" for i in ids)


def stem_of(class_path):
    """The scene stem of a class raster: its name without a ``_classified`` suffix or an
    ``SCLS_`` prefix (manual labels)."""
    stem = Path(class_path).stem
    stem = stem[: -len("_classified")] if stem.endswith("_classified") else stem
    return stem[len("SCLS_"):] if stem.startswith("SCLS_") else stem


def front_file(class_path, *, out_dir, schema, edge_path=None, margins_path=None, stem=None,
               burn=True, find_companions=True, **options):
    """:func:`front_outputs` for a class raster on disk (``csc front``). The manual
    ``EDGE_<stem>`` / ``VM_<stem>`` rasters beside it are used when not given (with
    ``find_companions``); with ``burn`` and a front found, ``<stem>_front.tif`` holds the
    class map with the refined glacier and the front (class ``schema.front_id``) burnt in.
    Returns the result dict."""
    from csc.rasters import raster_info, read_labels, write_class_raster
    from csc.scenes import companion

    class_path = Path(class_path)
    info = raster_info(class_path)
    stem = stem or stem_of(class_path)
    if find_companions:
        edge_path = edge_path or companion(class_path, "EDGE_", stem=stem)
        margins_path = margins_path or companion(class_path, "VM_", stem=stem)
    class_map = read_labels(class_path, schema=_with_front(schema), shape=None)
    out, result = front_outputs(class_map, schema=schema, info=info, stem=stem,
                                out_dir=out_dir, edge_path=edge_path,
                                margins_path=margins_path, burn=burn, **options)
    if burn and result["front_found"]:
        path = Path(out_dir) / f"{stem}_front.tif"
        write_class_raster(path, out, schema=schema,
                           crs=info.crs if info.georeferenced else None,
                           transform=info.transform if info.georeferenced else None)
        result["files"]["class_map"] = str(path)
        write_json(result["files"]["json"], {k: v for k, v in result.items() if k != "margins"})
    return result


def _with_front(schema):
    """A schema that also accepts the front id as a label (a class map may already hold it)."""
    if schema.front is None:
        return schema
    from csc.classes import ClassSchema

    return ClassSchema(classes=schema.classes + (schema.front,), name=schema.name)
