"""Tiny study for the sweep tests: two 64x96 scenes of three vertical class bands (open water,
melange, glacier ice) and a width-1/16 VGG16 trained on their 32-pixel tiles until it labels
every tile right, so the phase-one F1 is known to be 1."""
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from csc.classes import GLACIER
from csc.rasters import write_class_raster, write_image
from csc.scaling import Scaling

TILE = 32
BANDS = 4
SHAPE = (64, 96)
MODEL = "vgg16_t32"
TRANSFORM = Affine(10, 0, 500000, 0, -10, 7400000)
CRS_UTM = CRS.from_epsg(32624)


def scene_labels():
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[:, :32], labels[:, 32:64], labels[:, 64:] = 1, 3, 4  # open water, melange, glacier
    return labels


def scene_image(labels, *, bands=BANDS, seed=0, noise=200):
    """Each class its own mean spectrum plus noise (as tests/conftest.image_from_labels)."""
    rng = np.random.default_rng(seed)
    means = 1000 + 1500 * np.arange(int(labels.max()) + 1)[:, None] * np.linspace(1, 1.6, bands)
    img = means[labels] + rng.normal(0, noise, labels.shape + (bands,))
    return np.clip(img, 1, 65535).astype(np.uint16)


def write_scenes(folder, *, seeds=(0, 1), bands=BANDS):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    labels = scene_labels()
    for i, seed in enumerate(seeds):
        stem = f"scene{i + 1}"
        write_image(folder / f"{stem}.tif", scene_image(labels, bands=bands, seed=seed),
                    crs=CRS_UTM, transform=TRANSFORM)
        write_class_raster(folder / f"SCLS_{stem}.tif", labels, schema=GLACIER, crs=CRS_UTM,
                           transform=TRANSFORM)
    return folder


def train_model(path, scenes):
    """A width-1/16 VGG16 that labels every tile of ``scenes`` right, with its sidecar."""
    from csc.backend import setup_backend
    from csc.modelcard import ModelCard
    from csc.rasters import read_image, read_labels

    setup_backend(seed=0)
    from Phase_1_CNN.model import build_vgg16, compile_model

    scaling = Scaling.fixed(10000)
    tiles, ids = [], []
    for image in sorted(scenes.glob("scene*.tif")):
        data = read_image(image).data
        truth = read_labels(scenes / f"SCLS_{image.name}", schema=GLACIER)
        for r in range(0, SHAPE[0], TILE):
            for c in range(0, SHAPE[1], TILE):
                tiles.append(data[r:r + TILE, c:c + TILE])
                ids.append(truth[r, c])
    x = scaling.apply(np.stack(tiles))
    x = np.concatenate([x, x[:, ::-1], x[:, :, ::-1], x[:, ::-1, ::-1]])
    y = np.tile(GLACIER.to_index(np.array(ids)), 4)
    model = compile_model(build_vgg16(TILE, BANDS, GLACIER.n_classes, width=1 / 16, l2=0,
                                      dropout=0), learning_rate=1e-3)
    for _ in range(6):
        model.fit(x, y, epochs=30, batch_size=16, verbose=0)
        if (np.argmax(model.predict(x, verbose=0), axis=1) == y).all():
            break
    else:
        pytest.fail("the tiny phase-one model did not learn the synthetic tiles")
    model.save(path)
    ModelCard(tile_size=TILE, bands=tuple(range(1, BANDS + 1)), scaling=scaling, schema=GLACIER,
              width=1 / 16).save(path)
    return path


def write_jobs(path, rows, *, header=("Model", "DataSource", "OutFolder", "ExpShortHand", "Dims",
                                      "PatchSize", "TileSize", "WholeImage", "Patience",
                                      "Done")):
    """A job list at ``path`` from tuples of cells."""
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


#: Classification defaults small enough for tests.
FAST = {"samples_per_class": 200, "epochs": 2, "batch_size": 64, "front": False}
