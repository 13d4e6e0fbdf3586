"""The dense-training plan: caps on unique pixels per class, validation cells that training
never touches, crops that match the strip prediction's padding, targets and weights."""
import numpy as np
import pytest

from csc.blocks import (BINS, LabelledImage, block_targets, class_lookup, gather_blocks,
                        plan_blocks, priorities)
from csc.classes import ClassInfo, ClassSchema
from csc.errors import ClassificationError
from csc.scaling import Scaling

SCHEMA = ClassSchema(classes=(ClassInfo(1, "water", "#1f78b4"), ClassInfo(2, "ice", "#ffffff"),
                              ClassInfo(3, "rock", "#7f7f7f")), name="test")


def class_map(shape=(300, 260), seed=0):
    """Three classes of very different sizes: rock everywhere, an ice region, a small water
    patch, and an unlabelled strip."""
    rows, cols = np.indices(shape)
    m = np.full(shape, 3, dtype=np.uint8)
    m[(rows - 150) ** 2 + (cols - 130) ** 2 < 80 ** 2] = 2
    m[10:30, 200:230] = 1
    m[:, :7] = 0
    return m


def trained_pixels(m, plan):
    """(rows, cols) of every pixel with a training weight > 0, block by block."""
    _, w = block_targets(m, plan.train, block=plan.block, lut=class_lookup(SCHEMA),
                         weights=np.ones(3, np.float32), allowed=plan.allowed)
    b, r, c = np.nonzero(w)
    return plan.train[b, 0] + r, plan.train[b, 1] + c


def test_each_class_trains_on_at_most_its_cap_of_unique_pixels():
    m = class_map()
    plan = plan_blocks(m, schema=SCHEMA, samples_per_class=2000, seed=1, block=4)
    counts = np.array([np.sum(m == c) for c in (1, 2, 3)])
    np.testing.assert_array_equal(plan.counts, counts)
    # water (600 px) is under the cap: all of it not held out for validation trains
    assert plan.kept[0] + plan.val_pixels[0] == counts[0]
    # ice and rock stop at the cap, to within one histogram bin of their pixels
    for i in (1, 2):
        assert abs(plan.kept[i] - 2000) <= counts[i] / BINS * 2 + 2 * 16, plan.kept
    rows, cols = trained_pixels(m, plan)
    flat = rows * m.shape[1] + cols
    assert len(np.unique(flat)) == len(flat) == plan.n_train_pixels   # no pixel twice
    assert np.all(m[rows, cols] > 0)                                     # never unlabelled


def test_validation_cells_are_never_trained_on():
    m = class_map()
    plan = plan_blocks(m, schema=SCHEMA, samples_per_class=10**6, seed=0, block=4)
    assert len(plan.val) and plan.n_val_pixels > 0
    held = np.zeros(m.shape, dtype=bool)
    for r, c in plan.val:
        held[r:r + plan.cell, c:c + plan.cell] = True
    rows, cols = trained_pixels(m, plan)
    assert not held[rows, cols].any()
    # about a fifth of what can train is held out, class by class
    share = plan.val_pixels / (plan.val_pixels + plan.kept)
    assert np.all((share[1:] > 0.1) & (share[1:] < 0.4)), share


def test_a_class_in_one_cell_is_kept_for_training():
    m = np.full((256, 256), 3, dtype=np.uint8)
    m[70:90, 70:90] = 1            # water in a single 64-px cell
    m[128:, :] = 2
    for seed in range(5):
        plan = plan_blocks(m, schema=SCHEMA, samples_per_class=10**6, seed=seed, block=4)
        assert plan.val_pixels[0] == 0 and plan.kept[0] == 400


def test_plan_is_seeded():
    m = class_map()
    a, b = (plan_blocks(m, schema=SCHEMA, samples_per_class=1500, seed=3) for _ in range(2))
    c = plan_blocks(m, schema=SCHEMA, samples_per_class=1500, seed=4)
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.val, b.val)
    assert not np.array_equal(a.train, c.train)


def test_balanced_weights_give_every_class_the_same_total():
    plan = plan_blocks(class_map(), schema=SCHEMA, samples_per_class=10**6, seed=0)
    totals = plan.weights * plan.kept
    np.testing.assert_allclose(totals, totals.mean(), rtol=1e-5)
    assert np.isclose((plan.weights * plan.kept).sum() / plan.kept.sum(), 1.0, rtol=1e-5)


def test_one_class_is_refused_naming_the_source():
    m = np.where(np.arange(64)[None, :] < 10, 0, 2).repeat(64, axis=0).astype(np.uint8)
    with pytest.raises(ClassificationError, match=r"in the phase-one map of x\.tif only "
                                                  r"class 2 \(ice\) is present"):
        plan_blocks(m, schema=SCHEMA, samples_per_class=100, source="the phase-one map of x.tif")


def test_crops_match_the_reflect_padding_of_strip_prediction():
    rng = np.random.default_rng(0)
    data = rng.integers(1, 10000, (21, 18, 2)).astype(np.uint16)
    valid = rng.random((21, 18)) > 0.1
    scaling = Scaling.fixed(10000)
    halo, block = 3, 8
    padded = np.pad(scaling.apply(data, valid=valid), ((halo, halo), (halo, halo), (0, 0)),
                    mode="reflect")
    origins = np.array([[0, 0], [16, 8], [8, 16]])   # corners and blocks past the edge
    crops = gather_blocks(data, origins, block=block, halo=halo, scaling=scaling, valid=valid)
    assert crops.shape == (3, block + 2 * halo, block + 2 * halo, 2)
    for crop, (r, c) in zip(crops, origins):
        rows, cols = min(block + 2 * halo, 21 + 2 * halo - r), min(block + 2 * halo,
                                                                    18 + 2 * halo - c)
        np.testing.assert_array_equal(crop[:rows, :cols], padded[r:r + rows, c:c + cols])


def test_targets_weigh_nothing_outside_the_image_or_unlabelled():
    m = np.array([[1, 0, 2], [3, 3, 0]], dtype=np.uint8)
    y, w = block_targets(m, [[0, 0]], block=4, lut=class_lookup(SCHEMA),
                         weights=np.array([1.0, 2.0, 3.0], np.float32),
                         allowed=np.array([[True, False, True]]))
    assert y.shape == w.shape == (1, 4, 4)
    expected = np.zeros((4, 4), np.float32)
    expected[0, 0] = 1.0                      # water, allowed
    expected[1, :2] = 3.0                     # rock, allowed; ice (0, 2) is not
    np.testing.assert_array_equal(w[0], expected)
    assert y[0, 0, 0] == 0 and y[0, 1, 0] == 2


def test_priorities_are_uniform_and_seeded():
    ids = np.arange(200_000)
    p = priorities(ids, 7)
    assert 0.0 <= p.min() and p.max() < 1.0
    assert abs(p.mean() - 0.5) < 0.01 and abs(np.mean(p < 0.1) - 0.1) < 0.01
    np.testing.assert_array_equal(p, priorities(ids, 7))
    assert np.mean(p == priorities(ids, 8)) < 0.001


def test_labelled_image_checks_the_map_grid():
    with pytest.raises(ValueError, match="differ in size"):
        LabelledImage(np.zeros((10, 10, 2), np.uint16), np.ones((10, 10), bool),
                      np.zeros((10, 9), np.uint8), SCHEMA, Scaling.fixed(1), 10)
