"""The GIS outputs of a scene run: the class map as a COG with named categories and
``<stem>_classes.gpkg`` with its layers, from ``csc classify`` and ``csc baseline``."""
import json
import types

import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine
from rasterio.features import rasterize

from CSC_Application.run import classify_path
from csc.classes import ClassInfo, ClassSchema
from csc.rasters import read_category_names, write_image
from phase2_data import (UTM, manifest_matches_folder, nearest_mean_model, save_model,
                         wavy_labels, write_scene)

ROLES = ClassSchema(classes=(ClassInfo(1, "open water", "#08306b", "ocean"),
                             ClassInfo(2, "glacier ice", "#41b6c4", "glacier"),
                             ClassInfo(3, "rock", "#8c510a", "rock")),
                    front=ClassInfo(8, "calving front", "#e31a1c", "front"), name="fjord")
FJORD_TRANSFORM = Affine(40, 0, 500000, 0, -40, 7400000)   # 40 m pixels: the ocean is > 1 km²
PIXEL_M2 = 40.0 * 40.0


@pytest.fixture(scope="module")
def roles_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("roles") / "fjord.keras"
    return save_model(path, nearest_mean_model(ROLES), ROLES)


def _map(path):
    with rasterio.open(path) as src:
        return src.read(1), src.crs, src.transform, src.tags(ns="IMAGE_STRUCTURE")


def _burn(frame, shape, transform):
    return rasterize(zip(frame.geometry, frame["class_id"].astype(int)), out_shape=shape,
                     transform=transform, dtype="uint8")


@pytest.fixture(scope="module")
def fjord(tmp_path_factory, roles_model):
    """One K=1 run with the front step on a georeferenced fjord scene."""
    from CSC_Application.run import ClassifyOptions

    tmp = tmp_path_factory.mktemp("fjord")
    labels = wavy_labels((96, 96))
    path = write_scene(tmp / "in", "fjord", labels, schema=ROLES, transform=FJORD_TRANSFORM)
    margin = np.zeros((96, 96, 1), np.uint8)    # VM_: the glacier pixels along the rock
    margin[..., 0] = (labels == 2) & (np.roll(labels, -1, axis=1) == 3)
    write_image(tmp / "in" / "VM_fjord.tif", margin, crs=UTM, transform=FJORD_TRANSFORM)
    options = ClassifyOptions(patch_size=1, samples_per_class=300, epochs=2, patience=3,
                              batch_size=32, despeckle=1, front=True, seed=0)
    classify_path(path, roles_model, tmp / "out", options)
    return types.SimpleNamespace(input=path, out=tmp / "out",
                                 info=manifest_matches_folder(tmp / "out", "fjord"))


def test_outputs_include_the_gpkg_and_the_category_sidecar(fjord):
    names = {entry["name"] for entry in fjord.info["outputs"]}
    assert {"fjord_classified.tif", "fjord_classified.tif.aux.xml", "fjord_classes.gpkg",
            "fjord_front.geojson"} <= names
    assert not [p.name for p in fjord.out.iterdir() if p.name.startswith(".")]
    assert read_category_names(fjord.out / "fjord_classified.tif") == [
        "unlabelled", "open water", "glacier ice", "rock", "", "", "", "", "calving front"]


def test_class_map_is_a_cog_on_the_input_grid(fjord):
    classes, crs, transform, structure = _map(fjord.out / "fjord_classified.tif")
    with rasterio.open(fjord.input) as src:
        assert crs == src.crs and transform == src.transform
        assert classes.shape == (src.height, src.width)
    assert structure["LAYOUT"] == "COG"
    assert fjord.info["front"]["front_found"] and (classes == 8).any()    # front burnt in


def test_gpkg_layers_follow_the_front_step(fjord):
    path = fjord.out / "fjord_classes.gpkg"
    layers = ["classes", "glacier_outline", "calving_front", "valley_margins"]
    assert [name for name, _ in pyogrio.list_layers(path)] == layers
    record = fjord.info["polygons"]
    assert record["file"] == "fjord_classes.gpkg" and record["min_area"] == 0.0
    assert [layer["layer"] for layer in record["layers"]] == layers
    assert "polygons_s" in fjord.info["timings"] and "class_map_s" in fjord.info["timings"]


def test_classes_layer_rasterises_back_to_the_class_map(fjord):
    classes, crs, transform, _ = _map(fjord.out / "fjord_classified.tif")
    frame = pyogrio.read_dataframe(fjord.out / "fjord_classes.gpkg", layer="classes")
    assert frame.crs == crs
    np.testing.assert_array_equal(_burn(frame, classes.shape, transform), classes)
    assert frame["area_m2"].sum() == (classes > 0).sum() * PIXEL_M2
    assert set(frame["class_name"]) <= {"open water", "glacier ice", "rock", "calving front"}


def test_glacier_outline_is_the_refined_glacier_of_the_map(fjord):
    classes, _, transform, _ = _map(fjord.out / "fjord_classified.tif")
    glacier = pyogrio.read_dataframe(fjord.out / "fjord_classes.gpkg", layer="glacier_outline")
    assert set(glacier["class_id"]) == {2}
    burnt = _burn(glacier, classes.shape, transform)
    np.testing.assert_array_equal(burnt == 2, np.isin(classes, [2, 8]))


@pytest.mark.parametrize("layer, name", [("calving_front", "fjord_front.geojson"),
                                         ("valley_margins", "fjord_margins.geojson")])
def test_line_layers_are_the_geojson_lines_in_the_raster_crs(fjord, layer, name):
    import geopandas

    lines = pyogrio.read_dataframe(fjord.out / "fjord_classes.gpkg", layer=layer)
    geojson = geopandas.read_file(fjord.out / name)
    assert lines.crs == UTM
    assert len(lines) == len(geojson) == 1
    assert lines.geometry[0].equals(geojson.geometry[0])
    if layer == "calving_front":
        assert lines["length_m"][0] == pytest.approx(fjord.info["front"]["length_m"])


def test_rerun_without_front_and_with_min_area(fjord, roles_model, tmp_path):
    """A re-run into the same folder without the front step: the gpkg has the classes layer
    only; regions under --min-area are left out of it, the class map keeps them."""
    import shutil

    from CSC_Application.run import ClassifyOptions

    out = tmp_path / "out"
    shutil.copytree(fjord.out, out)
    options = ClassifyOptions(patch_size=1, samples_per_class=300, epochs=2, patience=3,
                              batch_size=32, despeckle=0, front=False, seed=0,
                              min_area=20 * PIXEL_M2, simplify=40.0)
    classify_path(fjord.input, roles_model, out, options)
    info = manifest_matches_folder(out, "fjord")
    assert not any(p.name.startswith("fjord_front") for p in out.iterdir())
    path = out / "fjord_classes.gpkg"
    assert [name for name, _ in pyogrio.list_layers(path)] == ["classes"]
    frame = pyogrio.read_dataframe(path)
    assert (frame["area_m2"] >= 20 * PIXEL_M2).all()
    assert info["polygons"]["min_area"] == 20 * PIXEL_M2 and info["polygons"]["simplify"] == 40
    assert info["options"]["min_area"] == 20 * PIXEL_M2


def test_non_georeferenced_image_gives_pixel_polygons(tmp_path, phase_one, options):
    path = write_scene(tmp_path / "in", "plain", wavy_labels((64, 96)), crs=None,
                       with_labels=False)
    classify_path(path, phase_one, tmp_path / "out", options(patch_size=1, epochs=1))
    classes, crs, _, structure = _map(tmp_path / "out" / "plain_classified.tif")
    assert crs is None and structure["LAYOUT"] == "COG"
    frame = pyogrio.read_dataframe(tmp_path / "out" / "plain_classes.gpkg")
    assert frame.crs is None and "area_px" in frame.columns
    assert frame["area_px"].sum() == (classes > 0).sum()
    np.testing.assert_array_equal(_burn(frame, classes.shape, Affine.identity()), classes)


def test_baseline_outputs_the_same_gis_files(tmp_path):
    from baselines.supervised import run_baseline
    from csc.classes import GLACIER

    labels = np.broadcast_to(np.repeat(np.arange(1, 4, dtype=np.uint8), 30), (60, 90)).copy()
    for folder, stem in (("train", "a"), ("test", "c")):
        write_scene(tmp_path / folder, stem, labels, schema=GLACIER)
    run_baseline(tmp_path / "train", tmp_path / "test", out_dir=tmp_path / "out",
                 schema=GLACIER, samples_per_class=200, window=3, strip_rows=16)
    out = tmp_path / "out"
    names = {entry["name"] for entry in json.loads((out / "c_run.json").read_text())["outputs"]}
    assert {"c_classified.tif", "c_classified.tif.aux.xml", "c_classes.gpkg"} <= names
    classes, _, transform, structure = _map(out / "c_classified.tif")
    assert structure["LAYOUT"] == "COG"
    frame = pyogrio.read_dataframe(out / "c_classes.gpkg")
    np.testing.assert_array_equal(_burn(frame, classes.shape, transform), classes)
