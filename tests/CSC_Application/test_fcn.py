"""The fully convolutional equivalent of the patch networks, and strip-wise prediction."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from CSC_Application.fcn import fully_convolutional, predict_blocks
from CSC_Application.learners import PatchNetworkClassifier, build_patch_network
from csc.blocks import reflect_index
from csc.classes import ClassInfo, ClassSchema
from csc.errors import ModelError
from csc.pixels import predict_scene
from csc.rasters import Image
from csc.scaling import Scaling


def _randomise(model, seed=0):
    """Non-trivial weights everywhere, including BatchNormalization statistics."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = weights
            layer.set_weights([rng.uniform(0.5, 2.0, gamma.shape), rng.normal(0, 0.5, beta.shape),
                               rng.normal(0, 0.5, mean.shape), rng.uniform(0.2, 3.0, var.shape)])
        else:
            layer.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype)
                               for w in weights])
    return model


def _explicit_patches(image, k):
    """Every pixel's K×K patch, built explicitly with numpy.pad(reflect)."""
    h = k // 2
    padded = np.pad(image, ((h, h), (h, h), (0, 0)), mode="reflect")
    view = sliding_window_view(padded, (k, k), axis=(0, 1))       # (R, C, bands, k, k)
    return np.moveaxis(view, (-2, -1), (2, 3)).reshape(-1, k, k, image.shape[-1]), padded


@pytest.mark.parametrize("k, shape", [(1, (13, 17)), (3, (13, 17)), (5, (13, 17)), (5, (5, 6)),
                                      (15, (16, 19))])
def test_fcn_equals_patch_network(k, shape):
    model = _randomise(build_patch_network(k, 4, 5), seed=k)
    image = np.random.default_rng(1).uniform(0, 1, shape + (4,)).astype(np.float32)
    patches, padded = _explicit_patches(image, k)
    expected = model.predict(patches, verbose=0).reshape(shape + (5,))
    got = predict_blocks(fully_convolutional(model), padded, halo=k // 2, max_pixels=37)
    assert got.shape == shape + (5,)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-5)


def test_fcn_has_only_convolutions_and_folds_batchnorm():
    fcn = fully_convolutional(build_patch_network(15, 4, 7))
    kinds = [type(layer).__name__ for layer in fcn.layers[1:]]
    assert kinds == ["Conv2D"] * 10                       # 6 convs + 4 dense layers
    assert fcn.layers[7].kernel.shape == (3, 3, 32, 512)  # first dense over the 3x3 window


def test_batchnorm_before_activation_folds_into_preceding_layer():
    import keras
    from keras import layers

    inputs = keras.Input((3, 3, 2))
    x = layers.Conv2D(4, 3)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = _randomise(keras.Model(inputs, outputs), seed=3)
    image = np.random.default_rng(2).uniform(0, 1, (6, 7, 2)).astype(np.float32)
    patches, padded = _explicit_patches(image, 3)
    expected = model.predict(patches, verbose=0).reshape(6, 7, 3)
    got = predict_blocks(fully_convolutional(model), padded, halo=1)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_unconvertible_layer_is_an_error():
    import keras
    from keras import layers

    inputs = keras.Input((5, 5, 2))
    x = layers.MaxPooling2D()(inputs)
    outputs = layers.Dense(2, activation="softmax")(layers.Flatten()(x))
    with pytest.raises(ModelError, match="MaxPooling2D.*no fully convolutional equivalent"):
        fully_convolutional(keras.Model(inputs, outputs))


def test_reflect_index_matches_numpy_pad():
    idx = np.arange(-3, 10)
    padded = np.pad(np.arange(7), 3, mode="reflect")
    np.testing.assert_array_equal(np.arange(7)[reflect_index(idx, 7)], padded)


class _Trained:
    """A learner whose network is a randomised (not fitted) patch network."""

    def __init__(self, k, n_bands, n_classes):
        self.learner = PatchNetworkClassifier(patch_size=k, n_classes=n_classes,
                                              max_block_pixels=64)
        self.learner.model_ = _randomise(build_patch_network(k, n_bands, n_classes), seed=k)
        self.learner.fcn_ = None


@pytest.mark.parametrize("k", [1, 5])
def test_strips_equal_whole_image_and_keep_nodata(k):
    schema = ClassSchema(classes=tuple(ClassInfo(i, f"c{i}", "#000000") for i in (2, 5, 9)))
    rng = np.random.default_rng(4)
    data = rng.integers(0, 10000, (23, 18, 3)).astype(np.uint16)
    valid = np.ones((23, 18), dtype=bool)
    valid[:3, :4] = False
    learner = _Trained(k, 3, 3).learner
    scaling = Scaling.fixed(10000)
    image = Image(data=data, info=None, valid=valid, bands=(1, 2, 3))
    whole, _ = predict_scene(learner, image, bands=(1, 2, 3), scaling=scaling, schema=schema)
    assert whole.shape == (23, 18) and whole.dtype == np.uint8
    assert set(np.unique(whole[valid])) <= {2, 5, 9}
    assert (whole[~valid] == 0).all()
    for strip_rows in (1, 4, 7):
        strip, _ = predict_scene(learner, image, bands=(1, 2, 3), scaling=scaling,
                                 schema=schema, strip_rows=strip_rows)
        np.testing.assert_array_equal(strip, whole)
    # the whole image agrees with the patch network on explicit patches, border pixels included;
    # nodata pixels enter their neighbours' patches as zeros, as in the run
    patches, _ = _explicit_patches(scaling.apply(data, valid=valid), k)
    proba = learner.model_.predict(patches, verbose=0)
    expected = schema.to_ids(proba.argmax(1)).reshape(23, 18)
    # pixels whose two best classes lie within the forms' float agreement (1e-4, see
    # test_fcn_equals_patch_network) may go either way; every other pixel must agree
    top2 = np.sort(proba, axis=1)[:, -2:]
    clear = valid & (top2[:, 1] - top2[:, 0] > 1e-4).reshape(23, 18)
    assert clear.sum() >= 0.95 * valid.sum()
    np.testing.assert_array_equal(whole[clear], expected[clear])
