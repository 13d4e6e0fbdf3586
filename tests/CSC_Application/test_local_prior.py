"""Phase one's local prior (``--local-prior``): each pixel's phase-two probabilities moved
towards the class probabilities of the tiles around it."""
import json

import numpy as np
import pytest

from baselines.learners import LightGBMPixelClassifier
from CSC_Application.learners import PatchNetworkClassifier
from CSC_Application.run import ClassifyOptions, classify_path
from CSC_Application.sampling import PatchSet
from csc.errors import OptionError
from csc.scaling import Scaling
from phase2_data import image_for, write_scene


def _bands(shape):
    """Three vertical class bands, 64 px wide: whole 32-px tiles of one class."""
    labels = np.ones(shape, dtype=np.uint8)
    labels[:, 64:] = 2
    labels[:, 128:] = 3
    return labels


def test_noisy_pixels_are_decided_by_the_tiles_around_them(tmp_path, phase_one, options):
    """Class spectra one noise width apart: a single pixel is often mistaken, a tile's mean
    is not. The local prior brings phase one's sure tiles into each pixel's decision."""
    labels = _bands((96, 192))
    path = write_scene(tmp_path / "in", "s", labels, image=image_for(labels, noise=1500))
    scores, samples = {}, {}
    for name, strength in (("off", 0.0), ("default", None)):
        classify_path(path, phase_one, tmp_path / name,
                      options(patch_size=1, local_prior=strength, despeckle=0, epochs=5,
                              samples_per_class=1000))
        info = json.loads((tmp_path / name / "s_run.json").read_text())
        scores[name], samples[name] = info["scores"], info["samples"]
    assert samples["off"]["local_prior"] == 0 and samples["default"]["local_prior"] == 0.5
    assert scores["default"]["cnn_weighted_f1"] > 0.99                # the tiles are right
    assert scores["off"]["csc_weighted_f1"] < 0.9                    # single pixels are not
    assert scores["default"]["csc_weighted_f1"] > max(0.95, scores["off"]["csc_weighted_f1"]
                                                      + 0.08)
    assert scores["default"]["csc_ece"] < 0.06           # and the confidence stays calibrated


def test_not_with_dense_training(tmp_path, phase_one, options):
    labels = _bands((64, 192))
    path = write_scene(tmp_path / "in", "s", labels)
    classify_path(path, phase_one, tmp_path / "dense", options(patch_size=1, dense=True,
                                                               epochs=1))
    samples = json.loads((tmp_path / "dense" / "s_run.json").read_text())["samples"]
    assert samples["local_prior"] == 0
    with pytest.raises(OptionError, match="--local-prior is calibrated on the sampled"):
        classify_path(path, phase_one, tmp_path / "o2",
                      ClassifyOptions(patch_size=3, dense=True, local_prior=0.5))
    assert not (tmp_path / "o2").exists() or not any((tmp_path / "o2").iterdir())


@pytest.mark.parametrize("learner", [
    LightGBMPixelClassifier(patch_size=1, n_classes=3, n_estimators=20),
    PatchNetworkClassifier(patch_size=1, n_classes=3, epochs=1, batch_size=64),
], ids=["lightgbm", "nn"])
def test_a_local_shift_of_the_wrong_shape_is_refused(learner):
    labels = _bands((32, 96))
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 32, 300), rng.integers(0, 96, 300)
    patches = PatchSet(image_for(labels), rows, cols, labels[rows, cols].astype(np.int64) - 1,
                       patch_size=1, scaling=Scaling.fixed(10000))
    with pytest.raises(ValueError, match="local shift of shape"):
        learner.fit(patches, patches.labels, local_shift=np.zeros((300, 2)))
