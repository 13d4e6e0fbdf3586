import numpy as np

from csc.tiling import extract_tiles, strips, tile_grid, tile_origins, window_sums


def test_origins_reach_last_row_and_column():
    assert tile_origins(100, 50, 25).tolist() == [0, 25, 50]
    assert tile_origins(110, 50, 25).tolist() == [0, 25, 50, 60]
    assert tile_origins(49, 50, 25).tolist() == []
    rows, cols = tile_grid((60, 90), 50, 25)
    assert set(rows.tolist()) == {0, 10} and set(cols.tolist()) == {0, 25, 40}
    assert (rows + 50).max() == 60 and (cols + 50).max() == 90


def test_window_sums_match_direct_sums():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (40, 33))
    rows, cols = tile_grid(a.shape, 7, 3)
    direct = np.array([a[r:r + 7, c:c + 7].sum() for r, c in zip(rows, cols)])
    np.testing.assert_array_equal(window_sums(a, 7, rows, cols), direct)
    planes = np.stack([a == k for k in range(5)], axis=-1)
    assert window_sums(planes, 7, rows, cols).sum(axis=1).tolist() == [49] * len(rows)


def test_extract_tiles_copies_windows():
    a = np.arange(6 * 8 * 2).reshape(6, 8, 2)
    tiles = extract_tiles(a, 3, np.array([0, 3]), np.array([5, 1]))
    assert tiles.shape == (2, 3, 3, 2)
    np.testing.assert_array_equal(tiles[0], a[0:3, 5:8])
    np.testing.assert_array_equal(tiles[1], a[3:6, 1:4])


def test_strips_cover_rows_with_halo_and_padding():
    s = strips(10, 4, halo=2)
    assert [(x.start, x.stop) for x in s] == [(0, 4), (4, 8), (8, 10)]
    assert (s[0].read_start, s[0].pad_top, s[0].read_stop) == (0, 2, 6)
    assert (s[1].read_start, s[1].read_stop, s[1].pad_top, s[1].pad_bottom) == (2, 10, 0, 0)
    assert (s[2].read_stop, s[2].pad_bottom) == (10, 2)
