"""The nodata-aware majority filter."""
import numpy as np
import pytest

from CSC_Application.despeckle import despeckle


def test_isolated_speckle_removed_edges_kept():
    m = np.ones((20, 20), dtype=np.uint8)
    m[:, 10:] = 2
    m[5, 4] = 3                    # a speckle
    out = despeckle(m, radius=2)
    assert out[5, 4] == 1
    expected = np.ones_like(m)
    expected[:, 10:] = 2
    np.testing.assert_array_equal(out, expected)   # a straight border does not move


def test_nodata_never_votes_nor_changes():
    m = np.full((15, 15), 2, dtype=np.uint8)
    m[:, :7] = 0                   # nodata on the left
    m[7, 7] = 1                    # a class-1 pixel on the nodata border
    m[7, 8] = 1
    out = despeckle(m, radius=1)
    assert (out[:, :7] == 0).all()
    # the 3x3 cross around (7, 7) holds 2 valid "1" and 2 valid "2" votes: ties keep the pixel
    assert out[7, 7] == 1


def test_strips_equal_whole_and_radius_zero_is_identity():
    rng = np.random.default_rng(0)
    m = rng.integers(0, 4, (53, 31)).astype(np.uint8)
    whole = despeckle(m, radius=2, strip_rows=1000)
    for rows in (1, 5, 16):
        np.testing.assert_array_equal(despeckle(m, radius=2, strip_rows=rows), whole)
    np.testing.assert_array_equal(despeckle(m, radius=0), m)
    assert (whole[m == 0] == 0).all()
    with pytest.raises(ValueError, match="radius must be ≥ 0"):
        despeckle(m, radius=-1)
