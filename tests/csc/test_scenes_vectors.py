"""Vector companions (``SCLS_<stem>.gpkg`` …) burned on the fly by the scene finder, and the
stages reading them as they read rasters."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely

from csc.classes import GLACIER
from csc.errors import LabelMismatchError, VectorError
from csc.rasters import raster_info, read_labels, write_class_raster
from csc.scenes import companion, find_scenes, open_scene, scene_for
from csc.vectors import burn, burn_file
from raster_factory import UTM_24N, block_labels, image_from_labels
from vector_factory import GRID, WGS84, pixel_box, polygons_of, write_vectors

# the phase-two test data (tiny phase-one model, wavy scenes) live beside the phase-two tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CSC_Application"))
from phase2_data import (SCHEMA, nearest_mean_model, save_model, wavy_labels,  # noqa: E402
                         write_scene)

SHAPE = (60, 90)
ROOT = Path(__file__).resolve().parents[2]


def _drawn_labels(image, *, name=None, classes=(4, 7, 1), suffix=".gpkg"):
    """Three overlapping class polygons in WGS 84 as SCLS_<stem><suffix> beside ``image``."""
    geoms = [pixel_box(0, 0, 35, 50).buffer(-4), pixel_box(25, 30, 60, 90),
             shapely.Point(*(GRID @ (70, 10))).buffer(60)]
    path = image.with_name(name or f"SCLS_{image.stem}{suffix}")
    return write_vectors(path, geoms, to_crs=WGS84, **{"class": list(classes)})


def _front(path, *, to_crs=WGS84):
    x0, y0 = GRID @ (0, 0)
    return write_vectors(path, [shapely.LineString([(x0 + 5, y0 - 95), (x0 + 895, y0 - 405)])],
                         to_crs=to_crs)


def test_vector_companions_are_burned_onto_the_image_grid(make_raster, tmp_path):
    image = make_raster(SHAPE, bands=4)
    gpkg = _drawn_labels(image)
    edge = _front(tmp_path / "EDGE_image.geojson")
    margins = _front(tmp_path / "VM_image.shp", to_crs="EPSG:32625")

    scenes = find_scenes(tmp_path)
    assert [s.image for s in scenes] == [image]       # no vector file (nor .dbf …) is an image
    scene = scenes[0]
    assert scene.sources == {"labels": gpkg, "edge": edge, "margins": margins}
    assert scene.source("labels") == gpkg and scene.labels.name == "SCLS_image.gpkg.tif"
    assert scene.labels.parent.parent.name.startswith("csc-vectors-")
    for field in ("labels", "edge", "margins"):
        info, grid = raster_info(getattr(scene, field)), raster_info(image)
        assert (info.crs, info.transform, info.shape) == (grid.crs, grid.transform, grid.shape)

    labels = open_scene(scene, schema=GLACIER).read_labels()
    np.testing.assert_array_equal(labels, burn(gpkg, grid=image, schema=GLACIER).array)
    assert set(np.unique(labels)) == {0, 1, 4, 7}
    with rasterio.open(scene.edge) as src:
        line = src.read(1)
    assert (line.sum(axis=0) == 1).all()            # a 1-pixel front across the image


def test_a_vector_is_burned_once_per_version_of_the_file(make_raster):
    image = make_raster(SHAPE, bands=4)
    gpkg = _drawn_labels(image)
    first = scene_for(image).labels
    assert scene_for(image).labels == first
    before = read_labels(first, schema=GLACIER)
    gpkg.unlink()
    _drawn_labels(image, classes=(5, 6, 2))
    os.utime(gpkg, ns=(os.stat(gpkg).st_atime_ns, os.stat(gpkg).st_mtime_ns + 10**9))
    second = scene_for(image).labels
    assert second != first
    np.testing.assert_array_equal(read_labels(second, schema=GLACIER) > 0, before > 0)
    assert set(np.unique(read_labels(second, schema=GLACIER))) == {0, 2, 5, 6}


def test_a_raster_and_a_vector_companion_are_ambiguous(make_scene, tmp_path):
    image = make_scene("scene", shape=SHAPE)
    gpkg = _drawn_labels(image)
    with pytest.raises(VectorError, match=r"SCLS_scene.tif and .*SCLS_scene.gpkg are both "
                                          r"SCLS_ companions of it; keep one"):
        find_scenes(tmp_path)
    gpkg.unlink()
    _front(tmp_path / "EDGE_scene.gpkg")
    _front(tmp_path / "EDGE_scene.geojson")
    with pytest.raises(VectorError, match=r"EDGE_scene.gpkg and .*EDGE_scene.geojson are both"):
        scene_for(image)


def test_vector_label_ids_are_checked_against_the_schema(make_raster):
    image = make_raster(SHAPE, bands=4)
    _drawn_labels(image, classes=(4, 9, 1))
    with pytest.raises(VectorError, match=r"SCLS_image.gpkg: 1 feature\(s\) have classes not in "
                                          r"the class schema 'glacier'.*9 \(1 feature\)"):
        find_scenes(image, schema=GLACIER)
    scene = scene_for(image)                      # no schema yet: checked when opened
    with pytest.raises(LabelMismatchError, match=r"SCLS_image.gpkg.tif: label ids 9 are not in"):
        open_scene(scene, schema=GLACIER)


def test_vector_problems_name_the_vector_file(make_raster, tmp_path):
    make_raster(SHAPE, bands=4)
    write_vectors(tmp_path / "SCLS_image.shp", [pixel_box(0, 0, 10, 10)], crs=None,
                  **{"class": [4]})
    with pytest.raises(VectorError, match=r"SCLS_image.shp has no CRS.*set its CRS in QGIS"):
        find_scenes(tmp_path)
    photo = make_raster(SHAPE, crs=None, name="photo.tif")
    _drawn_labels(photo)
    with pytest.raises(VectorError, match=r"photo.tif has no georeferencing"):
        scene_for(photo)


def test_an_edge_vector_beside_a_class_raster_is_burned_on_its_grid(tmp_path):
    """``csc front``: EDGE_/VM_ vectors beside a class map, on the class map's grid."""
    from CSC_Application.front.outputs import read_line_raster

    out = tmp_path / "results"
    out.mkdir()
    class_path = write_class_raster(out / "scene_classified.tif", block_labels(SHAPE, 3),
                                    schema=GLACIER, crs=UTM_24N, transform=GRID)
    _front(out / "EDGE_scene.geojson")
    edge = companion(class_path, "EDGE_", stem="scene")
    info, grid = raster_info(edge), raster_info(class_path)
    assert (info.crs, info.transform, info.shape) == (grid.crs, grid.transform, grid.shape)
    line = read_line_raster(edge, shape=SHAPE, class_path=class_path)
    assert (line.sum(axis=0) == 1).all()
    assert companion(class_path, "VM_", stem="scene") is None


def test_the_temporary_folder_is_removed_at_exit(make_raster):
    image = make_raster(SHAPE, bands=4)
    _drawn_labels(image)
    code = ("import sys\nfrom csc.scenes import scene_for\n"
            f"print(scene_for({str(image)!r}).labels)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    burned = Path(done.stdout.strip().splitlines()[-1])
    assert burned.name == "SCLS_image.gpkg.tif"
    assert not burned.exists() and not burned.parent.parent.exists()


# --- the stages read vector labels as they read rasters --------------------------------------

def _tile_scene(folder, shape=(96, 144)):
    """An image whose labels are three vertical class bands, drawn as WGS 84 polygons that
    overhang the image a little."""
    from csc.rasters import write_image

    folder.mkdir(parents=True)
    labels = block_labels(shape, 3)
    image = write_image(folder / "scene.tif", image_from_labels(labels, bands=4), crs=UTM_24N,
                        transform=GRID)
    bands = [pixel_box(-3, -3, shape[0] + 3, 48), pixel_box(-3, 48, shape[0] + 3, 96),
             pixel_box(-3, 96, shape[0] + 3, shape[1] + 3)]
    bands = [shapely.affinity.rotate(b, 0.4) for b in bands]        # not on pixel edges
    write_vectors(folder / "drawn.gpkg", bands, to_crs=WGS84, **{"class": [1, 2, 3]})
    return image


def test_labels_given_as_a_gpkg_give_the_same_tiles_as_the_burned_raster(tmp_path):
    from Phase_1_CNN.tiles import make_tileset

    as_vector = _tile_scene(tmp_path / "vector")
    (tmp_path / "vector" / "drawn.gpkg").rename(tmp_path / "vector" / "SCLS_scene.gpkg")
    as_raster = _tile_scene(tmp_path / "raster")
    burn_file(as_raster, tmp_path / "raster" / "drawn.gpkg", schema=GLACIER)
    (tmp_path / "raster" / "drawn.gpkg").unlink()
    assert (tmp_path / "raster" / "SCLS_scene.tif").exists()

    options = {"tile_size": 32, "stride": 16, "block_size": 64, "val_fraction": 0.25, "seed": 3}
    a = make_tileset(as_vector.parent, tmp_path / "tiles_vector", **options)
    make_tileset(as_raster.parent, tmp_path / "tiles_raster", **options)
    assert len(a.labels("train")) > 0 and len(a.labels("val")) > 0
    for name in ("tiles_train.npy", "labels_train.npy", "tiles_val.npy", "labels_val.npy"):
        np.testing.assert_array_equal(np.load(tmp_path / "tiles_vector" / name),
                                      np.load(tmp_path / "tiles_raster" / name))
    assert set(np.unique(np.concatenate([a.labels("train"), a.labels("val")]))) == {1, 2, 3}


@pytest.fixture(scope="module")
def phase_one(tmp_path_factory):
    from csc.backend import quiet_tensorflow

    quiet_tensorflow()
    path = tmp_path_factory.mktemp("model") / "phase_one.keras"
    return save_model(path, nearest_mean_model())


def test_classify_with_vector_labels(tmp_path, phase_one):
    """The same scene with its labels as a GeoPackage or as a raster: the same reports."""
    import pandas as pd

    from CSC_Application.run import ClassifyOptions, classify_path

    labels = wavy_labels((64, 96))
    as_vector = write_scene(tmp_path / "vector", "wavy", labels, with_labels=False)
    polygons_of(labels).to_crs(WGS84).to_file(tmp_path / "vector" / "SCLS_wavy.gpkg")
    as_raster = write_scene(tmp_path / "raster", "wavy", labels)
    np.testing.assert_array_equal(read_labels(scene_for(as_vector).labels, schema=SCHEMA),
                                  labels)                  # polygons burned back exactly

    options = ClassifyOptions(patch_size=1, epochs=1, samples_per_class=300, batch_size=32,
                              front=False)
    reports = {}
    for name, image in (("vector", as_vector), ("raster", as_raster)):
        result = classify_path(image, phase_one, tmp_path / f"out_{name}", options)
        assert result.frame.iloc[0]["status"] == "ok"
        reports[name] = {kind: pd.read_csv(tmp_path / f"out_{name}" / f"{kind}_wavy_k1.csv")
                         for kind in ("CNN", "CSC")}
    pd.testing.assert_frame_equal(reports["vector"]["CNN"], reports["raster"]["CNN"])
    support = reports["vector"]["CSC"].set_index("Class")["Support"]
    for class_id, count in zip(*np.unique(labels, return_counts=True)):
        assert support[SCHEMA.name_of(class_id)] == count     # scored on the vector labels
    run = json.loads((tmp_path / "out_vector" / "wavy_run.json").read_text())
    assert run["labels"].endswith("SCLS_wavy.gpkg")     # the file the user gave, not its burn
