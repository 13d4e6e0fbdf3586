"""Cleaning phase two's training pixels before the final fit (``csc classify --clean``).

Each of :data:`FOLDS` spatial folds of the sampled pixels (:func:`csc.cleaning.spatial_folds`,
squares of a few phase-one tiles) is predicted by a copy of the phase-two learner trained on
the other folds; the pixels whose tile label those out-of-fold probabilities confidently
contradict (:func:`csc.cleaning.label_issues`) are dropped, and the learner is then trained on
the rest. Works for every learner of the contract in :mod:`csc.learners`: the out-of-fold
probabilities come from its ``predict_proba`` on the sampled patches laid side by side.
"""
import logging

import numpy as np
from sklearn.base import clone

from csc.cleaning import confident_joint, label_issues, spatial_folds

log = logging.getLogger(__name__)

#: Spatial folds of the out-of-fold predictions.
FOLDS = 2
#: Side of the fold squares, in phase-one tiles: a tile's pixels share a label, so a square of
#: several tiles keeps a pixel's tile-mates (and most of their neighbours) in its own fold.
FOLD_TILES = 4
#: Fewest fold squares an image is cut into (smaller squares on small images).
MIN_SQUARES = 16
#: At most this share of a class's training pixels is dropped.
MAX_FRACTION = 0.5
#: A sample is judged only when the folds its copy of the learner trains on hold at least this
#: share of its class's pixels.
MIN_TRAINING_SHARE = 0.25
#: Patches laid side by side per prediction call.
PATCH_BATCH = 8192


def fold_cell(shape, tile_size):
    """Side of the fold squares for an image of ``shape`` and phase-one tiles of
    ``tile_size``: :data:`FOLD_TILES` tiles, fewer on an image too small for
    :data:`MIN_SQUARES` such squares, but never below one tile (the tile grid starts at the
    image origin, so the squares hold whole tiles)."""
    tile = max(int(tile_size or 0), 1)
    fit = int(np.sqrt(shape[0] * shape[1] / MIN_SQUARES))
    return tile * max(1, min(FOLD_TILES, fit // tile))   # whole tiles: a tile in one fold


def patch_proba(learner, patches, index=None):
    """``learner``'s class probabilities (n, n_classes) at the centres of the patches
    ``index`` of a patch set: the K×K patches side by side form a strip K rows high, whose
    output at every K-th column is a patch's centre (the learner's own strip prediction)."""
    index = np.arange(len(patches)) if index is None else np.asarray(index)
    k = int(patches.patch_size)
    parts = []
    for start in range(0, len(index), PATCH_BATCH):
        chunk = patches.take(index[start:start + PATCH_BATCH])      # (n, K, K, bands)
        n, bands = len(chunk), chunk.shape[-1]
        strip = np.ascontiguousarray(chunk.transpose(1, 0, 2, 3)).reshape(k, n * k, bands)
        proba = learner.predict_proba(strip)                          # (1, n*K - K + 1, C)
        parts.append(np.asarray(proba[0, ::k], dtype=np.float32)[:n])
    n_classes = int(learner.n_classes)
    return np.concatenate(parts) if parts else np.zeros((0, n_classes), np.float32)


def pixel_keys(patches):
    """``(first, inverse)``: the index of the first sample of each distinct pixel, and the
    distinct pixel of each sample (a small class's pixels are drawn several times)."""
    key = patches.rows * (int(patches.cols.max(initial=0)) + 1) + patches.cols
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def out_of_fold_proba(learner, patches, y, *, cell, seed=0, frequencies=None, folds=FOLDS,
                      sample_weight=None):
    """Probabilities of every sampled patch from a copy of ``learner`` trained without its
    spatial fold (with the same ``sample_weight`` as the final fit); returns
    ``(proba, judged)``. A sample is judged only when the other folds
    hold at least :data:`MIN_TRAINING_SHARE` of its class's pixels: a class that lies in one
    place (melange along the front) can fall into one fold almost whole, and a learner that
    never saw it would contradict every label of it."""
    fold = spatial_folds(patches.rows, patches.cols, cell=cell, n_folds=folds, seed=seed)
    n_classes = int(learner.n_classes)
    proba = np.zeros((len(y), n_classes), dtype=np.float32)
    judged = np.zeros(len(y), dtype=bool)
    first, _ = pixel_keys(patches)
    pixels = np.bincount(y[first], minlength=n_classes)              # unique pixels per class
    for f in range(folds):
        held = np.flatnonzero(fold == f)
        train = np.flatnonzero(fold != f)
        seen = np.bincount(y[np.intersect1d(train, first)], minlength=n_classes)
        enough = seen >= MIN_TRAINING_SHARE * pixels
        if not len(held) or np.count_nonzero(seen) < 2:
            continue
        copy = clone(learner)
        extra = {} if sample_weight is None else {"sample_weight": sample_weight[train]}
        copy.fit(patches.subset(train), y[train], frequencies=frequencies, **extra)
        proba[held] = patch_proba(copy, patches, held)
        judged[held] = enough[y[held]]
    skipped = sorted(set(np.unique(y[~judged]).tolist()))
    if skipped:
        log.info("cleaning: %d sampled pixels (classes %s) are not judged: the other folds hold "
                 "too few of their class", int(np.count_nonzero(~judged)), skipped)
    return proba, judged


def clean_patches(learner, patches, y, *, cell, seed=0, frequencies=None,
                  max_fraction=MAX_FRACTION, class_names=None, sample_weight=None):
    """The samples to keep after confident learning, and the record for ``run.json``:
    ``(keep mask, {"pruned": {class: pixels}, "kept": …, "confident_joint": …})``. The rule
    judges distinct pixels (a pixel drawn several times counts once, and all its samples go
    or stay together)."""
    proba, judged = out_of_fold_proba(learner, patches, y, cell=cell, seed=seed,
                                      frequencies=frequencies, sample_weight=sample_weight)
    first, inverse = pixel_keys(patches)
    n_classes = int(learner.n_classes)
    names = class_names or [str(c) for c in range(n_classes)]
    yu, pu, ju = y[first], proba[first], judged[first]
    pixel_issue = np.zeros(len(first), dtype=bool)
    if np.count_nonzero(ju):
        pixel_issue[ju] = label_issues(pu[ju], yu[ju], max_fraction=max_fraction)
    issues = pixel_issue[inverse]
    pruned = np.bincount(yu[pixel_issue], minlength=n_classes)
    total = np.bincount(yu, minlength=n_classes)
    record = {
        "folds": FOLDS, "fold_cell_px": int(cell), "max_fraction": max_fraction,
        "pruned": {names[c]: int(pruned[c]) for c in range(n_classes) if total[c]},
        "kept": {names[c]: int(total[c] - pruned[c]) for c in range(n_classes) if total[c]},
        "not_judged": int(np.count_nonzero(~ju)),
        "confident_joint": confident_joint(pu[ju], yu[ju]).tolist(),
    }
    share = pruned.sum() / max(int(total.sum()), 1)
    log.info("cleaning: %d of %d training pixels (%.1f %%) dropped as confidently mislabelled "
             "(%s)", int(pruned.sum()), int(total.sum()), 100 * share,
             ", ".join(f"{names[c]} {int(pruned[c])}" for c in range(n_classes) if pruned[c])
             or "none")
    return ~issues, record


def refill(keep, y, *, seed=0):
    """Indexes of the kept samples, each class drawn again with replacement up to the number
    of samples it had, so a class-balanced sample stays balanced after cleaning."""
    rng = np.random.default_rng(seed)
    parts = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        kept = members[keep[members]]
        if len(kept) < len(members) and len(kept):
            kept = np.concatenate([kept, rng.choice(kept, len(members) - len(kept))])
        parts.append(kept)
    return rng.permutation(np.concatenate(parts))
