"""Class balancing of the training tiles (`csc thin`)."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from raster_factory import block_labels
from csc.cli import cli
from Phase_1_CNN.dataset import TileSet
from Phase_1_CNN.thinning import thin_indices, thin_tileset
from Phase_1_CNN.tiles import make_tileset, orient


def test_thin_indices_cap_and_keep_rare_classes():
    labels = np.array([1] * 50 + [2] * 7 + [3] * 20, dtype=np.uint8)
    index, repeat = thin_indices(labels, max_per_class=10, seed=0)
    assert np.bincount(labels[index], minlength=4)[1:].tolist() == [10, 7, 10]
    assert len(np.unique(index)) == len(index) and not repeat.any()
    again, _ = thin_indices(labels, max_per_class=10, seed=0)
    np.testing.assert_array_equal(index, again)


def test_thin_indices_oversample_repeats_rare_tiles():
    labels = np.array([1] * 50 + [2] * 3, dtype=np.uint8)
    index, repeat = thin_indices(labels, max_per_class=10, oversample=True, seed=0)
    assert np.bincount(labels[index], minlength=3)[1:].tolist() == [10, 10]
    rare = index[labels[index] == 2]
    assert set(rare.tolist()) == {50, 51, 52}
    assert (repeat[labels[index] == 2] == 0).sum() == 3  # each rare tile once as itself


@pytest.fixture
def unbalanced(make_scene, tmp_path):
    # class 1 covers half the scene, classes 2 and 3 a quarter each
    labels = block_labels((96, 256), 4, block=64)
    labels[labels == 4] = 1
    make_scene("scene", shape=(96, 256), labels=labels, folder=tmp_path / "s")
    return make_tileset(tmp_path / "s", tmp_path / "tiles", tile_size=32, stride=16, seed=0,
                        dtype="float32")


def test_thin_tileset_caps_training_classes_and_rewrites_files(unbalanced):
    before_val = unbalanced.labels("val").copy()
    n_before = np.bincount(unbalanced.labels("train"), minlength=8)
    cap = int(np.sort(n_before[n_before > 0])[0]) + 8  # above the rarest, below the others
    result = thin_tileset(unbalanced.path, max_per_class=cap, seed=1)
    before, after = result.before, result.after
    assert f"training tiles: {int(before['train'].sum())} -> {int(after['train'].sum())}" in \
        result.summary()
    ts = TileSet(unbalanced.path)
    got = np.bincount(ts.labels("train"), minlength=8)
    assert got.tolist() == np.minimum(n_before, cap).tolist()
    assert before["train"].tolist() == n_before[1:].tolist()
    assert after["train"].tolist() == got[1:].tolist()
    np.testing.assert_array_equal(ts.labels("val"), before_val)  # validation untouched
    assert ts.tiles("train").shape[0] == got.sum()
    table = ts.index()
    assert (table.split == "train").sum() == got.sum()
    counts = pd.read_csv(ts.path / "counts.csv")
    assert counts["train"].tolist() == got[1:].tolist()
    meta = json.loads((ts.path / "tiles.json").read_text())
    assert meta["thinning"]["max_per_class"] == cap
    # rows of tiles.csv still describe the tiles in the array
    row = table[table.split == "train"].iloc[-1]
    assert ts.labels("train")[int(row["index"])] == row["class"]


def test_oversampled_copies_are_turned_versions(unbalanced):
    original = np.asarray(unbalanced.tiles("train")).copy()
    n_before = np.bincount(unbalanced.labels("train"), minlength=8)
    cap = int(n_before.max())
    thin_tileset(unbalanced.path, max_per_class=cap, oversample=True, seed=2)
    ts = TileSet(unbalanced.path)
    got = np.bincount(ts.labels("train"), minlength=8)
    assert set(got[got > 0].tolist()) == {cap}
    table = ts.index()
    train = table[table.split == "train"].set_index("index")
    rep = train[train.repeat > 0].iloc[0]
    source_index = np.flatnonzero((train.repeat == 0) & (train.row == rep.row)
                                  & (train["col"] == rep["col"])
                                  & (train.augmentation == rep.augmentation))[0]
    source = ts.tiles("train")[train.index[source_index]]
    turned = orient(source[None], int(rep.turn))[0]
    np.testing.assert_array_equal(ts.tiles("train")[rep.name], turned)
    assert original.shape[0] < ts.n("train")


def test_cli_thin_reports_before_and_after(unbalanced):
    result = CliRunner().invoke(cli, ["thin", str(unbalanced.path), "--max-per-class", "40"])
    assert result.exit_code == 0, result.output
    assert "before" in result.output and "after" in result.output
    assert "open water" in result.output
    assert f"-> {TileSet(unbalanced.path).n('train')}" in result.output
