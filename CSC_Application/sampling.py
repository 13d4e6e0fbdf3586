"""Phase-two training samples: balanced pixel/patch centres drawn from the phase-one map, and
their patches gathered batch by batch.

Patches are never materialised for the whole sample (500 000 centres per class at K = 15
would be more than 10 GB): a ``PatchSet`` keeps the image in its native data type and the
centre indexes, and gathers the K×K patches of a batch with one vectorised fancy index
(reflected at the image borders exactly like the ``numpy.pad(mode="reflect")`` that strip
prediction uses), scaling only that batch.
"""
import logging

import numpy as np

from csc.backend import load_keras
from csc.blocks import reflect_index
from csc.errors import PatchSizeError
from csc.sampling import Sample, balanced_sample  # noqa: F401  (Sample: what this returns)

log = logging.getLogger(__name__)


class PatchSet:
    """K×K patches of an image centred on sample pixels, gathered on demand.

    ``data``: (rows, cols, bands) image in any dtype (kept as it is, not copied);
    ``rows``/``cols``: centre coordinates of each sample; ``labels``: class indexes
    (0..n_classes-1) of the samples; ``scaling``: a ``csc.scaling.Scaling`` applied per batch;
    ``valid``: the image's nodata mask (neighbours that are nodata scale to 0, as in strip
    prediction).

    API used by every learner: ``len(ps)``, ``ps.patch_size``, ``ps.n_bands``, ``ps.labels``,
    ``ps.take(index) -> (n, K, K, bands) float32`` and ``ps.pixels(index) -> (n, bands)
    float32`` (the centre pixels)."""

    def __init__(self, data, rows, cols, labels, *, patch_size, scaling, valid=None):
        self.data = data
        # an all-valid image (a read-only broadcast view) needs no masking
        all_valid = valid is None or not any(np.asarray(valid).strides)
        self.valid = None if all_valid else valid
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
            if self.valid is not None:   # nodata neighbours scale to 0, as in prediction
                return self.scaling.apply(raw, valid=self.valid[rr[:, :, None], cc[:, None, :]])
        return self.scaling.apply(raw)

    def pixels(self, index):
        """Scaled centre pixels (len(index), bands) float32 of samples ``index``."""
        index = np.asarray(index)
        return self.scaling.apply(self.data[self.rows[index], self.cols[index]])

    def subset(self, index):
        """The patch set of samples ``index`` only (the same image, not copied)."""
        index = np.asarray(index)
        return PatchSet(self.data, self.rows[index], self.cols[index], self.labels[index],
                        patch_size=self.patch_size, scaling=self.scaling, valid=self.valid)


def patch_dataset(patches, index, labels, *, batch_size, shuffle=False, seed=0, weights=None):
    """A ``keras.utils.PyDataset`` of (patches, labels) batches over samples ``index`` of a
    ``PatchSet`` (with ``weights``, one per sample, (patches, labels, weights)); with
    ``shuffle`` the order is redrawn every epoch from ``seed``."""
    keras = load_keras()

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
            if weights is not None:
                return patches.take(batch), self.labels[batch], weights[batch]
            return patches.take(batch), self.labels[batch]

        def on_epoch_end(self):
            if shuffle:
                self.order = self.rng.permutation(self.index)

    return PatchBatches()


# --- drawing centres --------------------------------------------------------------------------

def sample_centres(class_map, *, schema, samples_per_class, seed=0, path=None, fill=True):
    """Balanced training centres from a phase-one map (ids, 0 = unlabelled/nodata, never
    drawn), in a seeded random order. With ``fill`` every class present gets
    ``min(samples_per_class, pixels of the largest class)`` centres, the smaller classes
    repeated by replacement (the patch training this replaced); without, each class gets
    ``min(samples_per_class, its pixels)`` distinct centres (:func:`csc.sampling.
    balanced_sample`)."""
    where = f" of {path}" if path else ""
    return balanced_sample([class_map], schema=schema, samples_per_class=samples_per_class,
                           seed=seed, fill=fill, shuffle=True,
                           source=f"the phase-one map{where}",
                           hint="check that the model suits this image (bands, scaling) or "
                                "lower --min-confidence")
