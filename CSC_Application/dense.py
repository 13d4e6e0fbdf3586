"""Batches of image blocks for dense phase-two training (the plan is :mod:`csc.blocks`).

A batch is a few ``block × block`` output blocks of the image with ``halo`` = K // 2 pixels of
context on every side, cut from the image in its native data type and scaled batch by batch
(nodata neighbours scale to 0 and image borders are reflected, exactly as in strip
prediction), with per-pixel class indexes and loss weights. Each epoch visits every training
block once, in a seeded order redrawn every epoch, so every labelled pixel is seen at most
once per epoch and never twice by replacement.

The weights of a batch are rescaled to a mean of 1 over the batch's pixels, so a batch's loss
is the class-balanced mean over its labelled pixels, whatever their share of the blocks.
"""
import numpy as np

from csc.backend import load_keras
from csc.blocks import block_targets, gather_blocks
from csc.sampling import confirmed


def block_dataset(training, plan, *, halo, which="train", pixels_per_batch=4096, shuffle=False,
                  seed=0, confirm=0):
    """A ``keras.utils.PyDataset`` of ``(crops, targets, weights)`` batches over the training
    (``which="train"``) or validation blocks of ``plan`` for a ``csc.blocks.LabelledImage``.
    With ``confirm`` (a distance in pixels) only the pixels whose label the class map confirms
    at that distance (:func:`csc.sampling.confirmed`) keep their weight."""
    keras = load_keras()
    if which == "train":
        origins, allowed, weights, size = plan.train, plan.allowed, plan.weights, plan.block
    else:
        origins, allowed, weights, size = plan.val, None, plan.val_weights, plan.cell
    lut = training.lut
    n_per = max(1, int(round(int(pixels_per_batch) / size ** 2)))

    class BlockBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = np.random.default_rng(seed)
            self.order = self._draw()

        def _draw(self):
            n = len(origins)
            return self.rng.permutation(n) if shuffle else np.arange(n)

        def __len__(self):
            return int(np.ceil(len(origins) / n_per))

        def __getitem__(self, i):
            pick = self.order[i * n_per:(i + 1) * n_per]
            x = gather_blocks(training.data, origins[pick], block=size, halo=halo,
                              scaling=training.scaling, valid=training.valid)
            y, w = block_targets(training.class_map, origins[pick], block=size, lut=lut,
                                 weights=weights,
                                 allowed=None if allowed is None else allowed[pick])
            if confirm:
                w *= block_confirmed(training.class_map, origins[pick], block=size,
                                     distance=confirm)
            total = float(w.sum())
            if total > 0:
                w *= w.size / total
            return x, y, w

        def on_epoch_end(self):
            if shuffle:
                self.order = self._draw()

    return BlockBatches()


def block_confirmed(class_map, origins, *, block, distance):
    """(n, block, block) bool: the pixels of the blocks at ``origins`` whose label the class map
    confirms ``distance`` pixels away in all eight directions (False beyond the image)."""
    height, width = class_map.shape
    origins = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    r = origins[:, :1, None] + np.arange(block)[None, :, None]
    c = origins[:, 1:, None] + np.arange(block)[None, None, :]
    r, c = np.broadcast_arrays(r, c)
    inside = (r < height) & (c < width)
    return inside & confirmed(class_map, np.minimum(r, height - 1), np.minimum(c, width - 1),
                              distance=distance)

