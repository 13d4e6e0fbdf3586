"""Tile selection rules, the leak-free split, augmentation, the tile set on disk and the
`csc tiles` command."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from raster_factory import block_labels
from csc.classes import GLACIER
from csc.cli import cli
from csc.errors import BandError, EmptyTileSetError
from csc.rasters import write_class_raster, write_image
from csc.scaling import Scaling
from Phase_1_CNN.dataset import TileSet
from Phase_1_CNN.tiles import (augment_tiles, block_split, make_tileset, orient,
                               select_tiles)


# -- selection rules ----------------------------------------------------------------------------
def _tile_with(fractions, size=40):
    """One ``size``x``size`` label tile holding class ids in the given fractions, row-major."""
    counts = np.round(np.array(list(fractions.values())) * size * size).astype(int)
    counts[0] += size * size - counts.sum()
    return np.repeat(np.array(list(fractions.keys()), dtype=np.uint8), counts).reshape(size, size)


def test_tile_96_percent_one_class_is_kept_with_that_class():
    sel = select_tiles(_tile_with({2: 0.96, 3: 0.04}), tile_size=40, stride=40)
    assert sel.n == 1
    assert sel.classes.tolist() == [2]
    assert sel.purity[0] == pytest.approx(0.96)


def test_tile_90_percent_one_class_is_rejected_for_purity():
    sel = select_tiles(_tile_with({2: 0.90, 3: 0.10}), tile_size=40, stride=40)
    assert sel.n == 0
    assert (sel.rejected_purity, sel.rejected_unlabelled) == (1, 0)
    assert sel.best_purity == pytest.approx(0.90)


def test_tile_class_is_the_mode_not_the_median():
    labels = _tile_with({1: 0.45, 4: 0.20, 7: 0.35})  # median 4, mode 1
    assert int(np.median(labels)) == 4
    sel = select_tiles(labels, tile_size=40, stride=40, purity=0.4)
    assert sel.classes.tolist() == [1]


@pytest.mark.parametrize("unlabelled, kept", [(0.08, 1), (0.12, 0)])
def test_unlabelled_share_threshold(unlabelled, kept):
    labels = _tile_with({4: 1 - unlabelled, 0: unlabelled})
    sel = select_tiles(labels, tile_size=40, stride=40, max_unlabelled=0.10)
    assert sel.n == kept
    assert sel.rejected_unlabelled == 1 - kept
    if kept:  # purity counts the labelled pixels only
        assert sel.classes.tolist() == [4] and sel.purity[0] == 1.0


def test_nodata_pixels_count_as_unlabelled():
    labels = np.full((40, 40), 4, dtype=np.uint8)
    valid = np.ones((40, 40), dtype=bool)
    valid[:6] = False  # 15 % nodata
    sel = select_tiles(labels, tile_size=40, stride=40, valid=valid)
    assert sel.n == 0 and sel.rejected_unlabelled == 1


def test_last_row_and_column_positions_are_used():
    # 60 x 90 raster, tile 20, stride 25: origins rows 0, 25, 40(flush) and cols 0, 25, 50, 70
    labels = np.ones((60, 90), dtype=np.uint8)
    labels[40:, :70] = 2   # only the flush last row of tiles is pure class 2
    labels[:, 70:] = 3     # only the flush last column of tiles is pure class 3
    sel = select_tiles(labels, tile_size=20, stride=25)
    assert sel.n_positions == 3 * 4
    found = {(int(r), int(c)): int(k) for r, c, k in zip(sel.rows, sel.cols, sel.classes)}
    assert found == {(0, 0): 1, (0, 25): 1, (0, 50): 1,
                     (40, 0): 2, (40, 25): 2, (40, 50): 2,
                     (0, 70): 3, (25, 70): 3, (40, 70): 3}
    assert sel.rejected_purity == 3  # row 25 tiles reach 5 rows into class 2


def test_selection_matches_a_direct_count():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.repeat(rng.integers(0, 4, size=(8, 12)), 7, axis=0), 9, axis=1)
    labels = labels.astype(np.uint8)
    sel = select_tiles(labels, tile_size=9, stride=5, purity=0.6, max_unlabelled=0.3)
    for r, c, k in zip(sel.rows, sel.cols, sel.classes):
        window = labels[r:r + 9, c:c + 9]
        labelled = window[window > 0]
        assert np.mean(window == 0) <= 0.3
        assert np.bincount(labelled).argmax() == k
        assert np.mean(labelled == k) >= 0.6


# -- augmentation -------------------------------------------------------------------------------
def test_augmentation_gives_the_eight_distinct_orientations():
    tile = np.random.default_rng(0).random((1, 6, 6, 2), dtype=np.float32)
    out, codes = augment_tiles(tile, noise=0.0)
    assert out.shape == (8, 6, 6, 2) and codes.tolist() == list(range(8))
    flat = {out[k].tobytes() for k in range(8)}
    assert len(flat) == 8
    expected = [np.rot90(tile[0], k % 4) for k in range(8)]
    expected = [e if k < 4 else e[:, ::-1] for k, e in enumerate(expected)]
    for k in range(8):
        np.testing.assert_array_equal(out[k], expected[k])
        np.testing.assert_array_equal(out[k], orient(tile, k)[0])


def test_noise_never_wraps_dark_or_saturated_pixels():
    raw = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    raw[:, :4] = 255  # saturated half, black half
    raw[:, 4:, :, 0] = 1
    tiles = Scaling.fixed(255).apply(raw)
    out, codes = augment_tiles(tiles, noise=0.05, rng=np.random.default_rng(1))
    assert out.min() >= 0.0 and out.max() <= 1.0
    oriented = np.concatenate([orient(tiles[i:i + 1], k) for i in range(4) for k in range(8)])
    assert np.abs(out - oriented).max() <= 0.05 + 1e-6
    np.testing.assert_array_equal(out[codes == 0], tiles)  # the original stays exact
    dark = oriented < 0.01
    assert out[dark].max() <= 0.01 + 0.05  # dark stays dark: no wrap to the top of the range


# -- the tile set -------------------------------------------------------------------------------
def _scenes(make_scene, tmp_path, *, n=1, shape=(128, 192), bands=4, seed=0):
    folder = tmp_path / "scenes"
    for i in range(n):
        make_scene(f"scene{i}", shape=shape, n_classes=3, bands=bands, folder=folder,
                   seed=seed + i)
    return folder


def _covered(rows, cols, shape, tile):
    mask = np.zeros(shape, dtype=bool)
    for r, c in zip(rows, cols):  # a handful of tiles in a test
        mask[r:r + tile, c:c + tile] = True
    return mask


def test_block_split_never_lets_training_tiles_touch_validation(make_scene, tmp_path):
    folder = _scenes(make_scene, tmp_path, shape=(160, 240))
    ts = make_tileset(folder, tmp_path / "tiles", tile_size=32, stride=16, block_size=64,
                      val_fraction=0.25, seed=4)
    table = ts.index()
    train = table[(table.split == "train") & (table.augmentation == 0)]
    val = table[table.split == "validation"]
    assert len(train) and len(val)
    train_px = _covered(train.row, train["col"], (160, 240), 32)
    val_px = _covered(val.row, val["col"], (160, 240), 32)
    assert not np.any(train_px & val_px)
    record = ts.meta["images"][0]
    assert record["train"] + record["validation"] + record["dropped_overlap"] == record["kept"]


def test_block_split_function_drops_overlapping_training_tiles():
    labels = np.ones((100, 100), dtype=np.uint8)
    sel = select_tiles(labels, tile_size=20, stride=10)
    train, val = block_split((100, 100), sel, tile_size=20, block_size=40, val_fraction=0.3,
                             rng=np.random.default_rng(0))
    assert val.any() and train.any() and not np.any(train & val)
    val_px = _covered(sel.rows[val], sel.cols[val], (100, 100), 20)
    for r, c in zip(sel.rows[train], sel.cols[train]):
        assert not val_px[r:r + 20, c:c + 20].any()


def test_image_split_keeps_each_image_on_one_side(make_scene, tmp_path):
    folder = _scenes(make_scene, tmp_path, n=3, shape=(64, 96))
    ts = make_tileset(folder, tmp_path / "tiles", tile_size=32, stride=16, split="image",
                      val_fraction=0.34, augment=False)
    table = ts.index()
    sides = table.groupby("image")["split"].nunique()
    assert (sides == 1).all()
    assert set(table.split) == {"train", "validation"}


def test_tileset_arrays_csv_and_counts(make_scene, tmp_path):
    folder = _scenes(make_scene, tmp_path, n=2)
    ts = make_tileset(folder, tmp_path / "tiles", tile_size=32, stride=16, dtype="float16",
                      seed=1)
    tiles, labels = ts.tiles("train"), ts.labels("train")
    assert isinstance(tiles, np.memmap) and tiles.dtype == np.float16
    assert tiles.shape == (len(labels), 32, 32, 4)
    table = ts.index()
    assert (table.split == "train").sum() == len(labels)
    assert (table[table.split == "train"].augmentation.value_counts() == len(labels) // 8).all()
    counts = pd.read_csv(tmp_path / "tiles" / "counts.csv")
    assert counts["class"].tolist() == GLACIER.names
    for split, name in (("train", "train"), ("val", "validation")):
        got = np.bincount(ts.labels(split), minlength=256)[GLACIER.ids]
        assert counts[name].tolist() == got.tolist()
    per_table = table.groupby(["split", "class_name"]).size()
    assert per_table["train"].to_dict() == {k: v for k, v in
                                            zip(counts["class"], counts["train"]) if v}
    meta = json.loads((tmp_path / "tiles" / "tiles.json").read_text())
    assert meta["tile_size"] == 32 and meta["bands"] == [1, 2, 3, 4]
    assert meta["scaling"] == Scaling.fixed(10000).to_dict()  # uint16 default
    assert meta["dtype"] == "float16"
    # tile pixels are the scaled image pixels at the recorded position and orientation
    first = table[(table.split == "train")].iloc[3]
    from csc.rasters import read_image
    img = read_image(folder / first.image).data
    window = img[first.row:first.row + 32, first["col"]:first["col"] + 32][None]
    expected = orient(Scaling.fixed(10000).apply(window), int(first.augmentation))[0]
    assert np.abs(tiles[int(first["index"])].astype(np.float32) - expected).max() < 0.03


def test_same_seed_same_tiles(make_scene, tmp_path):
    folder = _scenes(make_scene, tmp_path)
    a = make_tileset(folder, tmp_path / "a", tile_size=32, stride=16, seed=7)
    b = make_tileset(folder, tmp_path / "b", tile_size=32, stride=16, seed=7)
    np.testing.assert_array_equal(a.tiles("train"), b.tiles("train"))
    np.testing.assert_array_equal(a.labels("val"), b.labels("val"))


def test_percentile_scaling_is_fitted_and_recorded(make_scene, tmp_path):
    folder = _scenes(make_scene, tmp_path)
    ts = make_tileset(folder, tmp_path / "tiles", tile_size=32, stride=16, scale="percentile",
                      augment=False, dtype="float32")
    assert ts.scaling.mode == "percentile" and len(ts.scaling.low) == 4
    values = np.asarray(ts.tiles("train"))
    assert 0.0 <= values.min() and np.percentile(values, 50) < 1.0


def test_empty_tile_set_names_the_purity_rule(make_scene, tmp_path):
    labels = np.tile(np.array([[1, 2], [2, 1]], dtype=np.uint8), (32, 48))  # checkerboard
    make_scene("mixed", shape=(64, 96), labels=labels, folder=tmp_path / "s")
    with pytest.raises(EmptyTileSetError, match=r"15 by the purity rule.*--purity 0\.50"):
        make_tileset(tmp_path / "s", tmp_path / "tiles", tile_size=32, stride=16)


def test_empty_tile_set_names_the_unlabelled_rule(make_scene, tmp_path):
    labels = block_labels((64, 96), 2)
    labels[::3] = 0  # a third of the rows unlabelled
    make_scene("gappy", shape=(64, 96), labels=labels, folder=tmp_path / "s")
    with pytest.raises(EmptyTileSetError, match=r"(?s)unlabelled rule.*--max-unlabelled 0\.3"):
        make_tileset(tmp_path / "s", tmp_path / "tiles", tile_size=32, stride=16)


def test_empty_tile_set_when_tiles_do_not_fit(make_scene, tmp_path):
    make_scene("small", shape=(20, 30), folder=tmp_path / "s")
    with pytest.raises(EmptyTileSetError, match="try --tile-size 20 or less"):
        make_tileset(tmp_path / "s", tmp_path / "tiles", tile_size=32, stride=16)


def test_different_band_counts_need_bands(make_scene, tmp_path):
    make_scene("a", shape=(64, 64), n_classes=2, bands=4, folder=tmp_path / "s")
    make_scene("b", shape=(64, 64), n_classes=2, bands=3, folder=tmp_path / "s")
    with pytest.raises(BandError, match="different band counts"):
        make_tileset(tmp_path / "s", tmp_path / "tiles", tile_size=32, stride=16)
    ts = make_tileset(tmp_path / "s", tmp_path / "tiles", tile_size=32, stride=16,
                      bands=(1, 2, 3), split="image", val_fraction=0.5)
    assert ts.bands == (1, 2, 3) and ts.tile_shape == (32, 32, 3)


def test_tileset_folder_without_description_is_refused(tmp_path):
    with pytest.raises(EmptyTileSetError, match="no tiles.json"):
        TileSet(tmp_path)


# -- the command --------------------------------------------------------------------------------
def _run(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_tiles_prints_counts_by_class_name(make_scene, tmp_path):
    folder = _scenes(make_scene, tmp_path)
    result = _run(["tiles", folder, tmp_path / "tiles", "--tile-size", 32, "--stride", 16,
                   "--no-augment", "--dtype", "float32"])
    assert result.exit_code == 0, result.output
    assert "open water" in result.output and "melange" in result.output
    ts = TileSet(tmp_path / "tiles")
    assert ts.dtype == np.float32 and ts.meta["augment"]["orientations"] == 1


def _one_line_error(result, *words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("csc: error:")
    for word in words:
        assert word in message
    return message


def test_cli_missing_label_raster(make_raster, tmp_path):
    make_raster((64, 64), bands=3, name="lonely.tif")
    result = _run(["tiles", tmp_path, tmp_path / "tiles"])
    _one_line_error(result, "SCLS_lonely.tif")


def test_cli_label_shape_mismatch(make_raster, tmp_path):
    image = make_raster((64, 64), bands=3, name="scene.tif")
    write_class_raster(tmp_path / "SCLS_scene.tif", np.ones((60, 64), np.uint8), schema=GLACIER)
    result = _run(["tiles", image, tmp_path / "tiles", "--tile-size", 32])
    _one_line_error(result, "60x64", "64x64", "never resized")


def test_cli_non_integer_labels(make_raster, tmp_path):
    image = make_raster((64, 64), bands=3, name="scene.tif")
    write_image(tmp_path / "SCLS_scene.tif", np.full((64, 64), 1.5, dtype=np.float32))
    result = _run(["tiles", image, tmp_path / "tiles", "--tile-size", 32])
    _one_line_error(result, "non-integer")


def test_cli_fewer_bands_than_requested(make_scene, tmp_path):
    folder = _scenes(make_scene, tmp_path, bands=3)
    result = _run(["tiles", folder, tmp_path / "tiles", "--tile-size", 32, "--bands", "1,2,3,4"])
    _one_line_error(result, "3 band(s)", "--bands")


def test_cli_empty_tile_set_is_one_line(make_scene, tmp_path):
    folder = _scenes(make_scene, tmp_path, shape=(64, 96))
    result = _run(["tiles", folder, tmp_path / "tiles", "--tile-size", 64, "--stride", 16])
    _one_line_error(result, "purity rule")


def test_cli_bad_scale_is_a_usage_error(make_scene, tmp_path):
    folder = _scenes(make_scene, tmp_path, shape=(64, 96))
    result = _run(["tiles", folder, tmp_path / "tiles", "--scale", "lots"])
    assert result.exit_code == 2 and "percentile" in result.output


@pytest.mark.parametrize("command", ["tiles", "thin", "train", "finetune"])
def test_help(command):
    result = _run([command, "--help"])
    assert result.exit_code == 0 and f"Usage: cli {command}" in result.output
