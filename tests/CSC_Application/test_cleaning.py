"""Cleaning phase two's training pixels (``csc classify --clean``)."""
import json

import numpy as np
import pytest

from baselines.learners import LightGBMPixelClassifier
from CSC_Application.cleaning import clean_patches, patch_proba, refill
from CSC_Application.learners import PatchNetworkClassifier
from CSC_Application.run import ClassifyOptions, classify_path
from CSC_Application.sampling import PatchSet
from csc.errors import OptionError
from csc.scaling import Scaling
from phase2_data import TILE, image_for, wavy_labels, write_scene

SHAPE = (128, 192)


def tile_majority(labels, tile=TILE):
    """A phase-one-like map: each tile takes its most frequent class."""
    rows, cols = labels.shape
    blocks = labels.reshape(rows // tile, tile, cols // tile, tile).transpose(0, 2, 1, 3)
    counts = np.stack([(blocks == c).sum(axis=(2, 3)) for c in range(1, 4)])
    ids = (np.argmax(counts, axis=0) + 1).astype(np.uint8)
    return np.kron(ids, np.ones((tile, tile), dtype=np.uint8))


def patch_set(labels, class_map, *, k, n=600, seed=0):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, labels.shape[0], n)
    cols = rng.integers(0, labels.shape[1], n)
    image = image_for(labels, noise=250)
    return PatchSet(image, rows, cols, class_map[rows, cols].astype(np.int64) - 1,
                    patch_size=k, scaling=Scaling.fixed(10000))


@pytest.mark.parametrize("learner", [
    LightGBMPixelClassifier(patch_size=3, n_classes=3, n_estimators=20),
    PatchNetworkClassifier(patch_size=3, n_classes=3, epochs=1, batch_size=64),
    PatchNetworkClassifier(patch_size=1, n_classes=3, epochs=1, batch_size=64),
], ids=["lightgbm-k3", "nn-k3", "nn-k1"])
def test_patch_probabilities_are_the_learners_own(learner):
    labels = wavy_labels(SHAPE)
    patches = patch_set(labels, labels, k=learner.patch_size, n=300)
    learner.fit(patches, patches.labels)
    index = np.arange(0, 300, 7)
    proba = patch_proba(learner, patches, index)
    # one patch is a strip padded by the halo: its prediction is the centre's
    one_by_one = np.stack([learner.predict_proba(patch)[0, 0] for patch in patches.take(index)])
    np.testing.assert_allclose(proba, one_by_one, atol=1e-5)


def test_the_pixels_dropped_are_mostly_the_tile_maps_mistakes():
    labels = wavy_labels(SHAPE)
    class_map = tile_majority(labels)
    patches = patch_set(labels, class_map, k=1, n=3000)
    wrong = class_map[patches.rows, patches.cols] != labels[patches.rows, patches.cols]
    assert 0.03 < wrong.mean() < 0.3
    learner = LightGBMPixelClassifier(patch_size=1, n_classes=3, n_estimators=40)
    keep, record = clean_patches(learner, patches, patches.labels, cell=TILE,
                                 class_names=["water", "sediment", "vegetation"])
    dropped = ~keep
    # the spectra separate the classes: what is dropped is mostly mislabelled, and most of
    # the mislabelled pixels are dropped
    assert (wrong & dropped).sum() / dropped.sum() > 0.8
    assert (wrong & dropped).sum() / wrong.sum() > 0.6
    unique = len(np.unique(patches.rows * SHAPE[1] + patches.cols))
    assert sum(record["pruned"].values()) + sum(record["kept"].values()) == unique
    assert record["pruned"]["water"] <= 0.5 * (record["pruned"]["water"] + record["kept"]["water"])


def test_a_pixel_drawn_many_times_goes_or_stays_whole():
    labels = wavy_labels(SHAPE)
    class_map = tile_majority(labels)
    patches = patch_set(labels, class_map, k=1, n=400)
    many = patches.subset(np.repeat(np.arange(400), 25))      # every pixel drawn 25 times
    learner = LightGBMPixelClassifier(patch_size=1, n_classes=3, n_estimators=20)
    keep, record = clean_patches(learner, many, many.labels, cell=TILE)
    per_pixel = keep.reshape(400, 25)
    assert (per_pixel == per_pixel[:, :1]).all()
    assert sum(record["pruned"].values()) == np.count_nonzero(~per_pixel[:, 0])
    assert sum(record["pruned"].values()) + sum(record["kept"].values()) == \
        len(np.unique(patches.rows * SHAPE[1] + patches.cols))


def test_refill_keeps_the_classes_balanced():
    y = np.repeat([0, 1, 2], 10)
    keep = np.ones(30, dtype=bool)
    keep[[0, 1, 2, 15]] = False
    index = refill(keep, y, seed=0)
    assert np.bincount(y[index]).tolist() == [10, 10, 10]
    assert not np.isin([0, 1, 2, 15], index).any()


def test_clean_option_records_what_it_dropped(tmp_path, phase_one, options):
    labels = wavy_labels(SHAPE)
    path = write_scene(tmp_path / "in", "s", labels)
    rows = {}
    for clean in (False, True):
        out = tmp_path / f"out_{clean}"
        rows[clean] = classify_path(path, phase_one, out,
                                    options(patch_size=1, phase2="lightgbm", clean=clean,
                                            samples_per_class=2000)).frame.iloc[0]
        info = json.loads((out / "s_run.json").read_text())
        assert info["options"]["clean"] is clean
    cleaning = info["samples"]["cleaning"]
    assert cleaning["folds"] == 2 and sum(cleaning["pruned"].values()) > 0
    # trees train on what is left, without drawing it again
    assert info["samples"]["per_class"] == {name: min(n, 2000) for name, n in
                                            info["class_pixels"].items() if n}
    assert info["samples"]["trained_per_class"] == cleaning["kept"]
    assert rows[True]["status"] == "ok"
    assert rows[True]["csc_weighted_f1"] >= rows[False]["csc_weighted_f1"] - 0.01


def test_clean_needs_patch_sampling(tmp_path, phase_one):
    path = write_scene(tmp_path / "in", "s", wavy_labels(SHAPE))
    with pytest.raises(OptionError, match="--clean cleans the sampled training pixels"):
        classify_path(path, phase_one, tmp_path / "out",
                      ClassifyOptions(patch_size=3, dense=True, clean=True))


def test_fold_squares_follow_the_tiles_and_the_image():
    from CSC_Application.cleaning import FOLD_TILES, fold_cell

    assert fold_cell((10980, 10980), 50) == FOLD_TILES * 50
    assert fold_cell((128, 192), 32) == 32          # whole tiles, about 16 squares
    assert fold_cell((768, 768), 50) == 150
    assert fold_cell((64, 64), 32) == 32            # never below a tile


@pytest.mark.parametrize("learner", [
    LightGBMPixelClassifier(patch_size=1, n_classes=3, n_estimators=40),
    PatchNetworkClassifier(patch_size=1, n_classes=3, epochs=25, batch_size=64),
], ids=["lightgbm", "nn"])
def test_weighted_pixels_count_less(learner):
    # a third of the vegetation pixels carry the water label, at a small weight: with the
    # weights the learner follows the spectra there, without them it learns the wrong label
    labels = wavy_labels(SHAPE)
    rng = np.random.default_rng(1)
    patches = patch_set(labels, labels, k=1, n=3000)
    noisy = patches.labels.copy()
    flip = (noisy == 2) & (rng.random(len(noisy)) < 0.6)
    noisy[flip] = 0
    weights = np.where(flip, 0.02, 1.0)
    image = image_for(labels, noise=250)
    vegetation = image[labels == 3][:, None, :] / 10000.0     # a strip one pixel wide
    shares = {}
    for name, w in (("weighted", weights), ("plain", None)):
        learner.fit(patches, noisy, sample_weight=w)
        shares[name] = (learner.predict_proba(vegetation.astype(np.float32)).argmax(-1) == 2).mean()
    assert shares["weighted"] > 0.9 and shares["plain"] < 0.6
    with pytest.raises(ValueError, match="sample weights"):
        learner.fit(patches, noisy, sample_weight=weights[:10])


def test_tile_weights_by_default_for_sampled_pixels(tmp_path, phase_one, options):
    path = write_scene(tmp_path / "in", "s", wavy_labels(SHAPE))
    runs = {"default": options(patch_size=1, phase2="lightgbm"),
            "off": options(patch_size=1, phase2="lightgbm", tile_weights=False),
            "dense": options(patch_size=1, dense=True, epochs=1)}
    samples = {}
    for name, opts in runs.items():
        classify_path(path, phase_one, tmp_path / name, opts)
        samples[name] = json.loads((tmp_path / name / "s_run.json").read_text())["samples"]
    assert 0.3 < samples["default"]["mean_tile_probability"] <= 1.0
    assert not {"mean_tile_probability"} & (set(samples["off"]) | set(samples["dense"]))
    with pytest.raises(OptionError, match="--tile-weights weighs the sampled training pixels"):
        classify_path(path, phase_one, tmp_path / "o2",
                      ClassifyOptions(patch_size=3, dense=True, tile_weights=True))
