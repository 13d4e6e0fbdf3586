"""Phase-two test data: tiny scenes with a known answer and a tiny phase-one model.

The phase-one model is a standard-layer Keras tile classifier with hand-set weights (global
average of the tile's bands, then a nearest-class-mean softmax), saved with its sidecar like a
trained one: phase one then labels each tile by its dominant class, deterministically and in
milliseconds, so the tests exercise phase two on a realistic blocky tile map."""
import hashlib
import json

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from csc.classes import ClassInfo, ClassSchema
from csc.modelcard import ModelCard
from csc.rasters import write_class_raster, write_image
from csc.scaling import Scaling

TILE = 32
BANDS = 4
UTM = CRS.from_epsg(32624)
TRANSFORM = Affine(10, 0, 500000, 0, -10, 7400000)
SCHEMA = ClassSchema(classes=(ClassInfo(1, "water", "#1f78b4"),
                              ClassInfo(2, "sediment", "#d9b365"),
                              ClassInfo(3, "vegetation", "#33a02c")), name="river")


def class_means(n_classes, bands=BANDS):
    """Mean DN spectrum of classes 1..n (row 0 is unused)."""
    c = np.arange(n_classes + 1)[:, None]
    return 1000.0 + 1500.0 * c * np.linspace(1.0, 1.6, bands)[None, :]


def wavy_labels(shape, n_classes=3, *, seed=0):
    """Vertical class bands with wavy borders that cut through tiles (so a tile map is only
    approximately right and per-pixel phase two can do better)."""
    rows, cols = shape
    r = np.arange(rows)[:, None]
    c = np.arange(cols)[None, :]
    shift = 9 * np.sin(r / 7.0 + seed)
    band = np.floor((c + shift) / (cols / n_classes)).astype(int)
    return (np.clip(band, 0, n_classes - 1) + 1).astype(np.uint8)


def image_for(labels, *, n_classes=3, bands=BANDS, noise=120, seed=0):
    rng = np.random.default_rng(seed)
    img = class_means(n_classes, bands)[labels] + rng.normal(0, noise, labels.shape + (bands,))
    return np.clip(img, 1, 65535).astype(np.uint16)


def write_scene(folder, stem, labels, *, image=None, crs=UTM, transform=TRANSFORM, nodata=None,
                with_labels=True, schema=SCHEMA):
    folder.mkdir(parents=True, exist_ok=True)
    image = image_for(labels) if image is None else image
    path = write_image(folder / f"{stem}.tif", image, crs=crs,
                       transform=transform if crs is not None else None, nodata=nodata)
    if with_labels:
        write_class_raster(folder / f"SCLS_{stem}.tif", labels, schema=schema, crs=crs,
                           transform=transform if crs is not None else None)
    return path


def nearest_mean_model(schema=SCHEMA, *, tile=TILE, bands=BANDS, sharpness=400.0):
    """A Keras tile classifier: mean of the tile's scaled bands → nearest class mean."""
    import keras
    from keras import layers

    means = class_means(schema.n_classes, bands)[1:] / 10000.0
    inputs = keras.Input(shape=(tile, tile, bands))
    x = layers.GlobalAveragePooling2D()(inputs)
    dense = layers.Dense(schema.n_classes, activation="softmax")
    outputs = dense(x)
    dense.set_weights([(sharpness * means.T).astype("float32"),
                       (-0.5 * sharpness * (means ** 2).sum(axis=1)).astype("float32")])
    return keras.Model(inputs, outputs)


def save_model(path, keras_model, schema=SCHEMA, *, tile=TILE, bands=BANDS):
    keras_model.save(path)
    ModelCard(tile_size=tile, bands=tuple(range(1, bands + 1)), scaling=Scaling.fixed(10000),
              schema=schema).save(path)
    return path


def manifest_matches_folder(out, stem):
    """``<stem>_run.json``, checked against the folder: every file in it is listed, with its
    hash, and nothing else is there."""
    info = json.loads((out / f"{stem}_run.json").read_text())
    listed = {entry["name"]: entry for entry in info["outputs"]}
    assert set(listed) | {f"{stem}_run.json"} == {p.name for p in out.iterdir()}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest(), name
    return info
