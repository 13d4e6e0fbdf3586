"""Helpers that synthesise small rasters with known answers, shared by the test modules
(``from raster_factory import block_labels``) and by the fixtures in ``conftest.py``."""
from pathlib import Path

import numpy as np
import pytest
from rasterio.crs import CRS

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
UTM_24N = CRS.from_epsg(32624)  # East Greenland


def shared_data(name):
    """Path to a real data set in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data {path} is absent (it lives in ../shared/data beside the repo)")
    return path


def block_labels(shape, n_classes, *, block=None):
    """Vertical bands of classes 1..n_classes (a known answer for tiling and metrics)."""
    rows, cols = shape
    block = block or int(np.ceil(cols / n_classes))
    labels = (np.arange(cols) // block + 1).clip(1, n_classes).astype(np.uint8)
    return np.broadcast_to(labels, shape).copy()


def image_from_labels(labels, *, bands=4, seed=0, noise=200, dtype=np.uint16):
    """A learnable image: each class has its own mean spectrum, plus noise."""
    rng = np.random.default_rng(seed)
    means = 1000 + 1500 * np.arange(int(labels.max()) + 1)[:, None] * np.linspace(1, 1.6, bands)
    img = means[labels] + rng.normal(0, noise, labels.shape + (bands,))
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        img = np.clip(img, info.min + 1, info.max)
    return img.astype(dtype)


RIVER_CSV = ("id,name,colour,role\n1,water,#1f78b4,\n2,sediment,#d9b365,\n"
             "3,vegetation,#33a02c,\n")


def labelled_scenes(folder, *, n=2, shape=(128, 192), bands=4):
    """``n`` georeferenced scenes ``scene<i>.tif`` of three vertical class bands with their
    ``SCLS_`` labels in ``folder``, and the three-class CSV beside the folder:
    ``(folder, classes.csv)``."""
    from affine import Affine

    from csc.classes import load_schema
    from csc.rasters import write_class_raster, write_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classes = folder.parent / "classes.csv"
    classes.write_text(RIVER_CSV)
    schema = load_schema(classes)
    transform = Affine(10, 0, 500000, 0, -10, 7400000)
    for i in range(n):
        labels = block_labels(shape, 3)
        write_image(folder / f"scene{i}.tif", image_from_labels(labels, bands=bands, seed=i),
                    crs=UTM_24N, transform=transform)
        write_class_raster(folder / f"SCLS_scene{i}.tif", labels, schema=schema, crs=UTM_24N,
                           transform=transform)
    return folder, classes
