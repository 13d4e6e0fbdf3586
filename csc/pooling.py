"""Pixel samples for pooled scores: ``<stem>_<exp>_pixels.npz`` beside every scored class map.

A sample holds up to :data:`POOL_PIXELS` seeded labelled pixels of one image: the manual truth,
the final classes (``csc``) and, for CSC, the phase-one classes (``cnn``) at the same pixels,
with the number of labelled pixels they stand for, so ``csc summarize`` can pool many images
and runs as if it scored all their labelled pixels.
"""
import json

import numpy as np

from csc.files import atomic_path
from csc.sampling import sample_pixels

SUFFIX = "_pixels.npz"
#: Labelled pixels kept per image for pooled scores.
POOL_PIXELS = 200_000


def write_pixel_sample(path, *, truth, cnn, csc, valid, stem, exp, schema, seed=0,
                       n=POOL_PIXELS, **extra):
    """Write a seeded sample of up to ``n`` labelled, valid pixels of ``truth`` with the
    phase-one (``cnn``, None for a method without a phase one, such as a baseline) and final
    (``csc``) classes at the same pixels (``extra`` arrays are stored too). Written atomically;
    returns the number of labelled valid pixels the sample stands for."""
    mask = (np.asarray(truth) != 0) & np.asarray(valid, dtype=bool)
    labelled = int(np.count_nonzero(mask))
    pos = sample_pixels(mask, n=n, seed=seed)
    arrays = dict(truth=truth.ravel()[pos], csc=csc.ravel()[pos], stem=np.array(stem),
                  exp=np.array(exp), labelled_pixels=np.array(labelled),
                  schema=np.array(json.dumps(schema.to_dict())),
                  **{key: np.asarray(value) for key, value in extra.items()})
    if cnn is not None:
        arrays["cnn"] = cnn.ravel()[pos]
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return labelled
