"""Distances between a predicted and a manual line, and their error statistics.

Distances are nearest-neighbour distances in metres from the raster's own pixel size (or in
pixels), computed in both directions with a k-d tree (never a full distance matrix).
"""
import numpy as np
from scipy.spatial import cKDTree

from csc.errors import FrontError

from CSC_Application.front.lines import pixel_size_xy


def line_pixels(pixels):
    """The (row, col) pixels of a line given as a boolean raster or an (n, 2) array."""
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
    p, m = line_pixels(predicted), line_pixels(manual)
    if not len(p) or not len(m):
        raise FrontError(f"cannot measure distances: the predicted line has {len(p)} pixels and "
                         f"the manual line {len(m)}")
    xy = pixel_size_xy(pixel_size) or (1.0, 1.0)
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
    xy = pixel_size_xy(pixel_size)
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
