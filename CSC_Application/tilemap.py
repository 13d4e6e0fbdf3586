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
             path=None):
    """Phase-one map of an image ``data`` (rows, cols, bands; native dtype).

    Returns ``(class_map, tiles)``: ``class_map`` (rows, cols) uint8 class ids, 0 where the
    pixel is nodata or its tile's top probability is below ``min_confidence`` (or the tile is
    all nodata); ``tiles`` a dict with the tile grid, per-tile ids and confidences."""
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
    batches = range(0, len(rr), batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="phase one tiles", unit="batch", leave=False, disable=None)
    for start in batches:
        r, c = rr[start:start + batch_size], cc[start:start + batch_size]
        has_data = extract_tiles(valid, tile, r, c).any(axis=(1, 2))
        if not has_data.any():
            continue
        tiles = card.scaling.apply(extract_tiles(data, tile, r[has_data], c[has_data]),
                                   valid=extract_tiles(valid, tile, r[has_data], c[has_data]))
        proba = predict_tiles(model, tiles, batch_size=batch_size)
        best = np.argmax(proba, axis=1)
        conf = proba[np.arange(len(best)), best]
        labels = card.schema.to_ids(best)
        labels[conf < float(min_confidence)] = 0
        sel = np.flatnonzero(has_data) + start
        ids[sel] = labels
        confidence[sel] = conf
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
                       "confidence": confidence.reshape(grid.shape)}


def tile_confidence(tiles, rows, cols):
    """The top probability of the phase-one tile that labels each pixel ``(rows, cols)``
    (``tiles`` as :func:`tile_map` returns it; 0 where the tile held no data)."""
    tile = int(tiles["tile_size"])
    r = np.minimum(np.asarray(rows) // tile, len(tiles["row_origins"]) - 1)
    c = np.minimum(np.asarray(cols) // tile, len(tiles["col_origins"]) - 1)
    return tiles["confidence"][r, c]
