"""Confirmed labels: pixels whose class the map repeats a given distance away all round (for
the temperature, half a tile)."""
import numpy as np

from csc.sampling import calibration_distance, confirmed


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


def test_a_class_one_and_a_half_tiles_wide_still_calibrates():
    """A class band narrower than two tiles (snow between rock and ice, a fjord of mélange)
    has no pixel confirmed a whole tile away, so it would never reach the temperature; at the
    calibration distance its middle counts, its rims do not."""
    tile = 50
    class_map = np.full((300, 300), 7, np.uint8)
    class_map[:, 100:175] = 5                   # 75 px wide: one and a half tiles
    rows, cols = np.nonzero(np.ones_like(class_map, bool))
    whole = confirmed(class_map, rows, cols, distance=tile).reshape(class_map.shape)
    assert not whole[:, 100:175].any()
    distance = calibration_distance(tile)
    assert distance == 25
    half = confirmed(class_map, rows, cols, distance=distance).reshape(class_map.shape)
    assert half[:, 125:150].all()                # the middle of the band
    assert not half[:, 100:125].any() and not half[:, 150:175].any()


def test_calibration_distance_without_or_with_tiny_tiles():
    assert calibration_distance(None) == 0 and calibration_distance(0) == 0
    assert calibration_distance(1) == 1 and calibration_distance(3) == 2
