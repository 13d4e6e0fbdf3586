"""Balanced training centres from a phase-one map, and patches gathered on demand."""
import numpy as np
import pytest

from CSC_Application.sampling import PatchSet, patch_dataset, sample_centres
from csc.sampling import sample_pixels
from csc.classes import ClassInfo, ClassSchema
from csc.errors import ClassificationError, PatchSizeError
from csc.scaling import Scaling

SCHEMA = ClassSchema(classes=tuple(ClassInfo(i, f"c{i}", "#000000") for i in (1, 2, 3, 4)))


def _map():
    """An asymmetric 40x70 map: class 1 big, 2 medium, 3 tiny (15 px), 4 absent, nodata."""
    m = np.ones((40, 70), dtype=np.uint8)
    m[:, 50:] = 2
    m[30:35, 10:13] = 3
    m[:5, :20] = 0
    return m


def test_balanced_without_replacement_never_nodata():
    m = _map()
    s = sample_centres(m, schema=SCHEMA, samples_per_class=100, seed=0)
    # rows/cols index the map correctly: the label of every centre is the map value there
    np.testing.assert_array_equal(m[s.rows, s.cols], s.labels)
    assert (m[s.rows, s.cols] != 0).all()
    assert s.drawn == {1: 100, 2: 100, 3: 100, 4: 0}
    assert s.counts == {1: int((m == 1).sum()), 2: int((m == 2).sum()), 3: 15, 4: 0}
    assert s.absent == [4] and s.replaced == [3]
    for c in (1, 2):   # enough pixels: no centre repeats
        flat = s.rows[s.labels == c] * 70 + s.cols[s.labels == c]
        assert len(np.unique(flat)) == 100
    # too few pixels: each of the 15 used, the rest repeats
    flat3 = s.rows[s.labels == 3] * 70 + s.cols[s.labels == 3]
    assert len(np.unique(flat3)) == 15


def test_sample_capped_by_largest_class():
    m = _map()
    s = sample_centres(m, schema=SCHEMA, samples_per_class=10**6, seed=0)
    biggest = int((m == 1).sum())
    assert s.drawn == {1: biggest, 2: biggest, 3: biggest, 4: 0}
    flat1 = s.rows[s.labels == 1] * 70 + s.cols[s.labels == 1]
    assert len(np.unique(flat1)) == biggest      # every pixel of the biggest class once


def test_sample_repeatable_by_seed():
    m = _map()
    a = sample_centres(m, schema=SCHEMA, samples_per_class=50, seed=3)
    b = sample_centres(m, schema=SCHEMA, samples_per_class=50, seed=3)
    c = sample_centres(m, schema=SCHEMA, samples_per_class=50, seed=4)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.cols, b.cols)
    assert not np.array_equal(a.rows, c.rows)


def test_single_class_map_is_an_error():
    m = np.zeros((20, 20), dtype=np.uint8)
    m[2:, :] = 2
    with pytest.raises(ClassificationError, match=r"only class 2 \(c2\).*at least two"):
        sample_centres(m, schema=SCHEMA, samples_per_class=10, path="x.tif")


def test_patches_match_explicit_reflect_padding():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 5000, (9, 11, 3)).astype(np.uint16)
    rows = np.array([0, 0, 8, 4, 8, 3])
    cols = np.array([0, 10, 10, 5, 0, 1])
    scaling = Scaling.fixed(10000)
    ps = PatchSet(data, rows, cols, np.zeros(6), patch_size=5, scaling=scaling)
    padded = np.pad(scaling.apply(data), ((2, 2), (2, 2), (0, 0)), mode="reflect")
    got = ps.take(np.arange(6))
    assert got.shape == (6, 5, 5, 3) and got.dtype == np.float32
    for i, (r, c) in enumerate(zip(rows, cols)):
        np.testing.assert_array_equal(got[i], padded[r:r + 5, c:c + 5])
    np.testing.assert_array_equal(ps.pixels([3, 4]), scaling.apply(data[[4, 8], [5, 0]]))
    assert (len(ps), ps.patch_size, ps.n_bands, ps.halo) == (6, 5, 3, 2)


def test_patch_bigger_than_image_is_an_error():
    with pytest.raises(PatchSizeError, match="7×7 patches do not fit an image of 5x9"):
        PatchSet(np.zeros((5, 9, 2)), [0], [0], [0], patch_size=7, scaling=Scaling.fixed(1))


def test_patch_dataset_batches_cover_the_index_once_per_epoch():
    data = np.arange(6 * 8 * 1, dtype=np.uint16).reshape(6, 8, 1)
    rows, cols = np.divmod(np.arange(48), 8)
    labels = np.arange(48) % 3
    ps = PatchSet(data, rows, cols, labels, patch_size=1, scaling=Scaling.fixed(1))
    index = np.arange(0, 48, 2)
    ds = patch_dataset(ps, index, labels, batch_size=5, shuffle=True, seed=0)
    assert len(ds) == 5
    seen = np.concatenate([ds[i][0].reshape(-1) for i in range(len(ds))])
    np.testing.assert_array_equal(np.sort(seen), index.astype(np.float32))
    x, y = ds[0]
    np.testing.assert_array_equal(y, labels[x.reshape(-1).astype(int)])


def test_sample_pixels_within_mask():
    mask = np.zeros((30, 40), dtype=bool)
    mask[5:9, 3:30] = True
    pos = sample_pixels(mask, n=50, seed=0)
    assert len(pos) == len(np.unique(pos)) == 50
    assert mask.ravel()[pos].all()
    np.testing.assert_array_equal(np.sort(sample_pixels(mask, n=10**6)), np.flatnonzero(mask))
