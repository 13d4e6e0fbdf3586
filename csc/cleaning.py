"""Cleaning pseudo-labels by confident learning (Northcutt et al. 2021, JAIR 70, 1373).

Phase two learns from the phase-one tile map, whose labels are wrong wherever a tile covers
more than one class. Confident learning finds the training pixels whose label a learner that
never saw them confidently contradicts:

- out-of-fold probabilities: the pixels are split into spatial folds (:func:`spatial_folds`,
  squares of the image, so a pixel's tile-mates sit in its own fold), and each fold is
  predicted by a learner trained on the others;
- per-class thresholds: ``t_j`` is the mean out-of-fold probability of class ``j`` over the
  pixels labelled ``j`` (the learner's self-confidence on that class);
- a pixel labelled ``i`` is confidently of class ``j`` when ``p_j ≥ t_j`` (the largest such
  ``p_j`` when several are); it is a label issue when that class is not ``i`` — the
  off-diagonal of the confident joint (the ``confident_learning`` filter of the paper).

:func:`label_issues` returns those pixels, at most ``max_fraction`` of each class (the most
confidently contradicted first), so a class is never emptied. Numpy only; nothing here knows
about images or learners.
"""
import numpy as np


def spatial_folds(rows, cols, *, cell, n_folds, seed=0):
    """Fold index (0..n_folds-1) of each pixel ``(rows, cols)``: the image is cut into
    ``cell`` × ``cell`` squares and every square goes to one fold, in a seeded random order
    dealt round the folds (so the folds hold about as many squares each)."""
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    if int(n_folds) < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {n_folds}")
    if int(cell) < 1:
        raise ValueError(f"fold squares must be at least 1 pixel, got {cell}")
    cell = int(cell)
    span = int(cols.max(initial=0)) // cell + 1
    keys, inverse = np.unique((rows // cell) * span + cols // cell, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(keys))
    fold_of = np.empty(len(keys), dtype=np.int64)
    fold_of[order] = np.arange(len(keys)) % int(n_folds)
    return fold_of[inverse.ravel()]


def class_thresholds(proba, y):
    """``t_j``: the mean probability of class ``j`` over the samples labelled ``j`` (inf for a
    class without samples, which is then never confidently predicted)."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n_classes = proba.shape[1]
    counts = np.bincount(y, minlength=n_classes)
    sums = np.bincount(y, weights=proba[np.arange(len(y)), y], minlength=n_classes)
    return np.divide(sums, counts, out=np.full(n_classes, np.inf), where=counts > 0)


def confident_classes(proba, y):
    """The class each sample is confidently of (``-1``: none): the largest ``p_j`` among the
    classes whose probability reaches their threshold :func:`class_thresholds`."""
    proba = np.asarray(proba, dtype=np.float64)
    above = proba >= class_thresholds(proba, y)[None, :]
    best = np.argmax(np.where(above, proba, -1.0), axis=1)
    return np.where(above.any(axis=1), best, -1)


def confident_joint(proba, y):
    """The confident joint ``C[i, j]``: samples labelled ``i`` confidently of class ``j``."""
    y = np.asarray(y, dtype=np.int64)
    n_classes = np.asarray(proba).shape[1]
    sure = confident_classes(proba, y)
    keep = sure >= 0
    return np.bincount(y[keep] * n_classes + sure[keep],
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def label_issues(proba, y, *, max_fraction=0.5):
    """Boolean mask of the samples whose label ``y`` (class indexes) the out-of-fold
    probabilities ``proba`` (n, n_classes) confidently contradict: off the diagonal of the
    confident joint. At most ``max_fraction`` of each class is flagged, those whose confident
    class beats their own label's probability by the widest margin first."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if proba.ndim != 2 or len(proba) != len(y):
        raise ValueError(f"probabilities of shape {proba.shape} for {len(y)} labels")
    if not 0.0 <= float(max_fraction) <= 1.0:
        raise ValueError(f"max_fraction must lie in 0..1, got {max_fraction}")
    sure = confident_classes(proba, y)
    issue = (sure >= 0) & (sure != y)
    if not issue.any():
        return issue
    margin = proba[np.arange(len(y)), np.maximum(sure, 0)] - proba[np.arange(len(y)), y]
    for c in np.unique(y[issue]):
        members = np.flatnonzero(issue & (y == c))
        cap = int(np.floor(float(max_fraction) * np.count_nonzero(y == c)))
        if len(members) > cap:
            ranked = members[np.argsort(-margin[members], kind="stable")]
            issue[ranked[cap:]] = False
    return issue
