"""Lines as ordered (row, col) pixel runs: tracing mask boundaries, splitting runs, their lengths
in pixels and metres, and the pixel size that turns one into the other."""
import dataclasses
import logging

import numpy as np
from skimage import measure

log = logging.getLogger(__name__)


def pixel_size_xy(pixel_size):
    """``pixel_size`` as a positive ``(x, y)`` pair from a scalar, a pair or None (None stays
    None). Raises ValueError for anything else."""
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


def path_length(line, pixel_size):
    """Length of the ordered (row, col) pixel run ``line``: the sum of its steps, scaled by the
    ``(x, y)`` ``pixel_size`` (``(1.0, 1.0)`` for pixels)."""
    steps = np.diff(np.asarray(line, dtype=float), axis=0)
    return float(np.hypot(steps[:, 0] * pixel_size[1], steps[:, 1] * pixel_size[0]).sum())


class TracedLines:
    """Lengths of ordered (row, col) pixel runs ``lines`` with an optional ``pixel_size``; the
    base of results holding traced lines (:class:`FrontResult`, the valley margins)."""

    @property
    def length_px(self):
        return float(sum(path_length(line, (1.0, 1.0)) for line in self.lines))

    @property
    def length_m(self):
        if self.pixel_size is None:
            return None
        return float(sum(path_length(line, self.pixel_size) for line in self.lines))


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


def split_runs(runs, selected):
    """Split each ordered (row, col) run where its pixels leave ``selected`` (a bool raster);
    the pieces inside ``selected``, in order."""
    out = []
    for run in runs:
        flags = selected[run[:, 0], run[:, 1]]
        for start, stop in _true_runs(flags, closed=False):
            out.append(run[start:stop])
    return out


def runs_mask(runs, shape):
    """The pixels of (row, col) runs as a bool raster of ``shape``."""
    mask = np.zeros(shape, dtype=bool)
    for run in runs:
        mask[run[:, 0], run[:, 1]] = True
    return mask


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
