"""Balanced training pixels from class maps, drawn strip by strip.

One sampler serves every learner and label source: phase two draws from the phase-one tile map
of one image, the supervised baselines from the manual labels of several training images.
Class maps hold class ids (uint8, 0 = unlabelled or nodata, never drawn); only one scan strip
of a map is expanded into positions at a time.
"""
import dataclasses
import logging

import numpy as np

from csc.errors import ClassificationError

log = logging.getLogger(__name__)

#: Rows scanned at a time when counting or locating pixels (bounds temporary memory).
SCAN_ROWS = 1024


def strip_class_counts(class_map, *, scan_rows=SCAN_ROWS):
    """(n_strips, 256) pixel counts of every uint8 value per scan strip of ``class_map``."""
    counts = []
    for r0 in range(0, class_map.shape[0], scan_rows):
        counts.append(np.bincount(class_map[r0:r0 + scan_rows].ravel(), minlength=256))
    return np.array(counts, dtype=np.int64).reshape(-1, 256)


def ranked_positions(match, ranks, strip_counts, *, width, scan_rows=SCAN_ROWS):
    """Flat positions of the ``ranks``-th pixels (in raster order) where ``match(r0, r1)``
    (a boolean strip of rows r0:r1) is True; ``strip_counts`` holds the True count of every
    scan strip. Only one strip is expanded at a time."""
    ranks = np.sort(np.asarray(ranks, dtype=np.int64))
    out = np.empty(len(ranks), dtype=np.int64)
    edges = np.concatenate([[0], np.cumsum(strip_counts)])
    bounds = np.searchsorted(ranks, edges)
    for s in range(len(strip_counts)):
        lo, hi = bounds[s], bounds[s + 1]
        if lo == hi:
            continue
        r0 = s * scan_rows
        hits = np.flatnonzero(match(r0, r0 + scan_rows))
        out[lo:hi] = hits[ranks[lo:hi] - edges[s]] + r0 * width
    return out


def draw_ranks(rng, available, n):
    """``n`` ranks among ``available``: without replacement when there are enough, otherwise
    every pixel once and the rest drawn again with replacement."""
    if available >= n:
        return rng.choice(available, size=n, replace=False)
    return np.concatenate([np.arange(available), rng.integers(0, available, n - available)])


def sample_pixels(mask, *, n, seed=0):
    """Flat positions of up to ``n`` pixels where ``mask`` is True (all of them, in raster
    order, when there are fewer), drawn by ``seed`` without replacement, strip by strip."""
    strip_counts = np.array([np.count_nonzero(mask[r0:r0 + SCAN_ROWS])
                             for r0 in range(0, mask.shape[0], SCAN_ROWS)], dtype=np.int64)
    total = int(strip_counts.sum())
    rng = np.random.default_rng(seed)
    ranks = np.arange(total) if total <= n else rng.choice(total, size=int(n), replace=False)
    return ranked_positions(lambda r0, r1: mask[r0:r1], ranks, strip_counts,
                            width=mask.shape[1])


@dataclasses.dataclass
class Sample:
    """Training pixels drawn from one or more class maps."""

    rows: np.ndarray
    cols: np.ndarray
    labels: np.ndarray       # class ids
    maps: np.ndarray         # index of the class map each pixel comes from
    counts: dict             # class id -> pixels of that class over all maps
    drawn: dict              # class id -> pixels drawn (0 for absent classes)
    absent: list             # class ids of the schema missing from every map
    replaced: list           # class ids drawn with replacement (too few pixels)

    def of_map(self, m):
        """``(rows, cols, labels)`` of the pixels drawn from map ``m``."""
        keep = self.maps == m
        return self.rows[keep], self.cols[keep], self.labels[keep]


def balanced_sample(class_maps, *, schema, samples_per_class, seed=0, fill=False,
                    shuffle=False, source="the class map", hint="label more classes"):
    """Balanced training pixels over one or more class maps (ids; 0 never drawn).

    Every class of ``schema`` present in the maps gets ``min(samples_per_class, its pixels)``
    pixels, drawn without replacement over all maps together. With ``fill`` every class gets
    the same number, ``min(samples_per_class, pixels of the largest class)``: a smaller class
    gives all its pixels and repeats drawn with replacement. With ``shuffle`` the pixels come
    out in a seeded random order, otherwise by map, class and raster order.

    Maps holding fewer than two classes raise ``ClassificationError`` naming ``source`` and
    ``hint``; schema classes absent from every map are listed in ``Sample.absent``."""
    if int(samples_per_class) < 1:
        raise ClassificationError(f"--samples-per-class must be ≥ 1, got {samples_per_class}")
    class_maps = list(class_maps)
    rng = np.random.default_rng(seed)
    strip_counts = [strip_class_counts(m) for m in class_maps]
    ids = [int(c) for c in schema.ids]
    per_map = np.array([[int(sc[:, c].sum()) for c in ids] for sc in strip_counts],
                       dtype=np.int64).reshape(len(class_maps), len(ids))
    counts = {c: int(per_map[:, i].sum()) for i, c in enumerate(ids)}
    present = [c for c in ids if counts[c] > 0]
    absent = [c for c in ids if counts[c] == 0]
    if len(present) < 2:
        found = (f"only class {present[0]} ({schema.name_of(present[0])}) is present" if present
                 else "no class is present")
        raise ClassificationError(f"in {source} {found} of the schema {schema.name!r}, but a "
                                  f"learner needs at least two classes; {hint}")
    target = min(int(samples_per_class), max(counts[c] for c in present)) if fill else None
    parts, drawn, replaced = [], dict.fromkeys(ids, 0), []
    for i, c in enumerate(ids):
        if counts[c] == 0:
            continue
        n = target if fill else min(int(samples_per_class), counts[c])
        ranks = np.sort(draw_ranks(rng, counts[c], n))
        if counts[c] < n:
            replaced.append(c)
        edges = np.concatenate([[0], np.cumsum(per_map[:, i])])
        for m, class_map in enumerate(class_maps):
            lo, hi = np.searchsorted(ranks, [edges[m], edges[m + 1]])
            if lo == hi:
                continue
            pos = ranked_positions(lambda r0, r1, cm=class_map, c=c: cm[r0:r1] == c,
                                   ranks[lo:hi] - edges[m], strip_counts[m][:, c],
                                   width=class_map.shape[1])
            parts.append((m, pos, np.full(len(pos), c, dtype=np.uint8), class_map.shape[1]))
        drawn[c] = int(n)
    parts.sort(key=lambda part: part[0])      # by map, then class order (stable)
    maps = np.concatenate([np.full(len(p), m, dtype=np.int32) for m, p, _, _ in parts])
    positions = np.concatenate([p for _, p, _, _ in parts])
    widths = np.concatenate([np.full(len(p), w, dtype=np.int64) for _, p, _, w in parts])
    labels = np.concatenate([y for _, _, y, _ in parts])
    if shuffle:
        order = rng.permutation(len(positions))
        maps, positions, widths, labels = (maps[order], positions[order], widths[order],
                                           labels[order])
    if absent:
        log.warning("%s lacks class(es) %s; the learner still predicts all %d classes", source,
                    ", ".join(f"{c} ({schema.name_of(c)})" for c in absent), schema.n_classes)
    if replaced:
        log.info("class(es) %s have fewer than %d pixels and were drawn with replacement",
                 replaced, target)
    return Sample(rows=positions // widths, cols=positions % widths, labels=labels, maps=maps,
                  counts=counts, drawn=drawn, absent=absent, replaced=replaced)


#: Held-out pixels calibrate phase two's temperature when the tile map confirms their label
#: this many tiles away (:func:`calibration_distance`): half a tile lowered the expected
#: calibration error at K = 1 and K = 5 with either benchmark phase one (F1 unchanged) and
#: with ``--dense`` (README, "CSC accuracy"); one whole tile left mostly the large rock and
#: water regions, a quarter of a tile lets in the tile map's boundary errors.
CALIBRATION_TILES = 0.5


def calibration_distance(tile_size):
    """The distance in pixels at which :func:`confirmed` checks a held-out pixel's label
    before it calibrates the temperature: :data:`CALIBRATION_TILES` of the phase-one tile
    size, at least 1; 0 (no check) without a tile size."""
    if not tile_size:
        return 0
    return max(1, int(round(float(tile_size) * CALIBRATION_TILES)))


#: The eight directions in which :func:`confirmed` looks.
_DIRECTIONS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


def confirmed(class_map, rows, cols, *, distance):
    """Whether the labels of pixels ``(rows, cols)`` (arrays of any one shape) are confirmed:
    the class map holds the same class ``distance`` pixels away in all eight directions
    (clipped at the image edge), so the pixel lies inside a region of its label rather than
    at a boundary. A phase-one tile map is wrong mostly next to its class boundaries (a tile
    holds one class, the ground several); with ``distance`` its tile size, its confirmed
    pixels are those with at least one agreeing tile all round. Unlabelled pixels (0) are
    never confirmed."""
    class_map = np.asarray(class_map)
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    height, width = class_map.shape
    own = class_map[rows, cols]
    ok = own != 0
    d = int(distance)
    for dr, dc in _DIRECTIONS:
        r = np.clip(rows + dr * d, 0, height - 1)
        c = np.clip(cols + dc * d, 0, width - 1)
        ok &= class_map[r, c] == own
    return ok
