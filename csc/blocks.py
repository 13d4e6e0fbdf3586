"""Blocks of one image for dense phase-two training: which pixels train, which validate.

Dense training runs the phase-two network in its fully convolutional form over small square
blocks of the image, with a per-pixel target from a class map (the phase-one tile map): the
convolutions of a block are shared by all its pixels. A :class:`BlockPlan` decides, once per
image, with a few scans of the class map (one row of blocks at a time):

- **validation cells**: square cells (64 px on images of 256 px and more) chosen first in a
  seeded random order until each class has ``validation_fraction`` of the pixels it can
  train on, never more than twice that share of its labelled pixels (so a class found in
  one or two cells is kept for training). Training never sees a pixel of a validation cell,
  so the validation accuracy estimates the map's accuracy on unseen ground, not on the
  neighbours of training pixels;
- **training blocks** (``block × block`` px, a few pixels a side) outside the validation
  cells. Every block draws a random priority from the seed; class ``c`` trains on the blocks
  of priority below a threshold set so that it keeps about ``samples_per_class`` unique
  labelled pixels (all of them when it has fewer; to within 1/4096 of its pixels). A block
  holds the classes whose threshold it passes; its other labelled pixels weigh 0. No pixel
  is used twice.

Small blocks from many places of the image make a batch: neighbouring pixels of one phase-one
tile share their label and nearly their spectrum, so a batch of a few large blocks would
teach far less per step than the same pixels from many blocks.

Per-pixel loss weights balance the classes (each class weighs the same in the loss, like the
equal per-class counts of patch sampling, but with every labelled pixel used once); the
validation accuracy is class-balanced the same way. Pixels that are unlabelled (id 0: no
class, nodata, or a phase-one tile below ``--min-confidence``), outside the image, or of a
class a block does not hold weigh 0.

Memory: per-cell class counts, a per-class priority histogram and the list of training
blocks; the class map is scanned strip by strip.
"""
import dataclasses
import logging

import numpy as np

from csc.errors import ClassificationError

log = logging.getLogger(__name__)

#: Largest validation cell side; smaller images get smaller cells (at least 4 × 4 cells).
CELL = 64
MIN_CELL = 8
#: Bins of the block priority histogram (a class's cap holds to within 1/BINS of its pixels).
BINS = 4096


def cell_size_for(shape, block=1):
    """The validation cell side for an image of ``shape``: ``CELL``, capped so the image holds
    at least 4 × 4 cells (never below ``MIN_CELL``), a multiple of ``block``."""
    cell = int(np.clip(min(shape) // 4, MIN_CELL, CELL))
    return max(int(block), cell // int(block) * int(block))


def class_lookup(schema):
    """(256,) int16: class index 0..n-1 of every uint8 class id, −1 for ids outside the
    schema (0 included)."""
    lut = np.full(256, -1, dtype=np.int16)
    for index, cid in enumerate(schema.ids):
        lut[int(cid)] = index
    return lut


def _row_counts(index_rows, n_classes, size, n_cols):
    """(n_cols, n_classes) labelled pixel counts of each ``size``-wide block of rows."""
    keep = index_rows >= 0
    col = np.arange(index_rows.shape[1]) // size
    key = (col[None, :] * n_classes + index_rows)[keep]
    return np.bincount(key, minlength=n_cols * n_classes).reshape(n_cols, n_classes)


def block_counts(class_map, lut, n_classes, size):
    """(block rows, block cols, n_classes) labelled pixel counts of every ``size`` block."""
    height, width = class_map.shape
    nbr, nbc = -(-height // size), -(-width // size)
    counts = np.zeros((nbr, nbc, n_classes), dtype=np.int64)
    for i in range(nbr):
        counts[i] = _row_counts(lut[class_map[i * size:(i + 1) * size]], n_classes, size, nbc)
    return counts


def priorities(ids, seed):
    """A seeded uniform [0, 1) priority for every block id (a splitmix64 hash: any block's
    priority is computed on its own, without drawing one for every block of the image)."""
    z = np.asarray(ids, dtype=np.uint64) + np.uint64((int(seed) * 0x9E3779B97F4A7C15
                                                      + 0x632BE59BD9B4E019) % 2 ** 64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def balanced_weights(counts):
    """Per-class weights that give every class present the same total weight, with a mean
    weight of 1 per pixel; 0 for classes without pixels."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    if present.any():
        weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)


@dataclasses.dataclass
class BlockPlan:
    """Training blocks and validation cells of one image (see the module docstring).

    ``train``: (n, 2) int64 origins (row, col) of ``block`` px training blocks; ``allowed``:
    (n, C) bool, the classes each holds; ``val``: (m, 2) origins of ``cell`` px validation
    cells; ``kept``/``val_pixels``: (C,) unique labelled pixels per class index used for
    training / validation; ``counts``: (C,) labelled pixels per class in the map;
    ``weights``/``val_weights``: (C,) per-pixel loss/metric weights."""

    block: int
    cell: int
    shape: tuple
    train: np.ndarray
    allowed: np.ndarray
    val: np.ndarray
    kept: np.ndarray
    val_pixels: np.ndarray
    counts: np.ndarray
    weights: np.ndarray
    val_weights: np.ndarray

    @property
    def n_train_pixels(self):
        return int(self.kept.sum())

    @property
    def n_val_pixels(self):
        return int(self.val_pixels.sum())

    def describe(self):
        return (f"{len(self.train)} blocks of {self.block}×{self.block} px "
                f"({self.n_train_pixels} labelled pixels), validation on {len(self.val)} cells "
                f"of {self.cell}×{self.cell} px ({self.n_val_pixels} labelled pixels)")


def _validation_cells(cell_flat, cap, totals, fraction, seed):
    """Boolean mask over cells: the validation cells (greedy in a seeded order)."""
    n_cells = len(cell_flat)
    chosen = np.zeros(n_cells, dtype=bool)
    candidates = np.flatnonzero(cell_flat.sum(axis=1))
    if fraction <= 0 or len(candidates) < 2:
        return chosen
    order = np.random.default_rng(seed).permutation(candidates)
    val_cap = np.floor(fraction * cap)
    val_limit = 2 * fraction * totals
    val_pixels = np.zeros(cell_flat.shape[1], dtype=np.int64)
    for b in order:
        if not (val_pixels < val_cap).any():
            break
        c = cell_flat[b]
        has = c > 0
        if (val_pixels[has] < val_cap[has]).any() and \
                np.all(val_pixels[has] + c[has] <= val_limit[has]):
            chosen[b] = True
            val_pixels += c
    return chosen


def plan_blocks(class_map, *, schema, samples_per_class, validation_fraction=0.2, seed=0,
                block=4, source="the class map"):
    """The :class:`BlockPlan` of a class map (uint8 ids, 0 = unlabelled) for ``schema``.

    Raises ``ClassificationError`` naming ``source`` when fewer than two classes are labelled,
    or fewer than two are left to train on."""
    if int(samples_per_class) < 1:
        raise ClassificationError(f"--samples-per-class must be ≥ 1, got {samples_per_class}")
    if not 0.0 <= float(validation_fraction) < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    class_map = np.asarray(class_map)
    if class_map.dtype != np.uint8:
        raise TypeError(f"class map must hold uint8 class ids, got {class_map.dtype}")
    height, width = class_map.shape
    n_classes = schema.n_classes
    lut = class_lookup(schema)
    block = max(1, min(int(block), min(height, width)))
    cell = cell_size_for(class_map.shape, block)

    cell_counts = block_counts(class_map, lut, n_classes, cell)
    ncc = cell_counts.shape[1]
    cell_flat = cell_counts.reshape(-1, n_classes)
    totals = cell_flat.sum(axis=0)
    present = np.flatnonzero(totals)
    if len(present) < 2:
        found = (f"only class {schema.ids[present[0]]} ({schema.names[present[0]]}) is present"
                 if len(present) else "no class is present")
        raise ClassificationError(f"in {source} {found} of the schema {schema.name!r}, but a "
                                  "learner needs at least two classes; check that the model "
                                  "suits this image (bands, scaling) or lower --min-confidence")
    cap = np.minimum(totals, int(samples_per_class))
    fraction = float(validation_fraction)
    in_val = _validation_cells(cell_flat, cap, totals, fraction, seed)
    val_pixels = cell_flat[in_val].sum(axis=0)
    val_cells = in_val.reshape(cell_counts.shape[:2])

    nbc = -(-width // block)
    per_cell = cell // block

    def block_rows():
        """(row of blocks, its class counts (nbc, C) outside validation cells, block ids)."""
        for i in range(-(-height // block)):
            counts = _row_counts(lut[class_map[i * block:(i + 1) * block]], n_classes, block,
                                 nbc)
            held = val_cells[(i // per_cell), np.arange(nbc) // per_cell]
            counts[held] = 0
            yield i, counts, i * nbc + np.arange(nbc)

    # a threshold on block priority per class, from a histogram of its pixels by priority
    hist = np.zeros((n_classes, BINS), dtype=np.int64)
    for _, counts, ids in block_rows():
        bins = np.minimum((priorities(ids, seed) * BINS).astype(np.int64), BINS - 1)
        for c in np.flatnonzero(counts.sum(axis=0)):
            hist[c] += np.bincount(bins, weights=counts[:, c], minlength=BINS).astype(np.int64)
    trainable = hist.sum(axis=1)
    reach = np.cumsum(hist, axis=1) >= np.minimum(cap, trainable)[:, None]
    threshold = (np.argmax(reach, axis=1) + 1) / BINS
    threshold[trainable == 0] = 0.0

    origins, allowed, kept = [], [], np.zeros(n_classes, dtype=np.int64)
    for i, counts, ids in block_rows():
        take = (counts > 0) & (priorities(ids, seed)[:, None] < threshold[None, :])
        hit = np.flatnonzero(take.any(axis=1))
        if len(hit):
            origins.append(np.stack([np.full(len(hit), i * block), hit * block], axis=1))
            allowed.append(take[hit])
            kept += (counts * take).sum(axis=0)
    train = (np.concatenate(origins).astype(np.int64) if origins
             else np.zeros((0, 2), dtype=np.int64))
    allowed = (np.concatenate(allowed) if allowed
               else np.zeros((0, n_classes), dtype=bool))
    val = np.stack([np.flatnonzero(in_val) // ncc * cell, np.flatnonzero(in_val) % ncc * cell],
                   axis=1).astype(np.int64)
    plan = BlockPlan(block=block, cell=cell, shape=(height, width), train=train,
                     allowed=allowed, val=val, kept=kept, val_pixels=val_pixels, counts=totals,
                     weights=balanced_weights(kept), val_weights=balanced_weights(val_pixels))
    if np.count_nonzero(kept) < 2:
        raise ClassificationError(f"in {source} fewer than two classes are left to train on "
                                  "after holding out validation cells; classify a larger image "
                                  "or raise --samples-per-class")
    no_val = [schema.names[i] for i in present if val_pixels[i] == 0]
    if no_val and len(val):
        log.info("%s: no validation pixels of %s (too few cells hold them); early stopping "
                 "scores the other classes", source, ", ".join(no_val))
    log.debug("%s: %s", source, plan.describe())
    return plan


def gather_blocks(data, origins, *, block, halo, scaling, valid=None):
    """Scaled crops (n, block + 2·halo, block + 2·halo, bands) float32 of the blocks at
    ``origins``: each block with ``halo`` pixels of context on every side, reflected at the
    image borders exactly like the strip prediction's padding (``numpy.pad`` "reflect"), and
    nodata pixels (``valid`` False) scaled to 0. ``data`` is the image in its native dtype."""
    height, width = data.shape[:2]
    side = int(block) + 2 * int(halo)
    origins = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    rr = reflect_index(origins[:, :1] - halo + np.arange(side)[None, :], height)
    cc = reflect_index(origins[:, 1:] - halo + np.arange(side)[None, :], width)
    at = (rr[:, :, None], cc[:, None, :])
    raw = data[at]
    if valid is None or not any(np.asarray(valid).strides):   # all valid: nothing to mask
        return scaling.apply(raw)
    return scaling.apply(raw, valid=valid[at])


def block_targets(class_map, origins, *, block, lut, weights, allowed=None):
    """Per-pixel targets of the blocks at ``origins``: class indexes (n, block, block) int32
    (0 where not used) and loss weights (n, block, block) float32 — the class weight of each
    labelled pixel of a class the block contributes (``allowed`` (n, C); all when None), 0 for
    unlabelled pixels and for the part of a block beyond the image."""
    height, width = class_map.shape
    origins = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    r = origins[:, :1] + np.arange(block)[None, :]
    c = origins[:, 1:] + np.arange(block)[None, :]
    inside = (r < height)[:, :, None] & (c < width)[:, None, :]
    index = lut[class_map[np.minimum(r, height - 1)[:, :, None],
                          np.minimum(c, width - 1)[:, None, :]]].astype(np.int32)
    index[~inside] = -1
    labelled = index >= 0
    safe = np.where(labelled, index, 0)
    w = np.where(labelled, np.asarray(weights, dtype=np.float32)[safe], 0.0)
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)
        w = w * allowed[np.arange(len(origins))[:, None, None], safe]
    return safe, w.astype(np.float32)


def reflect_index(index, length):
    """Indexes reflected into 0..length-1 like ``numpy.pad(mode="reflect")`` (edge not
    repeated: −1 → 1, length → length − 2); valid for overshoots below ``length``."""
    index = np.abs(index)
    return np.where(index >= length, 2 * (length - 1) - index, index)


@dataclasses.dataclass
class LabelledImage:
    """One image with per-pixel class ids to train phase two on, densely.

    ``data``: (rows, cols, bands) in its native dtype (never copied); ``valid``: the nodata
    mask (or an all-True broadcast view); ``class_map``: (rows, cols) uint8 class ids of
    ``schema``, 0 = not to be used; ``scaling``: a ``csc.scaling.Scaling``;
    ``samples_per_class``: the cap on unique labelled pixels per class; ``source``: what the
    class map is, for messages; ``tile_size``: the tile side of a phase-one tile map (0: not a
    tile map), from which the distance at which its labels count as confirmed for
    calibration follows (:func:`csc.sampling.calibration_distance`)."""

    data: np.ndarray
    valid: np.ndarray
    class_map: np.ndarray
    schema: object
    scaling: object
    samples_per_class: int
    source: str = "the class map"
    tile_size: int = 0

    def __post_init__(self):
        if self.class_map.shape != self.data.shape[:2]:
            raise ValueError(f"class map {self.class_map.shape} and image "
                             f"{self.data.shape[:2]} differ in size")
        self.lut = class_lookup(self.schema)

    @property
    def n_bands(self):
        return int(self.data.shape[2])

    def plan(self, *, validation_fraction=0.2, seed=0, block=4):
        return plan_blocks(self.class_map, schema=self.schema,
                           samples_per_class=self.samples_per_class,
                           validation_fraction=validation_fraction, seed=seed, block=block,
                           source=self.source)
