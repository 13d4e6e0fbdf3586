"""Tiling geometry: tile origins that cover a raster to its last row and column, tile
extraction without copies, and strip windows with halos for bounded-memory prediction."""
import dataclasses

import numpy as np


def tile_origins(length, tile, stride):
    """Origins of tiles of size ``tile`` every ``stride`` pixels along an axis of ``length``,
    with a final tile flush with the end so the last row/column is always used."""
    if tile > length:
        return np.empty(0, dtype=np.int64)
    origins = np.arange(0, length - tile + 1, stride, dtype=np.int64)
    if origins[-1] != length - tile:
        origins = np.append(origins, length - tile)
    return origins


def tile_grid(shape, tile, stride):
    """(rows, cols) origin arrays of every tile position on a ``shape`` raster."""
    r = tile_origins(shape[0], tile, stride)
    c = tile_origins(shape[1], tile, stride)
    rr, cc = np.meshgrid(r, c, indexing="ij")
    return rr.ravel(), cc.ravel()


def window_sums(array, tile, rows, cols):
    """Sum of ``array`` (rows, cols[, k]) over each ``tile``×``tile`` window at the given
    origins, via a summed-area table: O(pixels) whatever the number of tiles."""
    a = np.asarray(array, dtype=np.int64 if np.asarray(array).dtype.kind in "biu" else np.float64)
    sat = np.zeros((a.shape[0] + 1, a.shape[1] + 1) + a.shape[2:], dtype=a.dtype)
    np.cumsum(np.cumsum(a, axis=0), axis=1, out=sat[1:, 1:])
    r0, c0, r1, c1 = rows, cols, rows + tile, cols + tile
    return sat[r1, c1] - sat[r0, c1] - sat[r1, c0] + sat[r0, c0]


def extract_tiles(array, tile, rows, cols):
    """Copy the ``tile``×``tile`` windows at the given origins: (n, tile, tile, ...)."""
    view = np.lib.stride_tricks.sliding_window_view(array, (tile, tile), axis=(0, 1))
    # view: (R, C, ..., tile, tile) -> (n, tile, tile, ...)
    return np.moveaxis(view[rows, cols], (-2, -1), (1, 2))


@dataclasses.dataclass(frozen=True)
class Strip:
    """Rows ``start:stop`` of the output, read as rows ``read_start:read_stop`` of the input
    (the halo), padded by ``pad_top``/``pad_bottom`` rows beyond the raster edge."""

    start: int
    stop: int
    read_start: int
    read_stop: int
    pad_top: int
    pad_bottom: int


def strips(height, strip_rows, halo=0):
    """Horizontal strips covering ``height`` rows, each with ``halo`` rows of context above and
    below (clipped to the raster; the clipped part is reported as padding)."""
    if strip_rows < 1:
        raise ValueError(f"strip_rows must be >= 1, got {strip_rows}")
    out = []
    for start in range(0, height, strip_rows):
        stop = min(start + strip_rows, height)
        read_start, read_stop = max(start - halo, 0), min(stop + halo, height)
        out.append(Strip(start, stop, read_start, read_stop,
                         halo - (start - read_start), halo - (read_stop - stop)))
    return out
