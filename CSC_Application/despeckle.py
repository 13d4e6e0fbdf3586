"""Despeckling: a nodata-aware majority (mode) filter over a disk.

Each valid pixel takes the class most frequent among the valid pixels within ``radius``
pixels of it; nodata pixels (0) neither vote nor change. Votes are counted per class with one
``scipy.ndimage.correlate`` of the class's indicator plane with the disk; the pixel's own
class wins ties, so the filter never flips a pixel on a draw. It runs strip by strip with a
halo of ``radius`` rows, so the result does not depend on the strip height.
"""
import numpy as np
from scipy import ndimage
from skimage.morphology import disk

from csc.tiling import strips


def _mode_block(block, radius, classes):
    footprint = disk(radius).astype(np.uint16)
    best = np.zeros(block.shape, dtype=np.uint16)   # votes*2 (+1 for the own class)
    out = block.copy()
    for c in classes:
        plane = (block == c).astype(np.uint16)
        votes = ndimage.correlate(plane, footprint, mode="constant", cval=0) * 2 + plane
        better = votes > best
        out[better] = c
        best[better] = votes[better]
    out[block == 0] = 0
    return out


def despeckle(class_map, *, radius=2, strip_rows=2048, classes=None):
    """Majority-filter a class map (uint8 ids, 0 = nodata) over a disk of ``radius`` pixels;
    ``radius`` 0 returns a copy unchanged."""
    class_map = np.asarray(class_map)
    radius = int(radius)
    if radius < 0:
        raise ValueError(f"despeckle radius must be ≥ 0, got {radius}")
    if radius == 0:
        return class_map.copy()
    if classes is None:
        counts = np.zeros(256, dtype=np.int64)
        for r0 in range(0, class_map.shape[0], strip_rows):
            counts += np.bincount(class_map[r0:r0 + strip_rows].ravel(), minlength=256)
        classes = [int(c) for c in np.flatnonzero(counts) if c != 0]
    out = np.empty_like(class_map)
    for s in strips(class_map.shape[0], int(strip_rows), radius):
        block = _mode_block(class_map[s.read_start:s.read_stop], radius, classes)
        top = s.start - s.read_start
        out[s.start:s.stop] = block[top:top + (s.stop - s.start)]
    return out
