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
