"""Confident learning on out-of-fold probabilities (csc.cleaning): known answers."""
import numpy as np
import pytest

from csc.cleaning import (class_thresholds, confident_classes, confident_joint, label_issues,
                          spatial_folds)


def test_thresholds_are_mean_self_confidence():
    proba = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6]])
    y = np.array([0, 0, 1, 1])
    np.testing.assert_allclose(class_thresholds(proba, y), [0.8, 0.7])
    # a class without samples is never confidently predicted
    assert class_thresholds(np.array([[0.5, 0.5, 0.0]]), np.array([0]))[1:].tolist() == \
        [np.inf, np.inf]


def test_flags_the_labels_the_probabilities_confidently_contradict():
    # class 0: thresholds 0.8 (mean of 0.9, 0.9, 0.9, 0.5); the last class-0 sample is
    # confidently class 1 (0.95 ≥ class 1's threshold); one ambiguous sample is not flagged
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.05, 0.95],
                      [0.1, 0.9], [0.2, 0.8], [0.45, 0.55], [0.1, 0.9]])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert label_issues(proba, y).tolist() == [False, False, False, True,
                                               False, False, False, False]
    assert confident_classes(proba, y)[3] == 1
    joint = confident_joint(proba, y)
    assert joint[0, 1] == 1 and joint.sum() == np.count_nonzero(confident_classes(proba, y) >= 0)


def test_never_more_than_the_cap_of_a_class_widest_margin_first():
    rng = np.random.default_rng(0)
    p1 = np.concatenate([rng.uniform(0.6, 0.99, 10), np.full(10, 0.6)])
    proba = np.stack([1 - p1, p1], axis=1)
    y = np.zeros(20, dtype=int)
    y[10:] = 1           # class 1 well predicted; all of class 0 confidently class 1
    issues = label_issues(proba, y, max_fraction=0.3)
    assert issues[:10].sum() == 3 and not issues[10:].any()
    assert set(np.flatnonzero(issues)) == set(np.argsort(-p1[:10])[:3])
    assert not label_issues(proba, y, max_fraction=0.0).any()


def test_bad_arguments():
    with pytest.raises(ValueError, match="probabilities of shape"):
        label_issues(np.zeros((3, 2)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="max_fraction"):
        label_issues(np.zeros((3, 2)), np.zeros(3, dtype=int), max_fraction=1.5)
    with pytest.raises(ValueError, match="at least 2 folds"):
        spatial_folds([0], [0], cell=4, n_folds=1)


def test_spatial_folds_keep_squares_whole_and_balanced():
    rows, cols = np.meshgrid(np.arange(64), np.arange(96), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    fold = spatial_folds(rows, cols, cell=16, n_folds=2, seed=3)
    square = (rows // 16) * 6 + cols // 16
    for s in np.unique(square):                    # every square in one fold
        assert len(np.unique(fold[square == s])) == 1
    counts = np.bincount(fold)
    assert counts.tolist() == [64 * 96 // 2] * 2   # 24 squares dealt 12 and 12
    np.testing.assert_array_equal(fold, spatial_folds(rows, cols, cell=16, n_folds=2, seed=3))
    assert not np.array_equal(fold, spatial_folds(rows, cols, cell=16, n_folds=2, seed=4))
