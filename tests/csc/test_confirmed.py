"""Confirmed labels: pixels whose class the map repeats one tile away all round."""
import numpy as np

from csc.sampling import confirmed


def test_confirmed_pixels_lie_a_tile_inside_their_region():
    class_map = np.ones((40, 60), np.uint8)
    class_map[:, 30:] = 2                       # a boundary at column 30
    class_map[:5, :5] = 0                       # an unlabelled corner
    rows, cols = np.nonzero(np.ones_like(class_map, bool))
    ok = confirmed(class_map, rows, cols, distance=10).reshape(class_map.shape)
    # columns 0..19 and 40..59 are at least 10 px from the boundary; edges clip onto themselves
    assert ok[20, :20].all() and ok[20, 40:].all()
    assert not ok[20, 20:40].any()
    assert not ok[:5, :5].any()                  # unlabelled: never confirmed
    assert not ok[5:15, 0:15].all()             # within 10 px of the unlabelled corner
    assert ok[15:, :20].all()


def test_confirmed_keeps_the_shape_of_its_positions():
    class_map = np.full((8, 8), 3, np.uint8)
    rows = np.array([[0, 1], [2, 7]])
    assert confirmed(class_map, rows, rows.T, distance=2).shape == (2, 2)
    assert confirmed(class_map, rows, rows.T, distance=2).all()
