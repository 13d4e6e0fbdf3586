"""The phase-one class map: the VGG16 tile classifier applied to a whole image.

Tiles of the model's size cover the image to its last row and column: a regular grid with
stride = tile, plus a last tile shifted flush with the right/bottom edge
(``csc.tiling.tile_origins``). Each pixel takes the class of the grid tile it falls in; the
remainder strip beyond the last full grid tile takes the shifted tile's class. Tiles are cut
from the image in its native data type and scaled one batch at a time, so no float copy of
the whole image is made.
"""
import logging

import numpy as np

from csc.errors import ClassificationError
from csc.tiling import extract_tiles, tile_origins
from Phase_1_CNN.model import predict_tiles

log = logging.getLogger(__name__)


def _owners(length, tile, origins):
    """Index of the tile that labels each position along an axis."""
    return np.minimum(np.arange(length) // tile, len(origins) - 1)


def tile_map(data, *, valid, model, card, min_confidence=0.0, batch_size=256, progress=False,
             path=None, tile_probabilities=None):
    """Phase-one map of an image ``data`` (rows, cols, bands; native dtype).

    ``tile_probabilities``, when given, takes the network's place (``model`` may then be
    None): ``tile_probabilities(path, rows, cols, tile)`` returns the class probabilities
    (n, n_classes) of the tiles at origins ``(rows, cols)`` of the image ``path`` — e.g. the
    class shares of each tile in a manual label raster, the tile map of an ideal phase one
    (``benchmarks/csc_accuracy.py``).

    Returns ``(class_map, tiles)``: ``class_map`` (rows, cols) uint8 class ids, 0 where the
    pixel is nodata or its tile's top probability is below ``min_confidence`` (or the tile is
    all nodata); ``tiles`` a dict with the tile grid, per-tile ids, top probabilities
    (``confidence``) and class probabilities (``probability``, rows × cols × classes; 0 for
    tiles without data)."""
    tile = int(card.tile_size)
    height, width = data.shape[:2]
    where = f"{path}" if path else "the image"
    if tile > height or tile > width:
        raise ClassificationError(f"{where} is {height}x{width} pixels, smaller than the "
                                  f"model's {tile}x{tile} tiles; classify a larger image or "
                                  "train a model on smaller tiles (csc tiles --tile-size)")
    row_origins = tile_origins(height, tile, tile)
    col_origins = tile_origins(width, tile, tile)
    rr, cc = np.meshgrid(row_origins, col_origins, indexing="ij")
    rr, cc = rr.ravel(), cc.ravel()
    ids = np.zeros(len(rr), dtype=np.uint8)
    confidence = np.zeros(len(rr), dtype=np.float32)
    probability = np.zeros((len(rr), card.schema.n_classes), dtype=np.float32)
    batches = range(0, len(rr), batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="phase one tiles", unit="batch", leave=False, disable=None)
    for start in batches:
        r, c = rr[start:start + batch_size], cc[start:start + batch_size]
        has_data = extract_tiles(valid, tile, r, c).any(axis=(1, 2))
        if not has_data.any():
            continue
        if tile_probabilities is not None:
            proba = _given(tile_probabilities(path, r[has_data], c[has_data], tile),
                           int(has_data.sum()), card.schema.n_classes)
        else:
            tiles = card.scaling.apply(extract_tiles(data, tile, r[has_data], c[has_data]),
                                       valid=extract_tiles(valid, tile, r[has_data],
                                                           c[has_data]))
            proba = predict_tiles(model, tiles, batch_size=batch_size)
        best = np.argmax(proba, axis=1)
        conf = proba[np.arange(len(best)), best]
        labels = card.schema.to_ids(best)
        labels[conf < float(min_confidence)] = 0
        sel = np.flatnonzero(has_data) + start
        ids[sel] = labels
        confidence[sel] = conf
        probability[sel] = proba
    grid = ids.reshape(len(row_origins), len(col_origins))
    class_map = grid[_owners(height, tile, row_origins)][:, _owners(width, tile, col_origins)]
    if not valid.all():
        class_map[~valid] = 0
    n_low = int(np.count_nonzero((confidence < float(min_confidence)) & (confidence > 0)))
    if n_low:
        log.info("%d of %d tiles below --min-confidence %.2f are left unlabelled", n_low,
                 len(ids), min_confidence)
    return class_map, {"tile_size": tile, "row_origins": row_origins,
                       "col_origins": col_origins, "ids": grid,
                       "confidence": confidence.reshape(grid.shape),
                       "probability": probability.reshape(*grid.shape, -1)}


def _given(proba, n, n_classes):
    """Tile probabilities from a ``tile_probabilities`` source, checked: (n, n_classes), finite,
    non-negative; each row is normalised to sum to 1."""
    proba = np.asarray(proba, dtype=np.float32)
    if proba.shape != (n, n_classes):
        raise ValueError(f"tile probabilities of shape {proba.shape} for {n} tiles of "
                         f"{n_classes} classes")
    if not np.all(np.isfinite(proba)) or (proba < 0).any():
        raise ValueError("tile probabilities must be finite and non-negative")
    total = proba.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise ValueError("a tile has probabilities summing to 0")
    return proba / total


#: Phase one's tile probabilities are mixed with this share of the uniform distribution before
#: they become a local prior (:func:`local_log_prior`): a tile the CNN is sure of still leaves
#: every class possible.
LOCAL_PRIOR_FLOOR = 0.02


def _weights(positions, knots):
    """Linear interpolation between ``knots`` (increasing positions) along an axis:
    ``(i0, i1, w)`` per pixel position (pixel centres), clamped at the outermost knots."""
    pos = np.interp(np.asarray(positions, dtype=np.float64) + 0.5, knots,
                    np.arange(len(knots), dtype=np.float64))
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, len(knots) - 1)
    return i0, i1, (pos - i0).astype(np.float32)


def _corners(origins, tile):
    """Positions of the tile corners along an axis: the outer edges of the first and last
    tiles and the midpoints between neighbouring tile centres."""
    centres = np.asarray(origins, dtype=np.float64) + tile / 2.0
    return np.concatenate([[centres[0] - tile / 2.0], (centres[:-1] + centres[1:]) / 2.0,
                           [centres[-1] + tile / 2.0]])


def corner_probability(tiles):
    """Phase one's class probabilities at the tile corners, (rows + 1, cols + 1, classes): at
    each corner, each class's highest probability among the (up to) four tiles that meet
    there, normalised. Where tiles of different classes meet, their classes are about equally
    likely, so phase two's own evidence places the boundary. Tiles without data (probability
    0) add nothing; a corner between such tiles only is uniform."""
    grid = np.pad(tiles["probability"], ((1, 1), (1, 1), (0, 0)), mode="edge")
    corners = np.maximum(np.maximum(grid[:-1, :-1], grid[:-1, 1:]),
                         np.maximum(grid[1:, :-1], grid[1:, 1:]))
    total = corners.sum(axis=-1, keepdims=True)
    empty = total[..., 0] <= 0
    corners[empty] = 1.0 / corners.shape[-1]
    total[empty] = 1.0
    return corners / total


def tile_probability(tiles, row_start, row_stop, width, corners=None):
    """Phase one's local class probabilities (rows, width, n_classes), float32, of the image
    rows ``row_start:row_stop``: :func:`corner_probability` (``corners``, computed when not
    given) interpolated bilinearly between the tile corners, so the surface is continuous."""
    grid = corner_probability(tiles) if corners is None else corners
    tile = int(tiles["tile_size"])
    r0, r1, rw = _weights(np.arange(row_start, row_stop),
                          _corners(tiles["row_origins"], tile))
    rows = grid[r0] * (1 - rw)[:, None, None] + grid[r1] * rw[:, None, None]
    c0, c1, cw = _weights(np.arange(width), _corners(tiles["col_origins"], tile))
    out = rows[:, c0]
    out *= (1 - cw)[None, :, None]
    out += rows[:, c1] * cw[None, :, None]
    return out.astype(np.float32, copy=False)


def tile_probability_at(tiles, rows, cols, corners=None):
    """:func:`tile_probability` at the pixels ``(rows, cols)``: (n, n_classes) float32."""
    grid = corner_probability(tiles) if corners is None else corners
    tile = int(tiles["tile_size"])
    r0, r1, rw = _weights(rows, _corners(tiles["row_origins"], tile))
    c0, c1, cw = _weights(cols, _corners(tiles["col_origins"], tile))
    rw, cw = rw[:, None], cw[:, None]
    return ((grid[r0, c0] * (1 - cw) + grid[r0, c1] * cw) * (1 - rw)
            + (grid[r1, c0] * (1 - cw) + grid[r1, c1] * cw) * rw).astype(np.float32)


def local_log_prior(probability, strength):
    """``strength · log((1 − f) · p + f / C)``: the log-prior that phase one's local
    probabilities ``p`` (…, C; :func:`tile_probability`) lend a pixel (``f`` =
    :data:`LOCAL_PRIOR_FLOOR`), in place."""
    n = probability.shape[-1]
    probability *= np.float32(1.0 - LOCAL_PRIOR_FLOOR)
    probability += np.float32(LOCAL_PRIOR_FLOOR / n)
    np.log(probability, out=probability)
    probability *= np.float32(strength)
    return probability


def tile_confidence(tiles, rows, cols):
    """The top probability of the phase-one tile that labels each pixel ``(rows, cols)``
    (``tiles`` as :func:`tile_map` returns it; 0 where the tile held no data)."""
    tile = int(tiles["tile_size"])
    r = np.minimum(np.asarray(rows) // tile, len(tiles["row_origins"]) - 1)
    c = np.minimum(np.asarray(cols) // tile, len(tiles["col_origins"]) - 1)
    return tiles["confidence"][r, c]
