"""Phase-two training samples: balanced pixel/patch centres drawn from the phase-one map, and
their patches gathered batch by batch.

Patches are never materialised for the whole sample (500 000 centres per class at K = 15
would be more than 10 GB): a ``PatchSet`` keeps the image in its native data type and the
centre indexes, and gathers the K×K patches of a batch with one vectorised fancy index
(reflected at the image borders exactly like the ``numpy.pad(mode="reflect")`` that strip
prediction uses), scaling only that batch.
"""
import dataclasses
import logging

import numpy as np

from CSC_Application.fcn import reflect_index
from csc.errors import ClassificationError, PatchSizeError

log = logging.getLogger(__name__)

#: Rows scanned at a time when counting or locating pixels (bounds temporary memory).
SCAN_ROWS = 1024


class PatchSet:
    """K×K patches of an image centred on sample pixels, gathered on demand.

    ``data``: (rows, cols, bands) image in any dtype (kept as it is, not copied);
    ``rows``/``cols``: centre coordinates of each sample; ``labels``: class indexes
    (0..n_classes-1) of the samples; ``scaling``: a ``csc.scaling.Scaling`` applied per batch.

    API used by every learner: ``len(ps)``, ``ps.patch_size``, ``ps.n_bands``, ``ps.labels``,
    ``ps.take(index) -> (n, K, K, bands) float32`` and ``ps.pixels(index) -> (n, bands)
    float32`` (the centre pixels)."""

    def __init__(self, data, rows, cols, labels, *, patch_size, scaling):
        self.data = data
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cols = np.asarray(cols, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.patch_size = int(patch_size)
        self.scaling = scaling
        if not (len(self.rows) == len(self.cols) == len(self.labels)):
            raise ValueError("rows, cols and labels must have the same length")
        height, width = data.shape[:2]
        if self.patch_size > min(height, width):
            raise PatchSizeError(f"{self.patch_size}×{self.patch_size} patches do not fit an "
                                 f"image of {height}x{width} pixels; choose a smaller "
                                 "--patch-size")
        half = self.patch_size // 2
        self._offsets = np.arange(-half, half + 1)

    def __len__(self):
        return len(self.rows)

    @property
    def n_bands(self):
        return int(self.data.shape[2])

    @property
    def halo(self):
        return self.patch_size // 2

    def take(self, index):
        """Scaled patches (len(index), K, K, bands) float32 centred on samples ``index``."""
        index = np.asarray(index)
        r, c = self.rows[index], self.cols[index]
        if self.patch_size == 1:
            raw = self.data[r, c][:, None, None, :]
        else:
            height, width = self.data.shape[:2]
            rr = reflect_index(r[:, None] + self._offsets, height)
            cc = reflect_index(c[:, None] + self._offsets, width)
            raw = self.data[rr[:, :, None], cc[:, None, :]]
        return self.scaling.apply(raw)

    def pixels(self, index):
        """Scaled centre pixels (len(index), bands) float32 of samples ``index``."""
        index = np.asarray(index)
        return self.scaling.apply(self.data[self.rows[index], self.cols[index]])


def patch_dataset(patches, index, labels, *, batch_size, shuffle=False, seed=0):
    """A ``keras.utils.PyDataset`` of (patches, labels) batches over samples ``index`` of a
    ``PatchSet``; with ``shuffle`` the order is redrawn every epoch from ``seed``."""
    import keras

    class PatchBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.index = np.asarray(index)
            self.labels = np.asarray(labels)
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(self.index) if shuffle else self.index

        def __len__(self):
            return int(np.ceil(len(self.index) / batch_size))

        def __getitem__(self, i):
            batch = np.sort(self.order[i * batch_size:(i + 1) * batch_size])
            return patches.take(batch), self.labels[batch]

        def on_epoch_end(self):
            if shuffle:
                self.order = self.rng.permutation(self.index)

    return PatchBatches()


# --- drawing centres --------------------------------------------------------------------------

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


def _draw(rng, available, n):
    """``n`` ranks among ``available``: without replacement when there are enough, otherwise
    every pixel once and the rest drawn again with replacement."""
    if available >= n:
        return rng.choice(available, size=n, replace=False)
    return np.concatenate([np.arange(available), rng.integers(0, available, n - available)])


@dataclasses.dataclass
class Sample:
    """Training centres drawn from a phase-one map."""

    rows: np.ndarray
    cols: np.ndarray
    labels: np.ndarray       # class ids
    counts: dict             # class id -> pixels of that class in the map
    drawn: dict              # class id -> centres drawn
    absent: list             # class ids of the schema missing from the map
    replaced: list           # class ids drawn with replacement (too few pixels)


def sample_centres(class_map, *, schema, samples_per_class, seed=0, path=None):
    """Balanced training centres from a class map (ids, 0 = unlabelled/nodata, never drawn).

    Every class present gets the same number of centres, ``min(samples_per_class, pixels of
    the largest class)``: drawn without replacement where the class has that many pixels,
    otherwise all its pixels plus repeats drawn with replacement. Schema classes absent from
    the map are reported in ``Sample.absent``; a map holding fewer than two classes raises
    ``ClassificationError``. Centres come out in a seeded random order."""
    if int(samples_per_class) < 1:
        raise ClassificationError(f"--samples-per-class must be ≥ 1, got {samples_per_class}")
    rng = np.random.default_rng(seed)
    strip_counts = strip_class_counts(class_map)
    totals = strip_counts.sum(axis=0)
    ids = [int(c) for c in schema.ids]
    counts = {c: int(totals[c]) for c in ids}
    present = [c for c in ids if counts[c] > 0]
    absent = [c for c in ids if counts[c] == 0]
    where = f" of {path}" if path else ""
    if len(present) < 2:
        found = (f"only class {present[0]} ({schema.name_of(present[0])})" if present
                 else "no class at all")
        raise ClassificationError(
            f"the phase-one map{where} holds {found}; phase two needs at least two classes to "
            "learn from. Check that the model suits this image (bands, scaling) or lower "
            "--min-confidence")
    n = int(min(int(samples_per_class), max(counts[c] for c in present)))
    width = class_map.shape[1]
    positions, labels, drawn, replaced = [], [], {}, []
    for c in present:
        ranks = _draw(rng, counts[c], n)
        if counts[c] < n:
            replaced.append(c)
        pos = ranked_positions(lambda r0, r1, c=c: class_map[r0:r1] == c, ranks,
                               strip_counts[:, c], width=width)
        positions.append(pos)
        labels.append(np.full(len(pos), c, dtype=np.uint8))
        drawn[c] = int(len(pos))
    positions = np.concatenate(positions)
    labels = np.concatenate(labels)
    order = rng.permutation(len(positions))
    positions, labels = positions[order], labels[order]
    if absent:
        log.warning("phase-one map%s lacks class(es) %s; phase two still predicts all %d "
                    "classes", where, ", ".join(f"{c} ({schema.name_of(c)})" for c in absent),
                    schema.n_classes)
    if replaced:
        log.info("class(es) %s have fewer than %d pixels and were drawn with replacement",
                 replaced, n)
    return Sample(rows=positions // width, cols=positions % width, labels=labels,
                  counts=counts, drawn=drawn, absent=absent, replaced=replaced)


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
