"""The phase-two network builder and the learner factory."""
import numpy as np
import pytest

from CSC_Application.learners import (PatchNetworkClassifier, build_patch_network, conv_count,
                                      dense_units, make_learner)
from csc.errors import ClassificationError, PatchSizeError


def _layers(model, kind):
    return [layer for layer in model.layers if type(layer).__name__ == kind]


@pytest.mark.parametrize("k, n_conv, window, units", [
    (3, 1, 1, (64, 32, 16)),
    (5, 2, 1, (512, 64, 32)),
    (7, 3, 1, (512, 64, 32)),
    (15, 6, 3, (512, 64, 32)),
])
def test_published_patch_networks(k, n_conv, window, units):
    model = build_patch_network(k, 4, 7)
    convs = _layers(model, "Conv2D")
    assert len(convs) == n_conv == conv_count(k)
    assert all(c.kernel_size == (3, 3) and c.padding == "valid" and c.filters == 32
               for c in convs)
    # the convolutions shrink the patch to the final window the first dense layer sees
    assert tuple(convs[-1].output.shape[1:3]) == (window, window)
    dense = _layers(model, "Dense")
    assert tuple(d.units for d in dense[:-1]) == units == dense_units(k)
    assert model.input_shape == (None, k, k, 4)
    assert model.output_shape == (None, 7)


def test_pixel_mlp_at_k1():
    model = build_patch_network(1, 3, 5)
    assert _layers(model, "Conv2D") == []
    assert [d.units for d in _layers(model, "Dense")] == [64, 32, 16, 5]
    assert len(_layers(model, "BatchNormalization")) == 1


def test_conv_count_is_monotone_and_fits_every_odd_k():
    ks = list(range(3, 41, 2))
    counts = [conv_count(k) for k in ks]
    assert counts == sorted(counts)
    assert all(1 <= n <= (k - 1) // 2 for k, n in zip(ks, counts))


@pytest.mark.parametrize("k", [0, -1, 2, 4, 16, 2.5])
def test_bad_patch_size_rejected(k):
    with pytest.raises(PatchSizeError, match="odd whole number"):
        build_patch_network(k, 4, 3)


def test_make_learner_names():
    nn = make_learner("nn", patch_size=5, n_bands=4, n_classes=3, seed=1, epochs=7)
    assert isinstance(nn, PatchNetworkClassifier)
    assert (nn.patch_size, nn.n_classes, nn.random_state, nn.epochs, nn.halo) == (5, 3, 1, 7, 2)
    assert isinstance(make_learner("mlp", patch_size=1, n_bands=4, n_classes=3, seed=0),
                      PatchNetworkClassifier)
    with pytest.raises(ClassificationError, match="unknown phase-two learner 'svm'"):
        make_learner("svm", patch_size=1, n_bands=4, n_classes=3, seed=0)
    with pytest.raises(PatchSizeError, match="got 4"):
        make_learner("nn", patch_size=4, n_bands=4, n_classes=3, seed=0)


def test_unknown_learner_option_is_an_error():
    # A misspelt option (``epoch=`` for ``epochs=``) must not be dropped silently: the user
    # would train with the default and never know.
    with pytest.raises(ClassificationError,
                       match=r"unknown option\(s\) unknown_option for the nn learner"):
        make_learner("nn", patch_size=5, n_bands=4, n_classes=3, seed=1, unknown_option=1)


def test_make_learner_baselines_follow_the_contract():
    import baselines.learners  # noqa: F401  (a broken import fails, it never skips)

    rf = make_learner("rf", patch_size=3, n_bands=4, n_classes=3, seed=2, epochs=5,
                      n_estimators=10)
    assert type(rf).__name__ == "RandomForestPixelClassifier"
    assert (rf.patch_size, rf.n_classes, rf.random_state, rf.halo) == (3, 3, 2, 1)


def test_fit_learns_a_separable_problem():
    from CSC_Application.sampling import PatchSet
    from csc.scaling import Scaling

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 24)[None, :].repeat(20, axis=0)   # 20 x 72, 3 classes
    data = (1000 + 2000 * labels[..., None] + rng.normal(0, 50, labels.shape + (2,)))
    data = data.astype(np.uint16)
    rows, cols = np.nonzero(np.ones_like(labels, dtype=bool))
    patches = PatchSet(data, rows, cols, labels[rows, cols], patch_size=3,
                       scaling=Scaling.fixed(10000))
    learner = PatchNetworkClassifier(patch_size=3, n_classes=3, n_bands=2, epochs=6,
                                     batch_size=32, random_state=0)
    assert learner.fit(patches, patches.labels) is learner
    assert set(learner.history_) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert learner.epochs_run_ == len(learner.history_["loss"]) >= 1
    strip = np.pad(Scaling.fixed(10000).apply(data), ((1, 1), (1, 1), (0, 0)), mode="reflect")
    pred = learner.predict(strip)
    assert pred.shape == labels.shape
    assert np.mean(pred == labels) > 0.9


@pytest.mark.parametrize("k", [1, 3, 5])
def test_dense_form_weights_make_the_same_patch_network(k):
    # The network trained densely on crops is the patch network: copied weights give the
    # same probabilities for every patch as the dense form gives at that patch's centre.
    from csc.blocks import gather_blocks
    from csc.scaling import Scaling
    from CSC_Application.learners import patch_weights

    rng = np.random.default_rng(k)
    dense = build_patch_network(k, 3, 4, seed=1, dense=True)
    bn = dense.get_layer("batchnorm")
    bn.set_weights([w + rng.random(w.shape).astype(np.float32) for w in bn.get_weights()])
    patch = patch_weights(dense, build_patch_network(k, 3, 4, seed=9))
    data = rng.integers(0, 10000, (30, 26, 3)).astype(np.uint16)
    scaling, h = Scaling.fixed(10000), k // 2
    crops = gather_blocks(data, [[0, 0], [16, 16]], block=16, halo=h, scaling=scaling)
    dense_out = dense.predict(crops, verbose=0)
    padded = np.pad(scaling.apply(data), ((h, h), (h, h), (0, 0)), mode="reflect")
    centres = [(0, 0, 0), (0, 5, 11), (1, 13, 9), (1, 2, 0)]   # (crop, row, col)
    origins = [(0, 0), (16, 16)]
    patches = np.stack([padded[origins[b][0] + r:origins[b][0] + r + k,
                               origins[b][1] + c:origins[b][1] + c + k]
                        for b, r, c in centres])
    expected = patch.predict(patches, verbose=0)
    got = np.stack([dense_out[b, r, c] for b, r, c in centres])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _tile_labelled(shape=(96, 96), *, seed=0):
    """A wavy three-class scene, its blocky 16-px tile map and the true labels."""
    from phase2_data import image_for, wavy_labels

    truth = wavy_labels(shape, seed=seed)
    image = image_for(truth, seed=seed)
    tiles = truth.reshape(shape[0] // 16, 16, shape[1] // 16, 16).transpose(0, 2, 1, 3)
    mode = np.array([[np.bincount(t.ravel()).argmax() for t in row] for row in tiles])
    tile_map = np.kron(mode, np.ones((16, 16), dtype=np.uint8)).astype(np.uint8)
    return image, tile_map, truth


def _fit_map(k, seed=0, **params):
    from csc.blocks import LabelledImage
    from csc.scaling import Scaling
    from phase2_data import SCHEMA

    image, tile_map, truth = _tile_labelled()
    learner = PatchNetworkClassifier(patch_size=k, n_classes=3, n_bands=4, random_state=seed,
                                     **dict(dict(epochs=8, patience=8, batch_size=2048),
                                            **params))
    learner.fit_map(LabelledImage(image, np.ones(truth.shape, bool), tile_map, SCHEMA,
                                  Scaling.fixed(10000), 10**6))
    h = k // 2
    strip = np.pad(Scaling.fixed(10000).apply(image), ((h, h), (h, h), (0, 0)), mode="reflect")
    return learner, np.asarray(SCHEMA.ids)[learner.predict(strip)], tile_map, truth


@pytest.mark.parametrize("k", [1, 3])
def test_dense_training_beats_its_tile_map(k):
    from sklearn.metrics import f1_score

    learner, pred, tile_map, truth = _fit_map(k)
    assert pred.shape == truth.shape
    tile_f1 = f1_score(truth.ravel(), tile_map.ravel(), average="weighted")
    csc_f1 = f1_score(truth.ravel(), pred.ravel(), average="weighted")
    assert csc_f1 > tile_f1 + 0.02, (csc_f1, tile_f1)
    plan = learner.plan_
    assert plan["validation_cells"] > 0 and sum(plan["validation_pixels"].values()) > 0
    assert set(learner.history_) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    # every labelled pixel either trains or validates (no cap reached), none twice
    assert (sum(plan["training_pixels"].values()) + sum(plan["validation_pixels"].values())
            == truth.size)


def test_dense_training_is_seeded():
    a, pred_a, _, _ = _fit_map(3, seed=2, epochs=2)
    b, pred_b, _, _ = _fit_map(3, seed=2, epochs=2)
    np.testing.assert_array_equal(pred_a, pred_b)
    assert a.history_ == b.history_


def test_patch_split_holds_out_whole_pixels():
    from CSC_Application.learners import _split

    rng = np.random.default_rng(0)
    pixel = rng.integers(0, 50, size=400)              # 400 draws of 50 pixels, repeats
    train, val = _split(pixel, 0.2, np.random.default_rng(1))
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(400))
    assert not set(pixel[train]) & set(pixel[val])       # no pixel on both sides
    assert len(set(pixel[val])) == round(0.2 * len(set(pixel)))


def _overconfident(n, *, right, seed=0):
    """Probabilities of 0.95 for class 0 on ``n`` samples of which a fraction ``right`` is class
    0 (the rest class 1), as a callable model."""
    y = (np.random.default_rng(seed).random(n) >= right).astype(np.int64)
    proba = np.tile(np.array([0.95, 0.05], dtype=np.float32), (n, 1))
    return (lambda x, training=False: proba[x]), [(np.arange(n), y)], y


def test_temperature_softens_an_overconfident_model():
    from CSC_Application.learners import fit_temperature, tempered

    model, batches, y = _overconfident(4000, right=0.7)
    t = fit_temperature(model, batches)
    assert t > 1.0
    calibrated = tempered(model(np.arange(1))[:1].copy(), t)[0, 0]
    assert calibrated == pytest.approx(0.7, abs=0.02)   # the confidence matches the accuracy


def test_temperature_weights_count_like_repeated_pixels():
    from CSC_Application.learners import fit_temperature

    model, batches, y = _overconfident(3000, right=0.6, seed=2)
    w = np.where(y == 0, 3.0, 1.0)                       # class 0 three times as frequent
    weighted = fit_temperature(model, batches, weights=w)
    repeated_index = np.concatenate([np.arange(3000)] + [np.flatnonzero(y == 0)] * 2)
    repeated = fit_temperature(model, [(repeated_index, y[repeated_index])])
    assert weighted == pytest.approx(repeated, rel=2e-3)
    assert weighted < fit_temperature(model, batches)    # more right answers: sharper


def _shadowed(brightness, n, *, seed):
    """Two surfaces of the same mean brightness that differ in band ratios only: a flat one
    (0) and one bright in the NIR (1), each scaled by a per-pixel ``brightness`` range (sun or
    shadow); returns a (rows, cols, 4) uint16 image and its (rows, cols) class indexes."""
    rng = np.random.default_rng(seed)
    spectra = np.array([[0.60, 0.60, 0.60, 0.60], [0.50, 0.55, 0.60, 0.75]])
    labels = np.repeat(np.arange(2), n // 2)[None, :].repeat(16, axis=0)
    level = rng.uniform(*brightness, size=labels.shape)[..., None]
    data = spectra[labels] * level * (1 + rng.normal(0, 0.02, labels.shape + (4,)))
    return (data * 10000).astype(np.uint16), labels


def test_illumination_features_are_the_networks_input_in_training_and_on_strips():
    """The network sees the seven feature planes of four bands (relative bands, log
    brightness, NDWI, NDVI), and a strip is classified from the same planes as the training
    patches: its probabilities equal the network's on the features of each pixel's patch."""
    from baselines.features import spectral_features
    from CSC_Application.sampling import PatchSet
    from csc.calibration import tempered
    from csc.scaling import Scaling

    k, scaling = 3, Scaling.fixed(10000)
    sun, labels = _shadowed((0.7, 1.0), 64, seed=0)
    rows, cols = np.nonzero(np.ones_like(labels, dtype=bool))
    patches = PatchSet(sun, rows, cols, labels[rows, cols], patch_size=k, scaling=scaling)
    learner = PatchNetworkClassifier(patch_size=k, n_classes=2, n_bands=4, epochs=30,
                                     batch_size=64, random_state=0, illumination=True)
    learner.fit(patches, patches.labels)
    assert learner.roles_ == ("red", "green", "blue", "nir")
    assert learner.n_bands_ == 7 and learner.model_.input_shape[-1] == 7
    shade, shade_labels = _shadowed((0.25, 0.4), 64, seed=1)
    strip = np.pad(scaling.apply(shade), ((1, 1), (1, 1), (0, 0)), mode="reflect")
    proba = learner.predict_proba(strip)
    assert proba.shape == shade_labels.shape + (2,)
    r, c = np.nonzero(np.ones(shade_labels.shape, dtype=bool))
    windows = np.stack([strip[r + dr, c + dc] for dr in range(k) for dc in range(k)], axis=1)
    explicit = spectral_features(windows.reshape(-1, k, k, 4), learner.roles_,
                                 illumination=True)
    expected = tempered(learner.model_.predict(explicit, verbose=0), learner.temperature_)
    np.testing.assert_allclose(proba.reshape(-1, 2), expected, atol=2e-4)
    # in a third of the light the band ratios still tell the two surfaces apart
    assert np.mean(proba.argmax(axis=-1) == shade_labels) > 0.9


def test_illumination_features_refuse_dense_training():
    learner = PatchNetworkClassifier(patch_size=1, n_classes=3, n_bands=4, illumination=True)
    with pytest.raises(ClassificationError, match="drop --dense or --illumination"):
        learner.fit_map(None)
