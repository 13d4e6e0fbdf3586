"""LightGBM / random-forest pixel learners under the phase-two learner contract."""
import numpy as np
import pytest

from baselines.features import default_roles, pixel_features
from baselines.learners import (LightGBMPixelClassifier, RandomForestPixelClassifier,
                                make_baseline)
from CSC_Application.sampling import PatchSet
from csc.classes import ClassInfo, ClassSchema
from csc.errors import ClassificationError, PatchSizeError
from csc.calibration import tempered
from csc.metrics import calibration, class_report, summary_scores
from csc.scaling import Scaling

SCHEMA = ClassSchema(classes=(ClassInfo(1, "calm", "#1f78b4"), ClassInfo(2, "rough", "#d9b365"),
                              ClassInfo(3, "bright", "#33a02c")), name="texture")
SCALING = Scaling.fixed(10000)
FAST = {"n_estimators": 40}


def texture_scene(shape=(96, 96), *, seed=0):
    """Three classes in vertical bands. 'calm' and 'rough' share one mean spectrum and the same
    distribution of pixel values (uniform ±600 DN on every band): 'calm' varies smoothly (a
    triangle wave across columns), 'rough' from pixel to pixel — only texture separates them.
    'bright' has its own spectrum."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    labels = np.ones(shape, np.uint8)
    labels[:, cols // 3:] = 2
    labels[:, 2 * cols // 3:] = 3
    phase = (np.arange(cols) + rng.integers(40)) % 40
    wave = 570.0 * (np.abs(phase - 20) / 10.0 - 1.0) + rng.uniform(-30.0, 30.0, shape)
    white = rng.uniform(-600.0, 600.0, shape)
    offset = np.select([labels == 1, labels == 2], [wave, white], 0.3 * white)
    mean = np.where(labels == 3, 5000.0, 2000.0)
    image = (mean + offset)[..., None] * np.linspace(1, 1.3, 4)
    return np.clip(image, 1, 20000).astype(np.uint16), labels


def training_set(image, labels, *, k, n=400, seed=0):
    rng = np.random.default_rng(seed)
    rows, cols, y = [], [], []
    for index in range(SCHEMA.n_classes):
        r, c = np.nonzero(labels == SCHEMA.ids[index])
        pick = rng.choice(len(r), size=n, replace=False)
        rows.append(r[pick])
        cols.append(c[pick])
        y.append(np.full(n, index))
    y = np.concatenate(y)
    return PatchSet(image, np.concatenate(rows), np.concatenate(cols), y, patch_size=k,
                    scaling=SCALING), y


def classify(learner, image):
    h = learner.halo
    strip = np.pad(SCALING.apply(image), ((h, h), (h, h), (0, 0)), mode="reflect")
    return learner.predict_proba(strip)


@pytest.mark.parametrize("cls", [LightGBMPixelClassifier, RandomForestPixelClassifier])
def test_texture_window_learns_what_single_pixels_cannot(cls):
    image, labels = texture_scene()
    test_image, test_labels = texture_scene(seed=1)
    scores = {}
    for k in (1, 5):
        patches, y = training_set(image, labels, k=k)
        learner = cls(patch_size=k, n_classes=3, random_state=0, **FAST).fit(patches, y)
        proba = classify(learner, test_image)
        assert proba.shape == test_labels.shape + (3,)
        np.testing.assert_allclose(proba.sum(axis=-1), 1.0, atol=1e-5)
        pred = SCHEMA.to_ids(np.argmax(proba, axis=-1))
        scores[k] = summary_scores(class_report(test_labels, pred, schema=SCHEMA))["macro_f1"]
    assert scores[1] < 0.8            # pixels alone cannot tell calm from rough
    assert scores[5] >= 0.95          # chance is 1/3


def test_patch_training_and_strip_prediction_see_the_same_features():
    """A learner fitted on patches predicts the training pixels from strips exactly as from
    the features computed on the whole image."""
    image, labels = texture_scene((40, 40))
    patches, y = training_set(image, labels, k=5, n=50)
    learner = LightGBMPixelClassifier(patch_size=5, n_classes=3, **FAST).fit(patches, y)
    full = pixel_features(SCALING.apply(image), roles=default_roles(4), window=5)
    by_table = learner.predict_proba_features(full[patches.rows, patches.cols])
    by_strip = classify(learner, image)[patches.rows, patches.cols]
    np.testing.assert_allclose(by_strip, by_table, atol=1e-6)


def test_unseen_classes_get_zero_probability_columns():
    image, labels = texture_scene((48, 48))
    patches, y = training_set(image, labels, k=3, n=60)
    keep = np.flatnonzero(y != 1)                      # class index 1 never seen
    sub = PatchSet(image, patches.rows[keep], patches.cols[keep], y[keep], patch_size=3,
                   scaling=SCALING)
    learner = RandomForestPixelClassifier(patch_size=3, n_classes=4, n_estimators=20)
    proba = classify(learner.fit(sub, y[keep]), image)
    assert proba.shape == (48, 48, 4)
    assert (proba[..., 1] == 0).all() and (proba[..., 3] == 0).all()
    assert learner.classes_.tolist() == [0, 2]


def test_same_seed_same_probabilities():
    image, labels = texture_scene((48, 48))
    patches, y = training_set(image, labels, k=3, n=80)
    runs = [classify(LightGBMPixelClassifier(patch_size=3, n_classes=3, random_state=7,
                                             **FAST).fit(patches, y), image) for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_contract_attributes_and_params():
    learner = LightGBMPixelClassifier(patch_size=7, n_classes=5, random_state=3)
    assert learner.halo == 3
    params = learner.get_params()
    assert params["patch_size"] == 7 and params["n_classes"] == 5 and params["random_state"] == 3
    assert not hasattr(learner, "model_")  # __init__ only stores parameters


def test_phase_two_make_learner_builds_the_baselines():
    from CSC_Application.learners import make_learner

    for name, cls in (("lightgbm", LightGBMPixelClassifier), ("rf", RandomForestPixelClassifier)):
        learner = make_learner(name, patch_size=3, n_bands=4, n_classes=3, seed=5,
                               epochs=2, n_estimators=10)
        assert isinstance(learner, cls)
        assert (learner.patch_size, learner.n_classes, learner.random_state) == (3, 3, 5)
        assert learner.n_estimators == 10


def test_a_single_training_class_is_explained():
    image, labels = texture_scene((48, 48))
    patches, y = training_set(image, labels, k=1, n=30)
    with pytest.raises(ClassificationError, match="hold 1 class"):
        LightGBMPixelClassifier(patch_size=1, n_classes=3).fit(patches, np.zeros_like(y))


def test_even_patch_size_is_refused():
    image, labels = texture_scene((48, 48))
    patches, y = training_set(image, labels, k=3, n=30)
    with pytest.raises(PatchSizeError, match="odd whole number ≥ 1"):
        RandomForestPixelClassifier(patch_size=4, n_classes=3).fit(patches, y)


def test_patch_size_must_match_the_patches():
    image, labels = texture_scene((48, 48))
    patches, y = training_set(image, labels, k=3, n=30)
    with pytest.raises(PatchSizeError, match="same patch size"):
        LightGBMPixelClassifier(patch_size=5, n_classes=3).fit(patches, y)


def test_unknown_learner_name_is_explained():
    with pytest.raises(ClassificationError, match="lightgbm or rf"):
        make_baseline("svm", patch_size=3, n_classes=3)


def test_predicting_before_fitting_is_explained():
    with pytest.raises(ClassificationError, match="not fitted"):
        LightGBMPixelClassifier(patch_size=1, n_classes=3).predict_proba(np.zeros((4, 4, 4)))


@pytest.mark.parametrize("cls", [LightGBMPixelClassifier, RandomForestPixelClassifier])
def test_illumination_features_carry_sunlit_training_into_shadow(cls):
    """Three surfaces that differ only in how blue they are relative to their brightness
    (NDWI and NDVI are 0 for all of them), trained in sunlight and tested in deep shadow: the
    relative bands carry over, the raw bands do not."""
    rng = np.random.default_rng(0)
    shape = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.4, 1.0], [1.0, 1.0, 0.6, 1.0]])

    def pixels(n, light):
        y = rng.integers(0, 3, n)
        level = rng.uniform(*light, size=(n, 1))
        x = shape[y] * level * rng.normal(1.0, 0.02, (n, 4))
        return (x * 10000).astype(np.uint16)[None], y

    train, y = pixels(1500, (0.3, 0.9))
    test, truth = pixels(600, (0.04, 0.12))
    patches = PatchSet(train, np.zeros(len(y), int), np.arange(len(y)), y, patch_size=1,
                       scaling=SCALING)
    accuracy = {}
    for illumination in (False, True):
        learner = cls(patch_size=1, n_classes=3, illumination=illumination, **FAST)
        pred = learner.fit(patches, y).predict(SCALING.apply(test))[0]
        accuracy[illumination] = float(np.mean(pred == truth))
    assert accuracy[True] > 0.95
    assert accuracy[False] < 0.7


def _overlapping(n, seed):
    """Three classes whose feature clouds overlap heavily: no learner is right more than
    about half the time, so over- or under-confidence shows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0.0, 1.0, (n, 4)) + 0.8 * np.eye(3, 4)[y]
    return x.astype(np.float32), y


def _ece(proba, y):
    """The expected calibration error the run reports (class ids 1.., confidence in %)."""
    percent = np.round(100 * proba.max(axis=1)).astype(np.uint8)
    return calibration(y + 1, proba.argmax(axis=1) + 1, percent)["ece"]


@pytest.mark.parametrize("cls", [LightGBMPixelClassifier, RandomForestPixelClassifier])
def test_held_out_temperature_calibrates_tree_confidence(cls):
    x, y = _overlapping(4000, 0)
    x_test, y_test = _overlapping(20000, 1)
    raw = cls(patch_size=1, n_classes=3, calibration_fraction=0.0, n_estimators=100)
    calibrated = cls(patch_size=1, n_classes=3, n_estimators=100)
    raw_ece = _ece(raw.fit_features(x, y).predict_proba_features(x_test), y_test)
    proba = calibrated.fit_features(x, y).predict_proba_features(x_test)
    assert raw.temperature_ == 1.0 and raw.calibration_pixels_ == 0
    counts = np.bincount(y)
    assert calibrated.calibration_pixels_ == sum(int(n * 0.2) for n in counts)  # 20 % per class
    assert calibrated.temperature_ > 1.1                      # both are over-confident here
    assert raw_ece > 0.05 and _ece(proba, y_test) < 0.03
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    # the trees are the ones trained on every pixel: the map does not change (up to float32
    # rounding of near-ties)
    raw_proba = raw.predict_proba_features(x_test)
    top2 = np.sort(raw_proba, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(proba.argmax(1)[clear], raw_proba.argmax(1)[clear])


def test_temperature_takes_the_local_prior_prediction_adds():
    """Phase one's local prior is added to the trees' log-probabilities at prediction; an
    over-strong one (4 nats on a tile label right 70 % of the time, as an over-confident CNN
    lends) is met by a temperature fitted with it: the final probabilities fit the truth
    better (log-likelihood) than with the temperature of the trees alone."""
    def tiles(labels, seed):
        rng = np.random.default_rng(seed)
        noisy = np.where(rng.random(len(labels)) < 0.7, labels, rng.integers(0, 3, len(labels)))
        return 4.0 * np.eye(3, dtype=np.float32)[noisy]

    x, y = _overlapping(4000, 0)
    x_test, y_test = _overlapping(20000, 1)
    nll = {}
    for name, local in (("without", None), ("with", tiles(y, 2))):
        learner = LightGBMPixelClassifier(patch_size=1, n_classes=3, n_estimators=100)
        proba = tempered(learner.fit_features(x, y, local_shift=local).predict_proba_features(
            x_test), 1.0, tiles(y_test, 3))
        nll[name] = -np.mean(np.log(proba[np.arange(len(y_test)), y_test]))
    assert nll["with"] < nll["without"] - 0.01, nll
    with pytest.raises(ValueError, match="local shift"):
        LightGBMPixelClassifier(patch_size=1, n_classes=3).fit_features(
            x, y, local_shift=np.zeros((len(y), 2)))


def test_too_few_pixels_to_hold_out_leaves_probabilities_alone():
    x, y = _overlapping(600, 0)                    # 20 % is 120 < MIN_CALIBRATION_PIXELS
    learner = LightGBMPixelClassifier(patch_size=1, n_classes=3, **FAST).fit_features(x, y)
    assert learner.temperature_ == 1.0 and learner.calibration_pixels_ == 0
    np.testing.assert_allclose(learner.predict_proba_features(x),
                               learner.model_.predict_proba(x), atol=1e-6)


@pytest.mark.parametrize("cls", [LightGBMPixelClassifier, RandomForestPixelClassifier])
def test_prior_keeps_a_rare_class_rare(cls):
    """Trained 1000/1000 on two overlapping classes of a map that is 95 % class 0: as trained,
    the learner gives the rare class far more than its share; with the whole prior shift its
    share and accuracy are the map's, half of it lands in between (or there)."""
    def draw(n, share, seed):
        rng = np.random.default_rng(seed)
        y = (rng.random(n) < share).astype(np.int64)
        return (rng.normal(0.0, 1.0, (n, 4)) + 1.0 * y[:, None]).astype(np.float32), y

    x0, _ = draw(20000, 0.0, 0)
    x1, _ = draw(20000, 1.0, 1)
    x = np.concatenate([x0[:1000], x1[:1000]])
    y = np.repeat([0, 1], 1000)
    x_test, y_test = draw(20000, 0.05, 2)
    predicted, accuracy = {}, {}
    for prior in (0.0, 0.5, 1.0):
        learner = cls(patch_size=1, n_classes=2, n_estimators=100, prior=prior)
        pred = learner.fit_features(x, y, frequencies=[19000, 1000]).predict_proba_features(
            x_test).argmax(axis=1)
        predicted[prior], accuracy[prior] = pred.mean(), np.mean(pred == y_test)
    assert predicted[0.0] > 0.15 and predicted[1.0] < 0.08, predicted
    assert predicted[1.0] <= predicted[0.5] < predicted[0.0], predicted
    assert accuracy[1.0] > accuracy[0.0] + 0.05 and accuracy[0.5] > accuracy[0.0] + 0.02, accuracy


@pytest.mark.parametrize("cls", [LightGBMPixelClassifier, RandomForestPixelClassifier])
def test_trees_take_the_job_s_thread_cap(cls, monkeypatch):
    """A sweep job given one thread (``--threads-per-job``) trains its trees on one thread, so
    two jobs on two cores do not oversubscribe them; ``n_jobs`` set by hand wins."""
    from csc import backend

    x, y = _overlapping(600, 0)
    monkeypatch.delitem(backend._STATE, "threads", raising=False)    # no cap: the default
    assert cls(patch_size=1, n_classes=3).fit_features(x, y).model_.n_jobs == 2
    monkeypatch.setitem(backend._STATE, "threads", 1)
    assert cls(patch_size=1, n_classes=3).fit_features(x, y).model_.n_jobs == 1
    assert cls(patch_size=1, n_classes=3, n_jobs=3).fit_features(x, y).model_.n_jobs == 3
