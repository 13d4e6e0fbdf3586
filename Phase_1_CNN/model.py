"""The phase-one network: VGG16 convolutional blocks and a small dense head that predicts one
class per tile.

The input is a scaled float tile (rows, cols, bands) of any band count; the output is a softmax
over class INDEX 0..n_classes-1 (``ClassSchema.to_ids`` maps it back to class ids). Only
standard Keras layers are used, so ``keras.models.load_model`` reads a saved model without
custom objects. ``width`` scales every convolution filter count (width 1.0 is the published
VGG16; 1/4 or 1/16 trains on a laptop CPU with the same layer names and depth).
"""
import logging
import warnings
import zipfile
from pathlib import Path

import numpy as np

from csc.backend import load_keras
from csc.errors import ModelError
from csc.modelcard import load_card

log = logging.getLogger(__name__)

#: VGG16 convolution blocks: (filters, convolutions per block).
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
#: The smallest tile five 2x2 poolings leave at least one pixel of.
MIN_TILE_SIZE = 32
HEAD_UNITS = (512, 256)


def scaled_filters(filters, width):
    """A filter count scaled by ``width`` (at least 1)."""
    return max(1, int(round(filters * float(width))))


def _check_shape(tile_size, n_bands, n_classes, width):
    if int(tile_size) < MIN_TILE_SIZE:
        raise ModelError(f"tile size {tile_size} is too small for VGG16: its five poolings need "
                         f"tiles of at least {MIN_TILE_SIZE} pixels; cut the tiles again "
                         f"with `csc tiles --tile-size {MIN_TILE_SIZE}` or more")
    if int(n_bands) < 1:
        raise ModelError(f"a model needs at least one band, got {n_bands}")
    if int(n_classes) < 2:
        raise ModelError(f"a classifier needs at least two classes, got {n_classes}; "
                         "check the class schema")
    if not float(width) > 0:
        raise ModelError(f"width must be positive (1.0 is the full VGG16), got {width}")


def _vgg16_features(inputs, width, kernel_initializer):
    """The VGG16 convolutional blocks at ``width``, with the keras.applications layer names."""
    layers = load_keras().layers

    x = inputs
    for b, (filters, n_conv) in enumerate(VGG16_BLOCKS, start=1):
        for c in range(1, n_conv + 1):
            x = layers.Conv2D(scaled_filters(filters, width), (3, 3), activation="relu",
                              padding="same", kernel_initializer=kernel_initializer,
                              name=f"block{b}_conv{c}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{b}_pool")(x)
    return x


def build_vgg16(tile_size, n_bands, n_classes, *, width=1.0, l2=1e-3, dropout=0.5,
                kernel_initializer="he_normal"):
    """A VGG16 tile classifier for ``tile_size``×``tile_size`` tiles of ``n_bands`` bands.

    At ``width`` 1.0 the convolutional part is ``keras.applications.VGG16(include_top=False,
    weights=None)``; other widths build the same topology and layer names with every filter
    count scaled by ``width``. The head is Flatten → Dense 512 (L2) → Dropout → Dense 256 (L2)
    → Dense ``n_classes`` softmax (float32, so mixed precision is safe). Not compiled.

    Convolution kernels start from ``kernel_initializer`` (He normal by default: thirteen
    ReLU layers without normalisation train from scratch far more reliably than from the
    Glorot default; ``None`` keeps the Keras default)."""
    keras = load_keras()
    layers, regularizers = keras.layers, keras.regularizers

    _check_shape(tile_size, n_bands, n_classes, width)
    shape = (int(tile_size), int(tile_size), int(n_bands))
    if float(width) == 1.0:
        with warnings.catch_warnings():  # any band count is fine without ImageNet weights
            warnings.filterwarnings("ignore", message=".*input channels.*")
            base = keras.applications.VGG16(include_top=False, weights=None, input_shape=shape)
        if kernel_initializer is not None:
            init = keras.initializers.get(kernel_initializer)
            for name in conv_layer_names():
                kernel = base.get_layer(name).kernel
                kernel.assign(init(kernel.shape, dtype=kernel.dtype))
        inputs, features = base.input, base.output
    else:
        inputs = keras.Input(shape=shape, name="tiles")
        features = _vgg16_features(inputs, width, kernel_initializer or "glorot_uniform")
    reg = regularizers.L2(l2) if l2 else None
    x = layers.Flatten(name="flatten")(features)
    x = layers.Dense(HEAD_UNITS[0], activation="relu", kernel_regularizer=reg, name="fc1")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(HEAD_UNITS[1], activation="relu", kernel_regularizer=reg, name="fc2")(x)
    outputs = layers.Dense(int(n_classes), activation="softmax", dtype="float32",
                           name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg16_csc")


def compile_model(model, *, learning_rate=1e-4):
    """Adam (amsgrad) on sparse categorical cross-entropy over class indexes, with accuracy."""
    keras = load_keras()

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, amsgrad=True),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def conv_layer_names():
    """Names of the 13 VGG16 convolution layers in order."""
    return [f"block{b}_conv{c}" for b, (_, n) in enumerate(VGG16_BLOCKS, start=1)
            for c in range(1, n + 1)]


def load_imagenet_weights(model, path):
    """Copy VGG16 'notop' convolution weights from a local ``.h5`` / ``.weights.h5`` file into
    the full-width ``model``.

    Three-band models take the kernels as they are. For other band counts the first layer's
    kernel is adapted: bands 1-3 take the R, G, B kernels and every further band the mean of
    the three (a one- or two-band model takes the RGB mean for every band). Returns the
    number of layers copied."""
    keras = load_keras()
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such weights file; download the VGG16 'notop' weights "
                         "(vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5) and pass its path")
    names = conv_layer_names()
    first = model.get_layer(names[0])
    n_bands = int(first.kernel.shape[2])
    if first.kernel.shape[-1] != VGG16_BLOCKS[0][0]:
        raise ModelError(f"ImageNet weights fit the full-width VGG16 only, this model has "
                         f"{first.kernel.shape[-1]} first-layer filters instead of 64; "
                         "train at --width 1.0 or drop --weights")
    reference = keras.applications.VGG16(include_top=False, weights=None,
                                         input_shape=(MIN_TILE_SIZE, MIN_TILE_SIZE, 3))
    try:
        reference.load_weights(str(path))
    except (ValueError, OSError, KeyError) as exc:
        raise ModelError(f"{path}: cannot read VGG16 notop weights ({exc}); pass the Keras "
                         "VGG16 include_top=False weights file") from exc
    for name in names:
        kernel, bias = reference.get_layer(name).get_weights()
        if name == names[0] and n_bands != 3:
            mean = kernel.mean(axis=2, keepdims=True)
            extra = np.repeat(mean, max(0, n_bands - 3), axis=2)
            kernel = (np.concatenate([kernel, extra], axis=2) if n_bands > 3
                      else np.repeat(mean, n_bands, axis=2))
        model.get_layer(name).set_weights([kernel, bias])
    log.info("copied ImageNet VGG16 weights into %d layers (%d bands)", len(names), n_bands)
    return len(names)


def load_model(path):
    """(keras model, ModelCard) of a saved phase-one model; ``ModelError`` when the model or
    its sidecar is missing, unreadable or inconsistent with each other."""
    card = load_card(path)  # raises ModelError for a missing model or sidecar
    _check_keras_file(path)
    keras = load_keras()

    try:
        model = keras.models.load_model(str(path), compile=False)
    except (ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise ModelError(f"{path}: the model file is damaged or not a Keras model ({reason}); "
                         "re-train it with `csc train` or copy it again") from exc
    expected = (card.tile_size, card.tile_size, card.n_bands)
    found = tuple(model.input_shape[1:])
    if found != expected:
        raise ModelError(f"{path}: model takes tiles of shape {found} but its sidecar says "
                         f"{expected} (tile size, tile size, bands); keep the sidecar that was "
                         "saved with this model")
    if int(model.output_shape[-1]) != card.schema.n_classes:
        raise ModelError(f"{path}: model predicts {model.output_shape[-1]} classes but its "
                         f"sidecar schema has {card.schema.n_classes}; keep the sidecar that "
                         "was saved with this model")
    return model, card


#: Members every Keras 3 ``.keras`` archive holds.
KERAS_MEMBERS = ("config.json", "model.weights.h5")


def _check_keras_file(path):
    """``ModelError`` when ``path`` is not a whole ``.keras`` archive (cut short by a copy,
    overwritten, another format), before Keras answers "File not found"."""
    path = Path(path)
    fix = "re-train it with `csc train` or copy it again"
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not a .keras model file; pass the .keras file "
                         "that `csc train` wrote")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [m for m in KERAS_MEMBERS if m not in names]
            if missing:
                raise ModelError(f"{path}: the model file is damaged (no {', '.join(missing)} "
                                 f"in the archive); {fix}")
            for member in KERAS_MEMBERS:
                info = archive.getinfo(member)
                if info.header_offset + info.compress_size > path.stat().st_size:
                    raise ModelError(f"{path}: the model file is damaged (cut short); {fix}")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"{path}: the model file is damaged or cut short (not a whole .keras "
                         f"archive); {fix}") from exc
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file ({exc.strerror}); check its "
                         "permissions or copy it again") from exc


def predict_tiles(model, tiles, *, batch_size=256):
    """Class probabilities (n, n_classes) float32 for scaled tiles (n, T, T, bands).

    Works batch by batch without building a dataset, so it is cheap to call on strips."""
    tiles = np.asarray(tiles)
    n_classes = int(model.output_shape[-1])
    if len(tiles) == 0:
        return np.zeros((0, n_classes), dtype=np.float32)
    expected = tuple(model.input_shape[1:])
    if tuple(tiles.shape[1:]) != expected:
        raise ModelError(f"tiles of shape {tuple(tiles.shape[1:])} do not fit a model that "
                         f"takes {expected}; cut tiles with the model's tile size and bands")
    out = np.empty((len(tiles), n_classes), dtype=np.float32)
    for start in range(0, len(tiles), batch_size):
        batch = np.asarray(tiles[start:start + batch_size], dtype=np.float32)
        out[start:start + len(batch)] = np.asarray(model(batch, training=False), dtype=np.float32)
    return out


def predict_classes(model, tiles, schema, *, batch_size=256):
    """Class ids (uint8) of the most probable class of each tile, and the probabilities."""
    proba = predict_tiles(model, tiles, batch_size=batch_size)
    return schema.to_ids(np.argmax(proba, axis=1)).astype(np.uint8), proba
