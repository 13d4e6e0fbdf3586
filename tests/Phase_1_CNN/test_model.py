"""The VGG16 builder, ImageNet weight copying, loading with the sidecar, tile prediction."""
import keras
import numpy as np
import pytest

from csc.classes import ClassInfo, ClassSchema
from csc.errors import ModelError
from csc.modelcard import ModelCard
from csc.scaling import Scaling
from Phase_1_CNN.model import (build_vgg16, conv_layer_names, load_imagenet_weights,
                               load_model, predict_classes, predict_tiles, scaled_filters)

SCHEMA = ClassSchema(classes=(ClassInfo(1, "water", "#1f78b4"), ClassInfo(2, "ice", "#ffffff"),
                              ClassInfo(3, "rock", "#7f7f7f")), name="test")


def test_narrow_model_keeps_vgg16_layer_names_and_scales_filters():
    model = build_vgg16(32, 5, 3, width=1 / 16)
    assert model.input_shape == (None, 32, 32, 5)
    assert model.output_shape == (None, 3)
    full = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    for name in conv_layer_names():
        expected = max(1, round(full.get_layer(name).filters / 16))
        assert model.get_layer(name).filters == expected
    assert model.get_layer("predictions").dtype_policy.compute_dtype == "float32"


def test_filter_count_never_drops_below_one():
    assert scaled_filters(64, 0.001) == 1
    assert scaled_filters(512, 0.25) == 128


@pytest.mark.filterwarnings("ignore:.*input channels")
def test_full_width_is_keras_vgg16_plus_head():
    model = build_vgg16(32, 4, 7)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 4))
    flat = 512  # 32 px / 2**5 = 1 px x 512 filters
    head = (flat * 512 + 512) + (512 * 256 + 256) + (256 * 7 + 7)
    assert model.count_params() == base.count_params() + head


def test_tile_smaller_than_five_poolings_is_refused():
    with pytest.raises(ModelError, match="at least 32"):
        build_vgg16(16, 3, 3, width=0.0625)


def test_imagenet_weights_copy_into_four_bands(tmp_path):
    reference = keras.applications.VGG16(include_top=False, weights=None,
                                         input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_notop.weights.h5"
    reference.save_weights(path)
    model = build_vgg16(32, 4, 3)
    assert load_imagenet_weights(model, path) == 13
    kernel, bias = model.get_layer("block1_conv1").get_weights()
    ref_kernel, ref_bias = reference.get_layer("block1_conv1").get_weights()
    assert kernel.shape == (3, 3, 4, 64)
    np.testing.assert_array_equal(kernel[:, :, :3], ref_kernel)
    np.testing.assert_allclose(kernel[:, :, 3], ref_kernel.mean(axis=2), rtol=1e-6)
    np.testing.assert_array_equal(bias, ref_bias)
    for name in conv_layer_names()[1:]:
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0],
                                      reference.get_layer(name).get_weights()[0])


def test_imagenet_weights_refused_at_reduced_width(tmp_path):
    reference = keras.applications.VGG16(include_top=False, weights=None,
                                         input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_notop.weights.h5"
    reference.save_weights(path)
    with pytest.raises(ModelError, match="full-width VGG16 only"):
        load_imagenet_weights(build_vgg16(32, 3, 3, width=0.25), path)
    with pytest.raises(ModelError, match="no such weights file"):
        load_imagenet_weights(build_vgg16(32, 3, 3), tmp_path / "missing.h5")


def _saved_model(tmp_path, *, n_classes=3):
    model = build_vgg16(32, 2, n_classes, width=1 / 16)
    path = tmp_path / "m.keras"
    model.save(path)
    card = ModelCard(tile_size=32, bands=(1, 2), scaling=Scaling.fixed(10000), schema=SCHEMA,
                     width=1 / 16)
    card.save(path)
    return model, path


def test_load_model_returns_model_and_card(tmp_path):
    model, path = _saved_model(tmp_path)
    loaded, card = load_model(path)
    tiles = np.random.default_rng(0).random((5, 32, 32, 2), dtype=np.float32)
    np.testing.assert_allclose(predict_tiles(loaded, tiles), predict_tiles(model, tiles),
                               rtol=1e-5, atol=1e-6)
    assert card.tile_size == 32 and card.bands == (1, 2)
    assert card.schema.names == ["water", "ice", "rock"]


def test_load_model_without_sidecar_is_a_model_error(tmp_path):
    _, path = _saved_model(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="no sidecar m.json"):
        load_model(path)


def test_load_model_rejects_a_sidecar_of_another_model(tmp_path):
    _, path = _saved_model(tmp_path, n_classes=4)
    with pytest.raises(ModelError, match="predicts 4 classes but its sidecar"):
        load_model(path)


def test_predictions_are_probabilities_and_class_ids(tmp_path):
    model = build_vgg16(32, 2, 3, width=1 / 16)
    tiles = np.random.default_rng(1).random((7, 32, 32, 2), dtype=np.float32)
    proba = predict_tiles(model, tiles, batch_size=3)
    assert proba.shape == (7, 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    ids, _ = predict_classes(model, tiles, SCHEMA)
    assert set(ids.tolist()) <= {1, 2, 3}
    np.testing.assert_array_equal(ids, SCHEMA.ids[proba.argmax(axis=1)])
    assert predict_tiles(model, tiles[:0]).shape == (0, 3)
    with pytest.raises(ModelError, match="do not fit a model"):
        predict_tiles(model, tiles[:, :, :, :1])
