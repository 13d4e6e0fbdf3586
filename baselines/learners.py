"""LightGBM and random-forest pixel classifiers on the features of :mod:`baselines.features`.

Both follow the learner contract of :mod:`csc.learners` and register there, so
``csc classify --phase2 lightgbm|rf`` can use them in place of the per-image MLP/CNN:

- ``__init__(*, patch_size, n_classes, random_state=0, ...)`` stores its parameters;
- ``halo = patch_size // 2``: the feature window is the K×K patch;
- ``fit(patches, y)`` on a ``PatchSet`` (``len``, ``take(index) -> (n, K, K, bands)``) and class
  indexes ``y`` in ``0..n_classes-1``;
- ``predict_proba(strip) -> (rows, cols, n_classes)`` for a scaled strip padded by ``halo``;
  columns of classes not seen in training are zeros.

Confidence: ``calibration_fraction`` of the training pixels of every class (drawn by the seed)
are held out of a first fit of the trees and the temperature that divides the log of the trees'
probabilities is fitted on them (:mod:`csc.calibration`; the one-parameter multiclass form of
Platt scaling), weighted back to the image's class frequencies; the trees are then trained on
every pixel (as scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` does), so the class
map is the uncalibrated one (up to float32 rounding of near-ties) and only the confidence
changes, at about 1.8 times the training time. ``temperature_`` and ``calibration_pixels_``
record it; with fewer than :data:`~csc.calibration.MIN_CALIBRATION_PIXELS` to hold out the
probabilities are left as the trees give them. Unlike the neural learner's, every held-out
pixel counts, its phase-one label confirmed or not, and they are drawn one by one, not in
cells: on four generated 768² scenes (LightGBM, K = 5) that gave a mean expected calibration
error of 0.063 against 0.083 uncalibrated (README, "3. Classify").

``fit_features`` / ``predict_proba_features`` work on feature tables directly (the supervised
baseline and the spectra benchmark use them). ``illumination=True`` puts the illumination-robust
features (relative bands, log brightness) of :mod:`baselines.features` in place of the bands.
``prior`` (0..1) moves the probabilities that far from the training sample's class shares to
the image's (``frequencies``; :func:`csc.calibration.prior_shift`), before the temperature is
fitted; 0 leaves them as trained.
"""
import logging

import numpy as np
from sklearn.base import BaseEstimator

from baselines.features import parse_roles, patch_features, strip_features
from csc.backend import thread_cap
from csc.calibration import (MIN_CALIBRATION_PIXELS, frequency_weights, prior_shift,
                             tempered, temperature_of)
from csc.errors import ClassificationError
from csc.learners import make_learner, register_learner
from csc.options import PATCH_SIZE

log = logging.getLogger(__name__)

#: Threads of the trees when neither ``n_jobs`` nor a job's thread cap is set.
DEFAULT_THREADS = 2
#: Patches gathered per feature batch in ``fit`` (bounded memory at large K).
_BATCH_BYTES = 64 * 2 ** 20


class _PixelClassifier(BaseEstimator):
    """Shared plumbing: features from patches or strips, class-index bookkeeping."""

    name = "pixel"

    @property
    def halo(self):
        return int(self.patch_size) // 2

    def _threads(self):
        """``n_jobs``, or the job's thread cap (:func:`csc.backend.thread_cap`), or
        :data:`DEFAULT_THREADS`."""
        return int(self.n_jobs or thread_cap() or DEFAULT_THREADS)

    # -- subclasses build the estimator ----------------------------------------------------
    def _make_model(self):
        raise NotImplementedError

    # -- training --------------------------------------------------------------------------
    def _check(self):
        PATCH_SIZE.check(self.patch_size, label=f"{type(self).__name__} patch_size")
        if self.n_classes is None or self.n_classes < 2:
            raise ClassificationError(f"{type(self).__name__}: n_classes must be >= 2, "
                                      f"got {self.n_classes}")

    def fit(self, patches, y, *, frequencies=None, sample_weight=None, local_shift=None):
        """Fit on a phase-two ``PatchSet`` and class indexes ``y``; returns self.
        ``frequencies`` (labelled pixels per class index) weighs the held-out pixels back to
        the image's class frequencies for the temperature (the sample is class-balanced);
        ``sample_weight`` (one per sample) weighs the training pixels of the trees;
        ``local_shift`` (n, n_classes), the log-prior prediction adds to each pixel
        (``csc classify --local-prior``), is added for the temperature too."""
        self._check()
        y = np.asarray(y)
        n = len(patches)
        if len(y) != n:
            raise ValueError(f"{n} patches but {len(y)} labels")
        n_bands = int(patches.n_bands)
        self.roles_ = parse_roles(self.band_roles, n_bands)
        k = int(self.patch_size)
        if getattr(patches, "patch_size", k) != k:
            raise PATCH_SIZE.error(f"{type(self).__name__} has patch_size {k} but the patches are "
                                 f"{patches.patch_size}×{patches.patch_size}; build both with "
                                 "the same patch size")
        batch = max(1, _BATCH_BYTES // (k * k * n_bands * 4))
        parts = []
        for start in range(0, n, batch):
            index = np.arange(start, min(start + batch, n))
            if k == 1 and hasattr(patches, "pixels"):
                chunk = np.asarray(patches.pixels(index))[:, None, None, :]
            else:
                chunk = patches.take(index)
            parts.append(patch_features(chunk, roles=self.roles_,
                                        illumination=bool(self.illumination)))
        features = np.concatenate(parts) if parts else np.empty((0, 0), np.float32)
        return self._fit_table(features, y, frequencies=frequencies, sample_weight=sample_weight,
                               local_shift=local_shift)

    def fit_features(self, features, y, *, roles=None, frequencies=None, local_shift=None):
        """Fit on a feature table (n, F) (from :mod:`baselines.features`) and class indexes;
        ``frequencies`` and ``local_shift`` as for :meth:`fit`."""
        self._check()
        self.roles_ = None if roles is None else tuple(roles)
        return self._fit_table(np.asarray(features, dtype=np.float32), np.asarray(y),
                               frequencies=frequencies, local_shift=local_shift)

    def _calibration_split(self, y):
        """(train, held) indexes: ``calibration_fraction`` of every class held out, drawn by
        the seed; nothing held out when that would be fewer than MIN_CALIBRATION_PIXELS."""
        fraction = float(self.calibration_fraction or 0.0)
        everything = np.arange(len(y))
        if not 0.0 < fraction < 1.0:
            return everything, everything[:0]
        rng = np.random.default_rng(self.random_state)
        held = np.zeros(len(y), dtype=bool)
        for c in np.unique(y):
            members = np.flatnonzero(y == c)
            n = int(len(members) * fraction)          # never all of a class
            if n:
                held[rng.choice(members, n, replace=False)] = True
        if held.sum() < MIN_CALIBRATION_PIXELS:
            log.info("%s: %d training pixels leave too few to calibrate on (%d, fewer than %d); "
                     "its probabilities are not calibrated", self.name, len(y), int(held.sum()),
                     MIN_CALIBRATION_PIXELS)
            return everything, everything[:0]
        return everything[~held], everything[held]

    def _fit_table(self, features, y, *, frequencies=None, sample_weight=None,
                   local_shift=None):
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise ClassificationError(
                f"{type(self).__name__}: labels must be class indexes 0..{self.n_classes - 1}, "
                f"found {int(y.min())}..{int(y.max())}")
        seen = np.unique(y)
        if len(seen) < 2:
            raise ClassificationError(
                f"{type(self).__name__}: the training samples hold {len(seen)} class(es); at "
                "least two are needed to learn anything — label more classes")
        y = y.astype(np.int64)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.shape != y.shape:
                raise ValueError(f"{len(y)} samples but {sample_weight.size} sample weights")
        if local_shift is not None:
            local_shift = np.asarray(local_shift, dtype=np.float64)
            if local_shift.shape != (len(y), self.n_classes):
                raise ValueError(f"local shift of shape {local_shift.shape} for {len(y)} "
                                 f"samples of {self.n_classes} classes")
        self.temperature_, self.calibration_pixels_ = 1.0, 0
        self.shift_ = None
        if self.prior and frequencies is not None:
            self.shift_ = prior_shift(frequencies, np.bincount(y, minlength=self.n_classes),
                                      float(self.prior))
        train, held = self._calibration_split(y)
        if len(held):
            # the temperature from trees that did not see the held-out pixels ...
            probe = self._make_model().fit(
                features[train], y[train],
                sample_weight=None if sample_weight is None else sample_weight[train])
            classes = np.asarray(probe.classes_, dtype=np.int64)
            logp = np.log(np.maximum(probe.predict_proba(features[held]), 1e-12))
            shift = None if self.shift_ is None else self.shift_[classes]
            if local_shift is not None:
                local = local_shift[held][:, classes]
                shift = local if shift is None else shift + local
            self.temperature_ = temperature_of(
                logp, np.searchsorted(classes, y[held]),
                weights=frequency_weights(y[held], frequencies, self.n_classes), shift=shift)
            self.calibration_pixels_ = len(held)
            del probe
        # ... divides the log-probabilities of the trees trained on every pixel, so the class
        # map is the one they give uncalibrated
        self.model_ = self._make_model()
        self.model_.fit(features, y, sample_weight=sample_weight)
        self.classes_ = np.asarray(self.model_.classes_, dtype=np.int64)
        self.n_features_in_ = features.shape[1]
        self.history_ = {}
        log.debug("%s trained on %d samples, %d features, classes %s, temperature %.3f from %d "
                  "held-out pixels", self.name, len(y), features.shape[1],
                  self.classes_.tolist(), self.temperature_, self.calibration_pixels_)
        return self

    # -- prediction ------------------------------------------------------------------------
    def predict_proba_features(self, features):
        """Class probabilities (n, n_classes) of a feature table; unseen classes get 0."""
        if not hasattr(self, "model_"):
            raise ClassificationError(f"{type(self).__name__} is not fitted; call fit first")
        features = np.asarray(features, dtype=np.float32)
        out = np.zeros((len(features), self.n_classes), dtype=np.float32)
        if len(features):
            proba = self.model_.predict_proba(features).astype(np.float32)
            shift = getattr(self, "shift_", None)
            out[:, self.classes_] = tempered(proba, getattr(self, "temperature_", 1.0),
                                             None if shift is None else shift[self.classes_])
        return out

    def predict_proba(self, strip):
        """Class probabilities (rows, cols, n_classes) of a scaled strip padded by ``halo``."""
        if not hasattr(self, "model_"):
            raise ClassificationError(f"{type(self).__name__} is not fitted; call fit first")
        if self.roles_ is None:
            raise ClassificationError(f"{type(self).__name__} was fitted on a feature table; "
                                      "predict with predict_proba_features")
        features = strip_features(strip, roles=self.roles_, window=int(self.patch_size),
                                  illumination=bool(self.illumination))
        rows, cols, n_features = features.shape
        proba = self.predict_proba_features(features.reshape(-1, n_features))
        return proba.reshape(rows, cols, self.n_classes)

    def predict(self, strip):
        """Class indexes (rows, cols) of a scaled strip padded by ``halo``."""
        return np.argmax(self.predict_proba(strip), axis=-1)


class LightGBMPixelClassifier(_PixelClassifier):
    """Gradient-boosted trees (:class:`lightgbm.LGBMClassifier`) on pixel features; the default
    baseline. Deterministic for a given ``random_state`` (``deterministic=True``, row-wise
    histograms)."""

    name = "lightgbm"

    def __init__(self, *, patch_size=5, n_classes=None, random_state=0, band_roles=None,
                 illumination=False, n_estimators=200, learning_rate=0.1, num_leaves=31,
                 min_child_samples=20, n_jobs=None, calibration_fraction=0.2,
                 prior=0.0):
        self.patch_size = patch_size
        self.n_classes = n_classes
        self.random_state = random_state
        self.band_roles = band_roles
        self.illumination = illumination
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_jobs = n_jobs
        self.calibration_fraction = calibration_fraction
        self.prior = prior

    def _make_model(self):
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                              num_leaves=self.num_leaves,
                              min_child_samples=self.min_child_samples,
                              random_state=self.random_state, deterministic=True,
                              force_row_wise=True, n_jobs=self._threads(), verbose=-1)


class RandomForestPixelClassifier(_PixelClassifier):
    """A random forest (:class:`sklearn.ensemble.RandomForestClassifier`) on pixel features."""

    name = "rf"

    def __init__(self, *, patch_size=5, n_classes=None, random_state=0, band_roles=None,
                 illumination=False, n_estimators=200, max_depth=None, min_samples_leaf=1,
                 n_jobs=None, calibration_fraction=0.2, prior=0.0):
        self.patch_size = patch_size
        self.n_classes = n_classes
        self.random_state = random_state
        self.band_roles = band_roles
        self.illumination = illumination
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.n_jobs = n_jobs
        self.calibration_fraction = calibration_fraction
        self.prior = prior

    def _make_model(self):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                      min_samples_leaf=self.min_samples_leaf,
                                      random_state=self.random_state, n_jobs=self._threads())


#: The baseline learners, by the name used on the command line.
LEARNERS = {"lightgbm": LightGBMPixelClassifier, "rf": RandomForestPixelClassifier}
for _name, _cls in LEARNERS.items():
    register_learner(_name, _cls)


def make_baseline(name, *, patch_size, n_classes, random_state=0, **params):
    """A baseline learner by name (``lightgbm`` or ``rf``), from the one learner registry."""
    if name not in LEARNERS:
        raise ClassificationError(f"unknown baseline learner {name!r}; choose "
                                  f"{' or '.join(LEARNERS)}")
    n_bands = params.pop("n_bands", None)
    return make_learner(name, patch_size=patch_size, n_bands=n_bands, n_classes=n_classes,
                        seed=random_state, **params)
