"""Shared fixtures: tiny georeferenced rasters with painted class blocks."""
import os
import signal
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# A suite started in the background of a non-interactive shell inherits SIGINT ignored, and
# so would every csc it starts: the Ctrl-C tests would see runs that cannot be interrupted.
# A handler (unlike "ignore") is reset to the default on exec, so the children take Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from affine import Affine  # noqa: E402

from csc.classes import ClassInfo, ClassSchema  # noqa: E402
from csc.rasters import write_class_raster, write_image  # noqa: E402
from raster_factory import (UTM_24N, block_labels, image_from_labels,  # noqa: E402,F401
                            shared_data)


def pytest_collection_modifyitems(config, items):
    """Test files holding slow tests first (each file stays in one piece, in its own order):
    on several workers (``make test``: pytest-xdist, one file per worker at a time) the long
    end-to-end runs then overlap the many short tests instead of trailing them."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture
def utm():
    return UTM_24N


@pytest.fixture
def three_classes():
    """A three-class schema, like the river sample's."""
    return ClassSchema(classes=(ClassInfo(1, "water", "#1f78b4"),
                                ClassInfo(2, "sediment", "#d9b365"),
                                ClassInfo(3, "vegetation", "#33a02c")), name="river")


@pytest.fixture
def make_raster(tmp_path):
    """Factory: write a (rows, cols, bands) GeoTIFF and return its path."""

    def make(shape=(10, 10), *, bands=3, dtype="uint16", crs=UTM_24N, res=10.0, nodata=None,
             data=None, name="image.tif", origin=(500000.0, 7400000.0)):
        if data is None:
            rng = np.random.default_rng(0)
            data = rng.integers(1, 4000, size=tuple(shape) + (bands,)).astype(dtype)
        transform = Affine(res, 0, origin[0], 0, -res, origin[1]) if crs is not None else None
        return write_image(tmp_path / name, data, crs=crs, transform=transform, nodata=nodata)

    return make


@pytest.fixture
def make_scene(tmp_path):
    """Factory: an image with a SCLS_ label raster beside it, in ``folder``."""

    def make(stem="scene", *, shape=(60, 90), n_classes=3, bands=4, folder=None, seed=0,
             labels=None, schema=None):
        from csc.classes import GLACIER

        folder = Path(folder or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        labels = block_labels(shape, n_classes) if labels is None else labels
        img = image_from_labels(labels, bands=bands, seed=seed)
        transform = Affine(10, 0, 500000, 0, -10, 7400000)
        image = write_image(folder / f"{stem}.tif", img, crs=UTM_24N, transform=transform)
        write_class_raster(folder / f"SCLS_{stem}.tif", labels, schema=schema or GLACIER,
                           crs=UTM_24N, transform=transform)
        return image

    return make
