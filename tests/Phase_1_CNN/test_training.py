"""Training and fine-tuning through `csc train` / `csc finetune` on tiny, learnable tile sets."""
import json

import keras
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from raster_factory import labelled_scenes
from csc.classes import ClassInfo, ClassSchema
from csc.cli import cli
from csc.errors import EmptyTileSetError, ModelError
from csc.metrics import class_report
from Phase_1_CNN.dataset import TileSet, tile_batches
from Phase_1_CNN.model import load_model, predict_classes
from Phase_1_CNN.tiles import make_tileset
from Phase_1_CNN.training import output_paths, train

THREE = ClassSchema(classes=(ClassInfo(1, "water", "#1f78b4"),
                             ClassInfo(2, "sediment", "#d9b365"),
                             ClassInfo(3, "vegetation", "#33a02c")), name="river")
FAST = ["--width", "0.125", "--lr", "1e-3", "--batch-size", "16", "--seed", "0"]


def _write_scenes(folder, *, n=2, shape=(128, 192), bands=4):
    return labelled_scenes(folder, n=n, shape=shape, bands=bands)


def _run(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("phase1")
    scenes, classes = _write_scenes(root / "scenes")
    result = _run(["tiles", scenes, root / "tiles", "--tile-size", 32, "--stride", 16,
                   "--block-size", 64, "--classes", classes])
    assert result.exit_code == 0, result.output
    return {"root": root, "scenes": scenes, "classes": classes, "tiles": root / "tiles"}


@pytest.fixture(scope="module")
def trained(workspace):
    model = workspace["root"] / "out" / "model.keras"
    result = _run(["train", workspace["tiles"], model, "--epochs", 4, *FAST])
    assert result.exit_code == 0, result.output
    return model, result


def test_train_writes_model_sidecar_history_and_report(trained):
    model, result = trained
    paths = output_paths(model)
    for key in ("model", "sidecar", "history_csv", "history_png", "report"):
        assert paths[key].is_file(), key
    assert paths["report"].name == "model_CNN_validation.csv"
    assert "best validation accuracy" in result.output
    assert "weighted avg" in result.output  # the printed per-class table


def test_sidecar_describes_the_tiles_and_the_run(trained, workspace):
    model, _ = trained
    net, card = load_model(model)
    tiles = TileSet(workspace["tiles"])
    assert (card.tile_size, card.bands) == (32, (1, 2, 3, 4))
    assert card.scaling == tiles.scaling and card.schema.names == THREE.names
    assert card.width == 0.125 and net.get_layer("block1_conv1").filters == 8
    history = pd.read_csv(output_paths(model)["history_csv"])
    run = card.training["runs"][-1]
    assert run["epochs"] == len(history) == card.training["epochs"]
    assert run["best_val_accuracy"] == pytest.approx(history["val_accuracy"].max(), abs=1e-5)
    assert run["seconds_per_epoch"] > 0
    assert run["tile_counts"]["train"]["water"] == int(np.sum(tiles.labels("train") == 1))


def test_trained_model_beats_chance_on_validation_tiles(trained, workspace):
    model, _ = trained
    net, card = load_model(model)
    tiles = TileSet(workspace["tiles"])
    truth = tiles.labels("val")
    pred, proba = predict_classes(net, tiles.tiles("val"), card.schema)
    assert proba.shape == (len(truth), 3)
    accuracy = np.mean(pred == truth)
    assert accuracy > 1 / 3 + 0.3
    report = pd.read_csv(output_paths(model)["report"])
    expected = class_report(truth, pred, schema=card.schema)
    assert report["Class"].tolist() == expected["Class"].tolist()
    np.testing.assert_allclose(report["F1_score"], expected["F1_score"], atol=1e-5)


def test_finetune_appends_a_run(trained, workspace):
    model, _ = trained
    out = workspace["root"] / "tuned" / "tuned.keras"
    result = _run(["finetune", model, workspace["tiles"], out, "--epochs", 1, "--seed", 1])
    assert result.exit_code == 0, result.output
    net, card = load_model(out)
    assert [r["kind"] for r in card.training["runs"]] == ["train", "finetune"]
    assert card.training["runs"][1]["finetuned_from"] == str(model)
    assert card.training["runs"][1]["learning_rate"] == 1e-5
    history = pd.read_csv(output_paths(out)["history_csv"])
    assert sorted(history["run"].unique()) == [1, 2]
    assert (history["run"] == 2).sum() == 1


def test_finetune_rejects_a_mismatched_tile_set(trained, workspace):
    model, _ = trained
    other = workspace["root"] / "tiles40"
    make_tileset(workspace["scenes"], other, tile_size=40, stride=20, schema=THREE,
                 block_size=80)
    result = _run(["finetune", model, other, workspace["root"] / "x.keras"])
    assert result.exit_code == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "tile size 32 vs 40" in message and str(model) in message and str(other) in message
    assert not (workspace["root"] / "x.keras").exists()


def test_finetune_rejects_other_classes(trained, workspace):
    model, _ = trained
    other = workspace["root"] / "tiles_glacier"
    make_tileset(workspace["scenes"], other, tile_size=32, stride=16, block_size=64)
    with pytest.raises(ModelError, match="classes"):
        from Phase_1_CNN.training import finetune
        finetune(model, other, workspace["root"] / "y.keras", epochs=1)


def test_weights_need_full_width(workspace, tmp_path):
    weights = tmp_path / "vgg.weights.h5"
    keras.applications.VGG16(include_top=False, weights=None,
                             input_shape=(32, 32, 3)).save_weights(weights)
    result = _run(["train", workspace["tiles"], tmp_path / "m.keras", "--width", "0.5",
                   "--weights", weights])
    assert result.exit_code == 2
    assert "full-width VGG16 only" in result.stderr


def test_model_path_must_be_keras(workspace, tmp_path):
    with pytest.raises(ModelError, match=r"must end in \.keras"):
        train(workspace["tiles"], tmp_path / "m.h5", epochs=1, width=0.0625)


def test_training_needs_validation_tiles(workspace, tmp_path):
    ts = make_tileset(workspace["scenes"], tmp_path / "noval", tile_size=32, stride=16,
                      schema=THREE, val_fraction=0.0, augment=False)
    assert ts.n("val") == 0
    with pytest.raises(EmptyTileSetError, match="no validation tiles"):
        train(ts.path, tmp_path / "m.keras", epochs=1, width=0.0625)


def test_batches_come_from_the_memory_map_shuffled_by_seed(workspace):
    tiles = TileSet(workspace["tiles"])
    a = tile_batches(tiles, "train", batch_size=16, seed=3)
    b = tile_batches(tiles, "train", batch_size=16, seed=3)
    assert len(a) == -(-tiles.n("train") // 16)
    x, y = a[0]
    assert x.dtype == np.float32 and x.shape == (16, 32, 32, 4)
    assert y.dtype == np.int32 and set(y.tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(y, b[0][1])
    ordered = tile_batches(tiles, "val", batch_size=8, shuffle=False)
    np.testing.assert_array_equal(ordered[0][1], THREE.to_index(tiles.labels("val")[:8]))
    assert isinstance(tiles.tiles("train"), np.memmap)


@pytest.mark.slow
def test_full_vgg16_trains_end_to_end_with_imagenet_weights(tmp_path):
    scenes, classes = _write_scenes(tmp_path / "scenes", n=1, shape=(64, 96), bands=4)
    result = _run(["tiles", scenes, tmp_path / "tiles", "--tile-size", 32, "--stride", 32,
                   "--no-augment", "--split", "block", "--block-size", 32, "--val-fraction",
                   "0.3", "--classes", classes])
    assert result.exit_code == 0, result.output
    reference = keras.applications.VGG16(include_top=False, weights=None,
                                         input_shape=(32, 32, 3))
    weights = tmp_path / "vgg16_notop.weights.h5"
    reference.save_weights(weights)
    model = tmp_path / "vgg.keras"
    result = _run(["train", tmp_path / "tiles", model, "--epochs", 1, "--batch-size", 4,
                   "--weights", weights, "--lr", "1e-6"])
    assert result.exit_code == 0, result.output
    net, card = load_model(model)
    with pytest.warns(UserWarning, match="input channels"):
        base = keras.applications.VGG16(include_top=False, weights=None,
                                        input_shape=(32, 32, 4))
    head = (512 * 512 + 512) + (512 * 256 + 256) + (256 * 3 + 3)
    assert net.count_params() == base.count_params() + head
    assert card.width == 1.0 and card.training["runs"][0]["weights"] == str(weights)
    # after one epoch at a tiny learning rate the copied kernels are still close to the file's
    kernel = net.get_layer("block5_conv3").get_weights()[0]
    np.testing.assert_allclose(kernel, reference.get_layer("block5_conv3").get_weights()[0],
                               atol=1e-3)
    assert json.loads(model.with_suffix(".json").read_text())["kind"] == "vgg16"
