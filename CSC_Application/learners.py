"""Phase-two learners: one interface for every pixel classifier CSC can train per image.

The learner contract and the registry of learners are in :mod:`csc.learners`; this module
registers the neural learner as ``nn`` (alias ``mlp``). Importing it also registers the
baselines (``lightgbm``, ``rf``) so ``--phase2`` can swap them in.
"""
import logging
import time

import numpy as np
from sklearn.base import BaseEstimator

import baselines.learners  # noqa: F401  (registers lightgbm and rf)
from baselines.features import parse_roles, spectral_features
from csc.backend import load_keras, setup_backend
from csc.calibration import (MIN_CALIBRATION_PIXELS, frequency_weights, prior_shift,
                             tempered, temperature_of)
from csc.errors import ClassificationError, PatchSizeError
from csc.learners import make_learner, register_learner
from csc.options import check_patch_size
from csc.sampling import calibration_distance
from CSC_Application.dense import block_dataset
from CSC_Application.fcn import fully_convolutional, predict_blocks
from CSC_Application.sampling import patch_dataset

log = logging.getLogger(__name__)

#: Filters of every 3×3 convolution of the compact patch CNN.
CONV_FILTERS = 32
#: Fewest training steps per epoch of dense training (smaller images get smaller batches).
MIN_STEPS = 32
#: Fewest blocks in a training batch (from as many places of the image).
MIN_BLOCKS = 16
#: Labelled pixels per step of dense training, by default.
DENSE_BATCH = 8192
#: Momentum of the moving average of the weights that dense training judges and keeps
#: (Polyak averaging over about a hundred steps).
EMA_MOMENTUM = 0.99
#: Training batches whose pixels give the batch-normalisation statistics of inference.
NORM_BATCHES = 16


def conv_count(patch_size):
    """Number of 3×3 VALID convolutions of the compact CNN for a K×K patch.

    The published networks use one, two, three and six convolutions for K = 3, 5, 7 and 15;
    every odd K follows the same monotone rule ``max(1, round((K - 1) / 2 * 6 / 7))`` (which
    gives exactly those four), so the patch always shrinks to a final window of
    ``K - 2 * n_conv ≥ 1`` pixels (1×1 up to K = 7, 3×3 at K = 15). K = 1 has no convolution."""
    k = check_patch_size(patch_size)
    if k == 1:
        return 0
    return max(1, round((k - 1) / 2 * 6 / 7))


def dense_units(patch_size):
    """Widths of the hidden dense layers: 64/32/16 for the pixel MLP (K = 1) and K = 3,
    512/64/32 for K ≥ 5 (as published)."""
    k = check_patch_size(patch_size)
    return (64, 32, 16) if k <= 3 else (512, 64, 32)


def build_patch_network(patch_size, n_bands, n_classes, *, l2=1e-3, seed=None, dense=False):
    """The phase-two network for K×K patches of ``n_bands`` scaled bands → softmax over class
    INDEX 0..n_classes-1. One builder for every odd K:

    - K = 1: the pixel MLP, Flatten → Dense 64 (ReLU, L2) → BatchNormalization → Dense 32 →
      Dense 16 → softmax;
    - K ≥ 3: ``conv_count(K)`` 3×3 VALID convolutions of 32 filters (ReLU) shrinking the patch,
      then the same dense head with ``dense_units(K)``.

    BatchNormalization uses momentum 0.9, so its inference statistics settle within a few
    dozen steps even on the small training sets of small images.

    Only Conv2D (VALID, stride 1), Flatten, Dense and BatchNormalization layers are used, so
    ``CSC_Application.fcn.fully_convolutional`` converts it exactly. Not compiled.

    With ``dense`` the same network is built in its fully convolutional training form: input
    of any size, the first Dense layer a VALID convolution over the final feature window, the
    later ones 1×1 convolutions, so a crop of (r + K − 1) × (c + K − 1) pixels gives r × c
    softmax outputs; :func:`patch_weights` turns its weights into the patch network's.

    With ``seed`` every layer's initial weights come from its own seeded initialiser, so a
    network is reproducible even when other threads draw from Python's global ``random``
    (as in a Dask worker); the two forms of one seed start from the same weights."""
    keras = load_keras()
    layers, regularizers = keras.layers, keras.regularizers

    k = check_patch_size(patch_size)
    if int(n_classes) < 2:
        raise ClassificationError(f"a phase-two learner needs at least two classes, got "
                                  f"{n_classes}; check the class schema")
    reg = regularizers.L2(l2) if l2 else None
    layer_seeds = iter(range(0 if seed is None else int(seed) * 100, 10**9))

    def init():
        return ("glorot_uniform" if seed is None
                else keras.initializers.GlorotUniform(seed=next(layer_seeds)))

    def head(units, x, name, window=1, **kw):
        if dense:
            return layers.Conv2D(units, (window, window), padding="valid",
                                 kernel_initializer=init(), name=name, **kw)(x)
        return layers.Dense(units, kernel_initializer=init(), name=name, **kw)(x)

    shape = (None, None, int(n_bands)) if dense else (k, k, int(n_bands))
    inputs = keras.Input(shape=shape, name="crops" if dense else "patches")
    x = inputs
    n_conv = conv_count(k)
    for i in range(n_conv):
        x = layers.Conv2D(CONV_FILTERS, (3, 3), padding="valid", activation="relu",
                          kernel_regularizer=reg, kernel_initializer=init(),
                          name=f"conv{i + 1}")(x)
    if not dense:
        x = layers.Flatten(name="flatten")(x)
    first, *rest = dense_units(k)
    x = head(first, x, "dense1", window=k - 2 * n_conv, activation="relu",
             kernel_regularizer=reg)
    x = layers.BatchNormalization(momentum=0.9, name="batchnorm")(x)
    for i, units in enumerate(rest, start=2):
        x = head(units, x, f"dense{i}", activation="relu", kernel_regularizer=reg)
    outputs = head(int(n_classes), x, "predictions", activation="softmax", dtype="float32")
    kind = "mlp" if k == 1 else "cnn"
    return keras.Model(inputs, outputs, name=f"csc_{kind}_k{k}{'_dense' if dense else ''}")


def patch_weights(dense_model, patch_model):
    """Copy the weights of a network's dense training form (``build_patch_network(...,
    dense=True)``) into its patch form: convolutions and batch normalisation as they are, the
    head's convolution kernels reshaped to the Dense kernels they stand for (Flatten's
    row-major (h, w, channel) order is the kernel's own). Returns ``patch_model``."""
    keras = load_keras()

    for layer in patch_model.layers:
        if not layer.weights:
            continue
        weights = dense_model.get_layer(layer.name).get_weights()
        if isinstance(layer, keras.layers.Dense):
            kernel, *others = weights
            weights = [kernel.reshape(-1, kernel.shape[-1]), *others]
        layer.set_weights(weights)
    return patch_model


def _split(groups, fraction, rng):
    """Shuffled (train, validation) index arrays of the samples, with ``fraction`` of the
    ``groups`` (one key per sample, e.g. its pixel) held out whole, so a sample drawn twice
    never sits on both sides."""
    keys, inverse = np.unique(np.asarray(groups), return_inverse=True)
    held = np.zeros(len(keys), dtype=bool)
    if len(keys) > 1 and fraction > 0:
        n_val = min(max(int(round(len(keys) * fraction)), 1), len(keys) - 1)
        held[rng.permutation(len(keys))[:n_val]] = True
    val = held[inverse]
    return np.flatnonzero(~val), np.flatnonzero(val)


class PatchNetworkClassifier(BaseEstimator):
    """The neural phase-two learner: the pixel MLP at K = 1, the compact patch CNN at K ≥ 3
    (``build_patch_network``), trained with Adam (1e-3, amsgrad) and early stopping on
    validation accuracy (best weights restored). ``patience``/``min_delta`` default (None) to
    10 epochs without any gain at K = 1, where an epoch costs about a second, and to 2 epochs
    without a 0.01 gain at K ≥ 3 (on the benchmark scenes the patch CNNs' F1 settles within
    a few epochs while the pixel MLP's keeps rising for tens of them); ``fit`` (patch
    sampling) keeps its 10 epochs without a 0.005 gain.

    ``fit`` (what ``csc classify`` uses by default) trains on a sample of patches (a
    ``PatchSet``) with a random 80/20 split of its pixels; ``fit_map`` (``csc classify
    --dense``) trains densely on a whole labelled image, validating on held-out cells. Both
    then calibrate the probabilities by temperature scaling on what they held out.

    Prediction runs the network's exact fully convolutional equivalent over whole strips
    (``CSC_Application.fcn``), never patch by patch.

    ``illumination`` feeds the network the illumination-robust features of
    :mod:`baselines.features` (relative bands, log brightness, normalised differences of the
    bands by ``band_roles``, default the method's band order) in place of the bands: they are
    computed per pixel, so patches and strips get the same planes (patch sampling only).

    ``prior`` (0..1) moves the probabilities that far from the class-balanced training to the
    image's class shares (:func:`csc.calibration.prior_shift` of the ``frequencies`` given to
    ``fit``, or of the labelled map with ``fit_map``) before the temperature is fitted and
    applied; 0 leaves them as trained."""

    def __init__(self, *, patch_size, n_classes, random_state=0, n_bands=None, epochs=300,
                 patience=None, batch_size=None, validation_fraction=0.2, min_delta=None,
                 learning_rate=1e-3, l2=1e-3, max_block_pixels=1 << 16, block_size=None,
                 illumination=False, band_roles=None, prior=0.0, progress=False):
        self.patch_size = patch_size
        self.n_classes = n_classes
        self.random_state = random_state
        self.n_bands = n_bands
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.min_delta = min_delta
        self.learning_rate = learning_rate
        self.l2 = l2
        self.max_block_pixels = max_block_pixels
        self.block_size = block_size
        self.illumination = illumination
        self.band_roles = band_roles
        self.prior = prior
        self.progress = progress

    @property
    def halo(self):
        return int(self.patch_size) // 2

    def _stopping(self, k):
        """(patience, min_delta) of dense training at patch size ``k``."""
        patience = self.patience if self.patience is not None else (10 if k == 1 else 2)
        min_delta = self.min_delta if self.min_delta is not None else (0.0 if k == 1 else 0.01)
        return int(patience), float(min_delta)

    @property
    def block(self):
        """Output block side of dense training: ``block_size``, or 4 px up to K = 7 and
        ``halo + 1`` beyond (8 at K = 15, where the context of a 4-px block would cost 20
        times its outputs). Single-pixel blocks at K = 1 measured no better (1024² scene:
        weighted F1 0.786 against 0.784) and 1.7 times slower."""
        return int(self.block_size or max(4, self.halo + 1))

    def fit(self, patches, y, *, frequencies=None, confirmed=None, sample_weight=None,
            local_shift=None):
        """Train on a sample of patches (a ``PatchSet``) and labels ``y`` (class indexes),
        holding out ``validation_fraction`` of its pixels for early stopping and for the
        temperature that calibrates the probabilities. ``frequencies`` (labelled pixels per
        class index) weighs the held-out pixels back to the image's class frequencies for the
        temperature, since the sample is class-balanced; without it they count equally.
        ``confirmed`` (one bool per sample, :func:`csc.sampling.confirmed`) restricts the
        temperature to held-out pixels whose label is confirmed (when at least
        :data:`MIN_CALIBRATION_PIXELS` are). ``sample_weight`` (one per sample) weighs the
        training loss; validation and calibration count every held-out pixel alike.
        ``local_shift`` (n, n_classes), the log-prior prediction adds to each pixel (``csc
        classify --local-prior``), is added for the temperature too."""
        keras = load_keras()
        k = check_patch_size(self.patch_size)
        if patches.patch_size != k:
            raise PatchSizeError(f"learner expects {k}×{k} patches, the patch set holds "
                                 f"{patches.patch_size}×{patches.patch_size}")
        y = np.asarray(y, dtype=np.int64)
        if len(y) != len(patches):
            raise ValueError(f"{len(patches)} patches but {len(y)} labels")
        if len(y) < 2:
            raise ClassificationError(f"phase two needs at least two training samples, got "
                                      f"{len(y)}; raise --samples-per-class")
        if local_shift is not None:
            local_shift = np.asarray(local_shift, dtype=np.float64)
            if local_shift.shape != (len(y), int(self.n_classes)):
                raise ValueError(f"local shift of shape {local_shift.shape} for {len(y)} "
                                 f"samples of {self.n_classes} classes")
        n_bands = int(self.n_bands or patches.n_bands)
        self.roles_ = None
        if self.illumination:
            self.roles_ = parse_roles(self.band_roles, int(patches.n_bands))
            patches = _FeaturePatches(patches, self._features)
            n_bands = patches.n_bands
        setup_backend(seed=int(self.random_state))
        rng = np.random.default_rng(self.random_state)
        # whole pixels are held out: one drawn twice (smaller classes are drawn with
        # replacement) is never both trained on and validated on
        groups = patches.rows * (int(patches.cols.max(initial=0)) + 1) + patches.cols
        train, val = _split(groups, self.validation_fraction, rng)
        model = build_patch_network(k, n_bands, self.n_classes, l2=self.l2,
                                    seed=int(self.random_state))
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate,
                                                      amsgrad=True),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        batch = int(self.batch_size or 1024)
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float32)
            if weights.shape != y.shape:
                raise ValueError(f"{len(y)} samples but {weights.size} sample weights")
        train_ds = patch_dataset(patches, train, y, batch_size=batch, shuffle=True,
                                 seed=int(self.random_state), weights=weights)
        callbacks = []
        val_ds = None
        if len(val):
            val_ds = patch_dataset(patches, val, y, batch_size=batch, shuffle=False)
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max",
                min_delta=0.005 if self.min_delta is None else self.min_delta,
                patience=10 if self.patience is None else int(self.patience),
                restore_best_weights=True))
        if self.progress:
            callbacks.append(_epoch_bar(int(self.epochs), k))
        log.info("training the K=%d %s on %d patches (%d for validation)", k,
                 "MLP" if k == 1 else "CNN", len(train), len(val))
        history = model.fit(train_ds, validation_data=val_ds, epochs=int(self.epochs),
                            callbacks=callbacks, verbose=0,
                            shuffle=False)  # the dataset shuffles itself from the seed
        self.history_ = {key: [float(v) for v in values]
                         for key, values in history.history.items()}
        self.epochs_run_ = len(next(iter(self.history_.values()), []))
        self.model_ = model
        self.n_bands_ = n_bands
        if self.illumination:   # feature planes per strip pixel, for the strip budget
            self.n_features_in_ = n_bands
        self.classes_ = np.arange(int(self.n_classes))
        self.temperature_, self.calibration_pixels_ = 1.0, 0
        self.shift_ = None
        if self.prior and frequencies is not None:
            # the sample is class-balanced
            self.shift_ = prior_shift(frequencies, None, float(self.prior))
        if val_ds is not None:
            weights = frequency_weights(y[val], frequencies, self.n_classes)
            used = len(np.unique(groups[val]))
            if confirmed is not None:
                keep = np.asarray(confirmed, dtype=bool)[val]
                n_confirmed = len(np.unique(groups[val][keep]))
                if n_confirmed >= MIN_CALIBRATION_PIXELS:
                    weights, used = weights * keep, n_confirmed
                else:
                    log.info("only %d held-out pixels have confirmed labels; the temperature "
                             "is fitted on all %d", n_confirmed, used)
            shift = self.shift_
            if local_shift is not None:   # val_ds yields the held-out pixels in this order
                shift = local_shift[val] + (0.0 if shift is None else shift)
            self.temperature_ = fit_temperature(model, val_ds, weights=weights, shift=shift)
            self.calibration_pixels_ = int(used)
        self.fcn_ = None
        return self

    def fit_map(self, training):
        """Train densely on a whole labelled image (a ``csc.blocks.LabelledImage``): the
        network's fully convolutional form runs over blocks of the image, each output pixel
        scored against its own label (:mod:`csc.blocks`, :mod:`CSC_Application.dense`), then
        its weights become the patch network's. Early stopping watches the class-balanced
        accuracy on validation cells that training never sees, scored with the moving average
        of the weights (:func:`_held_out_callback`); those averaged weights are kept.

        Batch normalisation: in training, each channel is normalised over every pixel of the
        batch's blocks, labelled or not (a batch holds at least :data:`MIN_BLOCKS` blocks from
        as many places). For inference its statistics are not the running average of batch
        statistics — the weights change under it, and the validation accuracy of such a
        network swung by several points from epoch to epoch — but the mean and variance over
        every pixel of a fixed spread of training blocks, recomputed for the weights judged:
        the population the strip prediction normalises, since it runs over every pixel.
        (Patch sampling normalised over a class-balanced sample of single patches instead.)

        The probabilities are then calibrated by temperature scaling on the validation cells
        (``temperature_``, :func:`fit_temperature`)."""
        if self.illumination:
            raise ClassificationError("the illumination features train by patch sampling; "
                                      "drop --dense or --illumination")
        keras = load_keras()
        k = check_patch_size(self.patch_size)
        n_bands = int(self.n_bands or training.n_bands)
        if n_bands != training.n_bands:
            raise ClassificationError(f"learner expects {n_bands} bands, the image has "
                                      f"{training.n_bands}")
        seed = int(self.random_state)
        strategy = setup_backend(seed=seed)
        plan = training.plan(validation_fraction=self.validation_fraction, seed=seed,
                             block=self.block)
        with strategy.scope():
            dense = build_patch_network(k, n_bands, self.n_classes, l2=self.l2, seed=seed,
                                        dense=True)
            dense.compile(optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate,
                                                          amsgrad=True),
                          loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
        # small images: smaller batches, so an epoch still takes MIN_STEPS steps; but never
        # fewer than MIN_BLOCKS blocks, whose pixels the batch normalisation sees together
        batch = int(max(min(int(self.batch_size or DENSE_BATCH),
                            plan.n_train_pixels // MIN_STEPS), MIN_BLOCKS * plan.block ** 2))
        train_ds = block_dataset(training, plan, halo=self.halo, which="train",
                                 pixels_per_batch=batch, shuffle=True, seed=seed)
        # a fixed spread of training blocks for the batch-normalisation statistics
        calibration = block_dataset(training, plan, halo=self.halo, which="train",
                                    pixels_per_batch=batch, shuffle=True, seed=seed + 1)
        val_ds = None
        if len(plan.val):
            val_ds = block_dataset(training, plan, halo=self.halo, which="val",
                                   pixels_per_batch=max(batch, plan.cell ** 2))
        held_out = _held_out_callback(calibration, val_ds)
        callbacks = [held_out]
        early = None
        if val_ds is not None:
            patience, min_delta = self._stopping(k)
            early = keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", min_delta=min_delta, patience=patience,
                restore_best_weights=True)
            callbacks.append(early)
        else:
            log.warning("%s: too few blocks for a validation set; phase two trains for all %d "
                        "epochs without early stopping", training.source, int(self.epochs))
        if self.progress:
            callbacks.append(_epoch_bar(int(self.epochs), k))
        log.info("training the K=%d %s densely on %s", k, "MLP" if k == 1 else "CNN",
                 plan.describe())
        history = dense.fit(train_ds, epochs=int(self.epochs), callbacks=callbacks, verbose=0,
                            shuffle=False)
        if early is not None and early.best_weights is not None:
            dense.set_weights(early.best_weights)   # averaged weights and their statistics
        else:
            held_out.use_average()                  # the last epoch's averaged weights
        with strategy.scope():
            model = patch_weights(dense, build_patch_network(k, n_bands, self.n_classes,
                                                             l2=self.l2))
        self.history_ = {key: [float(v) for v in values]
                         for key, values in history.history.items()}
        self.epochs_run_ = len(next(iter(self.history_.values()), []))
        self.temperature_, self.calibration_pixels_ = 1.0, 0
        self.shift_ = None
        if self.prior:   # classes are balanced by loss weights
            self.shift_ = prior_shift(plan.counts, None, float(self.prior))
        if val_ds is not None:
            self.temperature_, self.calibration_pixels_ = self._dense_temperature(
                dense, training, plan, val_ds, batch)
        names = training.schema.names
        self.plan_ = {
            "block": plan.block, "cell": plan.cell, "batch_pixels": batch,
            "training_blocks": int(len(plan.train)),
            "validation_cells": int(len(plan.val)),
            "training_pixels": {names[i]: int(n) for i, n in enumerate(plan.kept) if n},
            "validation_pixels": {names[i]: int(n) for i, n in enumerate(plan.val_pixels) if n},
            "labelled_pixels": {names[i]: int(n) for i, n in enumerate(plan.counts)},
            "temperature": round(float(self.temperature_), 4),
            "calibration_pixels": int(self.calibration_pixels_)}
        self.model_ = model
        self.n_bands_ = n_bands
        self.classes_ = np.arange(int(self.n_classes))
        self.fcn_ = None
        return self

    def _dense_temperature(self, dense, training, plan, val_ds, batch):
        """(temperature, pixels it was fitted on) from the validation cells: their pixels
        with confirmed labels at :func:`csc.sampling.calibration_distance` (when
        ``training.tile_size`` is set and at least :data:`MIN_CALIBRATION_PIXELS` are), else
        all of them."""
        distance = calibration_distance(training.tile_size)
        if distance:
            logp, targets = held_out_log_proba(dense, block_dataset(
                training, plan, halo=self.halo, which="val", pixels_per_batch=batch,
                confirm=distance))
            if len(targets) >= MIN_CALIBRATION_PIXELS:
                return temperature_of(logp, targets, shift=self.shift_), len(targets)
            log.info("only %d validation pixels have confirmed labels; the temperature is "
                     "fitted on all of them", len(targets))
        logp, targets = held_out_log_proba(dense, val_ds)
        return temperature_of(logp, targets, shift=self.shift_), len(targets)

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise ClassificationError("this learner is not trained yet; call fit first")

    def predict_proba(self, strip):
        """Class probabilities (rows, cols, n_classes) for a reflect-padded scaled strip,
        calibrated by the temperature fitted on the validation cells (``temperature_``)."""
        self._check_fitted()
        if self.fcn_ is None:
            self.fcn_ = fully_convolutional(self.model_)
        proba = predict_blocks(self.fcn_, self._features(strip), halo=self.halo,
                               max_pixels=int(self.max_block_pixels))
        return tempered(proba, getattr(self, "temperature_", 1.0),
                        getattr(self, "shift_", None))

    def predict(self, strip):
        """Class indexes (rows, cols) of a reflect-padded scaled strip."""
        return np.argmax(self.predict_proba(strip), axis=-1)

    def _features(self, pixels):
        """The network's input planes of (..., bands) scaled pixels: the bands themselves, or
        with ``illumination`` their features (``roles_``)."""
        if not self.illumination:
            return pixels
        return spectral_features(pixels, self.roles_, illumination=True)


class _FeaturePatches:
    """A ``PatchSet`` seen through a per-pixel feature function: ``take`` returns the features
    of the patches, ``n_bands`` their count; everything else is the patch set's."""

    def __init__(self, patches, features):
        self._patches, self._features = patches, features
        probe = features(np.zeros((1, 1, int(patches.n_bands)), dtype=np.float32))
        self.n_bands = int(probe.shape[-1])

    def __len__(self):
        return len(self._patches)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._patches, name)

    def take(self, index):
        return self._features(self._patches.take(index))

    def pixels(self, index):
        return self._features(self._patches.pixels(index))


def _held_out_callback(calibration, val_ds):
    """The callback that keeps an exponential moving average of the trainable weights
    (Polyak averaging, momentum ``min(EMA_MOMENTUM, (1 + t) / (10 + t))`` at step t, so short
    runs are not dominated by the initial weights) and, at the end of every epoch, judges the
    averaged weights: it puts them in the model, sets the batch-normalisation inference
    statistics to the mean and variance over every pixel of a fixed spread of training blocks
    (:data:`NORM_BATCHES` batches) — the population statistics of the weights being judged,
    not a moving average over weights that changed since — and scores the validation cells:
    ``val_accuracy`` (class-balanced) and ``val_loss`` in the epoch's logs, for early stopping
    and the history. The raw weights go back before the next epoch trains."""
    keras = load_keras()

    class HeldOut(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.weights = list(self.model.trainable_weights)
            self.average = [np.array(keras.ops.convert_to_numpy(w)) for w in self.weights]
            self.steps = 0
            self.raw = None
            self.norm = self.model.get_layer("batchnorm")
            self.before = keras.Model(self.model.input, self.norm.input)   # the pre-norm part

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            m = min(EMA_MOMENTUM, (1.0 + self.steps) / (10.0 + self.steps))
            for avg, w in zip(self.average, self.weights):
                avg *= m
                avg += (1.0 - m) * keras.ops.convert_to_numpy(w)

        def use_average(self):
            """Put the averaged weights in the model (with their normalisation statistics)."""
            for w, avg in zip(self.weights, self.average):
                w.assign(avg)
            self.recalibrate()

        def on_epoch_begin(self, epoch, logs=None):
            if self.raw is not None:
                for w, raw in zip(self.weights, self.raw):
                    w.assign(raw)
                self.raw = None

        def recalibrate(self):
            total = squares = 0.0
            count = 0
            for i in range(min(len(calibration), NORM_BATCHES)):
                x, _, _ = calibration[i]
                z = np.asarray(self.before(x, training=False), dtype=np.float64)
                z = z.reshape(-1, z.shape[-1])
                total, squares, count = total + z.sum(0), squares + (z * z).sum(0), count + len(z)
            if count:
                mean = total / count
                self.norm.moving_mean.assign(mean.astype(np.float32))
                variance = np.maximum(squares / count - mean * mean, 0.0)
                self.norm.moving_variance.assign(variance.astype(np.float32))

        def on_epoch_end(self, epoch, logs=None):
            started = time.perf_counter()
            self.raw = [np.array(keras.ops.convert_to_numpy(w)) for w in self.weights]
            self.use_average()
            if val_ds is None or logs is None:
                return
            right = loss = weight = 0.0
            for i in range(len(val_ds)):
                x, y, w = val_ds[i]
                proba = np.asarray(self.model(x, training=False), dtype=np.float64)
                p_true = np.take_along_axis(proba, y[..., None], axis=-1)[..., 0]
                right += float(np.sum(w * (proba.argmax(axis=-1) == y)))
                loss += float(np.sum(w * -np.log(np.maximum(p_true, 1e-12))))
                weight += float(w.sum())
            logs["val_accuracy"] = right / weight if weight else 0.0
            logs["val_loss"] = loss / weight if weight else 0.0
            log.debug("epoch %d: held-out scoring %.1f s, val_accuracy %.4f", epoch + 1,
                      time.perf_counter() - started, logs["val_accuracy"])

    return HeldOut()


def fit_temperature(model, batches, *, weights=None, shift=None):
    """The temperature that minimises the negative log-likelihood of the labelled pixels of
    ``batches`` under ``model``'s probabilities divided as logits (Guo et al. 2017,
    temperature scaling): :func:`temperature_of` the :func:`held_out_log_proba`. The pixels
    count at their natural frequency, not class-balanced: the confidence is to match how often
    the map is right where it is used; ``weights`` (one per labelled pixel, in order) restores
    that frequency for a class-balanced sample; ``shift`` is the learner's prior shift."""
    return temperature_of(*held_out_log_proba(model, batches), weights=weights, shift=shift)


def held_out_log_proba(model, batches):
    """``(log_probabilities (n, C), targets (n,))`` of ``model`` on the labelled pixels of
    ``batches``, which yield ``(crops, targets, weights)`` (dense: weight > 0 = labelled) or
    ``(patches, targets)`` (every sample labelled)."""
    logp, targets = [], []
    for i in range(len(batches)):
        x, y, *w = batches[i]
        proba = np.asarray(model(x, training=False), dtype=np.float64)
        keep = w[0] > 0 if w else np.ones(np.shape(y), dtype=bool)
        logp.append(np.log(np.maximum(proba[keep], 1e-12)))
        targets.append(np.asarray(y)[keep])
    if not logp:
        return np.empty((0, 0)), np.empty(0, dtype=np.int64)
    return np.concatenate(logp), np.concatenate(targets)


def _epoch_bar(epochs, k):
    from tqdm.auto import tqdm

    keras = load_keras()

    class EpochBar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc=f"phase two K={k}", unit="epoch", leave=False,
                            disable=None)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix({key: f"{logs[key]:.3f}" for key in ("accuracy", "val_accuracy")
                                  if key in logs})
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochBar()


register_learner("nn", PatchNetworkClassifier, aliases=("mlp",))

__all__ = ["PatchNetworkClassifier", "build_patch_network", "conv_count", "dense_units",
           "fit_temperature", "patch_weights", "tempered",
           "make_learner", "check_patch_size"]
