"""Phase-two learners: one interface for every pixel classifier CSC can train per image.

The learner contract and the registry of learners are in :mod:`csc.learners`; this module
registers the neural learner as ``nn`` (alias ``mlp``). Importing it also registers the
baselines (``lightgbm``, ``rf``) so ``--phase2`` can swap them in.
"""
import logging

import numpy as np
from sklearn.base import BaseEstimator

import baselines.learners  # noqa: F401  (registers lightgbm and rf)
from csc.backend import load_keras, setup_backend
from csc.errors import ClassificationError, PatchSizeError
from csc.learners import make_learner, register_learner
from csc.options import check_patch_size
from CSC_Application.fcn import fully_convolutional, predict_blocks
from CSC_Application.sampling import patch_dataset

log = logging.getLogger(__name__)

#: Filters of every 3×3 convolution of the compact patch CNN.
CONV_FILTERS = 32


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


def build_patch_network(patch_size, n_bands, n_classes, *, l2=1e-3, seed=None):
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

    With ``seed`` every layer's initial weights come from its own seeded initialiser, so a
    network is reproducible even when other threads draw from Python's global ``random``
    (as in a Dask worker)."""
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

    inputs = keras.Input(shape=(k, k, int(n_bands)), name="patches")
    x = inputs
    for i in range(conv_count(k)):
        x = layers.Conv2D(CONV_FILTERS, (3, 3), padding="valid", activation="relu",
                          kernel_regularizer=reg, kernel_initializer=init(),
                          name=f"conv{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    first, *rest = dense_units(k)
    x = layers.Dense(first, activation="relu", kernel_regularizer=reg, kernel_initializer=init(),
                     name="dense1")(x)
    x = layers.BatchNormalization(momentum=0.9, name="batchnorm")(x)
    for i, units in enumerate(rest, start=2):
        x = layers.Dense(units, activation="relu", kernel_regularizer=reg,
                         kernel_initializer=init(), name=f"dense{i}")(x)
    outputs = layers.Dense(int(n_classes), activation="softmax", dtype="float32",
                           kernel_initializer=init(), name="predictions")(x)
    kind = "mlp" if k == 1 else "cnn"
    return keras.Model(inputs, outputs, name=f"csc_{kind}_k{k}")


def _split(n, fraction, rng):
    """Shuffled (train, validation) index arrays with ``fraction`` of ``n`` held out."""
    order = rng.permutation(n)
    n_val = min(max(int(round(n * fraction)), 1), n - 1) if n > 1 and fraction > 0 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class PatchNetworkClassifier(BaseEstimator):
    """The neural phase-two learner: the pixel MLP at K = 1, the compact patch CNN at K ≥ 3
    (``build_patch_network``), trained with Adam (1e-3, amsgrad) on an 80/20 split with early
    stopping on validation accuracy (``min_delta`` 0.005, best weights restored).

    Prediction runs the network's exact fully convolutional equivalent over whole strips
    (``CSC_Application.fcn``), never patch by patch."""

    def __init__(self, *, patch_size, n_classes, random_state=0, n_bands=None, epochs=300,
                 patience=10, batch_size=1024, validation_fraction=0.2, min_delta=0.005,
                 learning_rate=1e-3, l2=1e-3, max_block_pixels=1 << 16, progress=False):
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
        self.progress = progress

    @property
    def halo(self):
        return int(self.patch_size) // 2

    def fit(self, patches, y):
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
        n_bands = int(self.n_bands or patches.n_bands)
        setup_backend(seed=int(self.random_state))
        rng = np.random.default_rng(self.random_state)
        train, val = _split(len(y), self.validation_fraction, rng)
        model = build_patch_network(k, n_bands, self.n_classes, l2=self.l2,
                                    seed=int(self.random_state))
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate,
                                                      amsgrad=True),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        batch = int(self.batch_size)
        train_ds = patch_dataset(patches, train, y, batch_size=batch, shuffle=True,
                                 seed=int(self.random_state))
        callbacks = []
        val_ds = None
        if len(val):
            val_ds = patch_dataset(patches, val, y, batch_size=batch, shuffle=False)
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", min_delta=self.min_delta,
                patience=int(self.patience), restore_best_weights=True))
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
        self.classes_ = np.arange(int(self.n_classes))
        self.fcn_ = None
        return self

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise ClassificationError("this learner is not trained yet; call fit first")

    def predict_proba(self, strip):
        """Class probabilities (rows, cols, n_classes) for a reflect-padded scaled strip."""
        self._check_fitted()
        if self.fcn_ is None:
            self.fcn_ = fully_convolutional(self.model_)
        return predict_blocks(self.fcn_, strip, halo=self.halo,
                              max_pixels=int(self.max_block_pixels))

    def predict(self, strip):
        """Class indexes (rows, cols) of a reflect-padded scaled strip."""
        return np.argmax(self.predict_proba(strip), axis=-1)


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
           "make_learner", "check_patch_size"]
