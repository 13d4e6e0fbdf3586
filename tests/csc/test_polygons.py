"""Class maps as polygons (``csc.polygons``): strip by strip, seams merged, back to the map."""
import json

import numpy as np
import pyogrio
import pytest
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.features import rasterize, shapes
from scipy import ndimage
from skimage.measure import label

from csc.classes import GLACIER, ClassInfo, ClassSchema
from csc.errors import OptionError
from csc.polygons import (CLASSES_LAYER, GLACIER_LAYER, area_unit, class_gpkg, class_regions,
                          polygon_strip_rows, write_class_polygons, write_lines_layer)

UTM = CRS.from_epsg(32624)
TRANSFORM = Affine(20, 0, 500000, 0, -20, 7400000)   # 20 m pixels: 400 m² each
STRIP = 16
SCHEMA = ClassSchema(classes=(ClassInfo(1, "water", "#1f78b4", "ocean"),
                              ClassInfo(2, "ice", "#a6cee3", "glacier"),
                              ClassInfo(3, "rock", "#8c510a", "rock"),
                              ClassInfo(4, "snow", "#ffffff")),
                     front=ClassInfo(8, "front", "#e31a1c", "front"), name="four")


def seam_map():
    """A 100 × 70 map, much taller than the 16-row strips, whose regions cross seams: an
    L-shaped region and a ring (with another class inside it and a region inside that) each
    across several seams, a diagonal staircase (4-connected pieces touching at corners only),
    one-pixel specks on seam rows, and nodata."""
    m = np.full((100, 70), 1, dtype=np.uint8)                    # background water
    m[5:90, 3:9] = 3                                             # L: long leg ...
    m[80:90, 3:40] = 3                                           # ... and foot
    m[10:60, 20:50] = 2                                          # ring of ice, rows 10..59
    m[18:52, 28:42] = 4                                          # snow inside the ring
    m[30:36, 33:37] = 1                                          # water inside the snow
    for i in range(12):                                          # staircase of rock pixels
        m[60 + i, 50 + i] = 3
    m[[15, 16, 31, 32, 47], [60, 61, 62, 63, 64]] = 4            # specks on and by seams
    m[92:100, 55:70] = 0                                         # nodata corner
    m[0:3, 60:70] = 0
    return m


def blocky_map(shape, *, seed, n_classes=4):
    """Random class blocks smoothed by a majority-like filter: realistic, irregular regions."""
    rng = np.random.default_rng(seed)
    m = ndimage.zoom(rng.integers(1, n_classes + 1, (shape[0] // 8 + 1, shape[1] // 8 + 1)),
                     8, order=0)[:shape[0], :shape[1]]
    noisy = np.where(rng.random(shape) < 0.15, rng.integers(0, n_classes + 1, shape), m)
    return ndimage.median_filter(noisy, 3).astype(np.uint8)


def collect(class_map, **kwargs):
    parts = list(class_regions(class_map, **kwargs))
    return (np.concatenate([p.class_id for p in parts]), np.concatenate([p.pixels for p in parts]),
            np.concatenate([p.geometry for p in parts]))


def burn(geometry, class_id, shape, transform=None):
    return rasterize(zip(geometry, class_id.astype(int)), out_shape=shape, dtype="uint8",
                     transform=transform or Affine.identity())


def test_polygons_rasterise_back_to_the_map_across_seams():
    m = seam_map()
    class_id, pixels, geometry = collect(m, strip_rows=STRIP)
    np.testing.assert_array_equal(burn(geometry, class_id, m.shape), m)
    assert (shapely.get_type_id(geometry) == 3).all()           # every region one Polygon
    assert shapely.is_valid(geometry).all()
    np.testing.assert_array_equal(shapely.area(geometry), pixels)


def test_l_shape_and_ring_are_one_feature_each():
    m = seam_map()
    class_id, _, geometry = collect(m, strip_rows=STRIP)
    rock = geometry[class_id == 3]
    l_shape = rock[np.argmax(shapely.area(rock))]
    assert l_shape.area == 85 * 6 + 10 * 31 and len(l_shape.interiors) == 0   # across 6 seams
    ring = geometry[class_id == 2]
    assert len(ring) == 1 and len(ring[0].interiors) == 1        # one polygon with its hole
    assert ring[0].area == 50 * 30 - 34 * 14
    assert shapely.Polygon(ring[0].interiors[0]).area == 34 * 14
    assert (class_id == 4).sum() == 1 + 5                        # snow ring inside + specks
    # the staircase: 12 rock pixels touching at corners only are 12 regions
    stair = [g for g in rock if g.area == 1 and 60 <= g.bounds[1] < 72]
    assert len(stair) == 12


@pytest.mark.parametrize("strip_rows", [1, 7, STRIP, 33])
def test_strips_give_the_whole_image_polygons(strip_rows):
    """Strip-wise regions equal GDAL's polygons of the whole map: the same count per class
    and the same union per class."""
    for m in (seam_map(), blocky_map((120, 90), seed=strip_rows)):
        class_id, _, geometry = collect(m, strip_rows=strip_rows)
        whole = [(shapely.geometry.shape(g), int(v)) for g, v in shapes(m, mask=m > 0)]
        whole_geometry = np.array([g for g, _ in whole], dtype=object)
        whole_class = np.array([v for _, v in whole])
        assert len(geometry) == len(whole)
        for c in np.unique(whole_class):
            assert (class_id == c).sum() == (whole_class == c).sum(), c
            mine = shapely.union_all(geometry[class_id == c])
            gdal = shapely.union_all(whole_geometry[whole_class == c])
            assert mine.symmetric_difference(gdal).area == 0, c
        np.testing.assert_array_equal(burn(geometry, class_id, m.shape), m)


def test_seam_vertices_are_dropped():
    m = np.zeros((40, 20), np.uint8)
    m[2:38, 5:15] = 2                                            # a rectangle over 4 seams
    _, _, geometry = collect(m, strip_rows=8)
    assert len(geometry) == 1 and len(geometry[0].exterior.coords) == 5


def test_gpkg_back_to_the_map_with_grid_and_areas(tmp_path):
    m = blocky_map((150, 110), seed=3)
    path = tmp_path / "classes.gpkg"
    info = write_class_polygons(path, m, schema=SCHEMA, transform=TRANSFORM, crs=UTM,
                                strip_rows=STRIP)
    frame = pyogrio.read_dataframe(path, layer=CLASSES_LAYER)
    assert info == {"layer": CLASSES_LAYER, "features": len(frame), "dropped": 0,
                    "area_unit": "m2"}
    assert list(frame.columns) == ["class_id", "class_name", "area_m2", "geometry"]
    assert frame.crs == UTM
    np.testing.assert_array_equal(burn(frame.geometry, frame["class_id"].to_numpy(), m.shape,
                                       TRANSFORM), m)
    assert frame["area_m2"].sum() == (m > 0).sum() * 400.0
    np.testing.assert_allclose(frame["area_m2"], frame.geometry.area)
    names = dict(zip(frame["class_id"], frame["class_name"]))
    assert names == {c.id: c.name for c in SCHEMA.classes if c.id in names}


def test_min_area_drops_small_regions_and_only_them(tmp_path):
    m = blocky_map((150, 110), seed=4)
    labels, n = label(m, background=0, connectivity=1, return_num=True)
    sizes = np.bincount(labels.ravel())
    min_area = 12 * 400.0                                        # 12 pixels of 20 m
    expected = np.where(sizes[labels] * 400.0 >= min_area, m, 0)
    expected[m == 0] = 0
    path = tmp_path / "big.gpkg"
    info = write_class_polygons(path, m, schema=SCHEMA, transform=TRANSFORM, crs=UTM,
                                min_area=min_area, strip_rows=STRIP)
    frame = pyogrio.read_dataframe(path)
    small = int((sizes[1:] * 400.0 < min_area).sum())
    assert small > 10 and info["dropped"] == small and len(frame) == n - small
    assert (frame["area_m2"] >= min_area).all()
    np.testing.assert_array_equal(burn(frame.geometry, frame["class_id"].to_numpy(), m.shape,
                                       TRANSFORM), expected)


def test_simplify_keeps_areas_and_validity(tmp_path):
    m = blocky_map((150, 110), seed=5)
    exact, simple = tmp_path / "exact.gpkg", tmp_path / "simple.gpkg"
    write_class_polygons(exact, m, schema=SCHEMA, transform=TRANSFORM, crs=UTM)
    write_class_polygons(simple, m, schema=SCHEMA, transform=TRANSFORM, crs=UTM, simplify=30)
    a, b = pyogrio.read_dataframe(exact), pyogrio.read_dataframe(simple)
    assert len(a) == len(b)
    np.testing.assert_array_equal(a["area_m2"], b["area_m2"])   # the regions' own areas
    assert shapely.get_num_coordinates(b.geometry.values).sum() < \
        0.8 * shapely.get_num_coordinates(a.geometry.values).sum()
    assert b.geometry.is_valid.all()
    # each polygon stays within about the tolerance of its exact outline
    assert max(x.hausdorff_distance(y) for x, y in zip(a.geometry, b.geometry)) <= 2 * 30


def test_non_georeferenced_map_is_in_pixels(tmp_path):
    m = seam_map()
    path = tmp_path / "plain.gpkg"
    info = write_class_polygons(path, m, schema=SCHEMA, strip_rows=STRIP)
    frame = pyogrio.read_dataframe(path)
    assert info["area_unit"] == "px" and "area_px" in frame.columns and frame.crs is None
    assert frame["area_px"].sum() == (m > 0).sum()
    assert frame.total_bounds.tolist() == [0.0, 0.0, 70.0, 100.0]   # x = column, y = row
    np.testing.assert_array_equal(burn(frame.geometry, frame["class_id"].to_numpy(), m.shape),
                                  m)


def test_area_units():
    assert area_unit(crs=UTM, transform=TRANSFORM).pixel_area == 400.0
    feet = area_unit(crs=CRS.from_epsg(2263), transform=Affine(10, 0, 0, 0, -10, 0))
    assert feet.name == "m2" and feet.pixel_area == pytest.approx(100 * 0.3048006096 ** 2)
    degrees = area_unit(crs=CRS.from_epsg(4326), transform=Affine(1e-4, 0, 0, 0, -1e-4, 0))
    assert degrees.name == "px" and degrees.length == pytest.approx(1e-4)
    assert area_unit().name == "px"


def test_glacier_outline_merges_the_front_and_lines_keep_the_raster_crs(tmp_path):
    m = np.full((60, 50), 1, np.uint8)
    m[:, 30:] = 3
    m[5:55, 10:30] = 2                                           # glacier
    m[5:55, 10] = 8                                              # its front
    lines = tmp_path / "front.geojson"                           # no crs member: not WGS 84
    lines.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"length_m": 1000.0},
        "geometry": {"type": "LineString", "coordinates": [[500210, 7399890],
                                                           [500210, 7398910]]}}]}))
    path = tmp_path / "scene.gpkg"
    layers = class_gpkg(path, m, schema=SCHEMA, transform=TRANSFORM, crs=UTM, glacier=True,
                        lines={"calving_front": lines}, strip_rows=STRIP)
    assert [x["layer"] for x in layers] == [CLASSES_LAYER, GLACIER_LAYER, "calving_front"]
    assert [name for name, _ in pyogrio.list_layers(path)] == [CLASSES_LAYER, GLACIER_LAYER,
                                                               "calving_front"]
    glacier = pyogrio.read_dataframe(path, layer=GLACIER_LAYER)
    assert len(glacier) == 1 and glacier["class_name"][0] == "ice"
    assert glacier["area_m2"][0] == 50 * 20 * 400.0              # ice and front together
    front = pyogrio.read_dataframe(path, layer="calving_front")
    assert front.crs == UTM and front["length_m"][0] == 1000.0
    assert front.geometry[0].equals(shapely.LineString([(500210, 7399890), (500210, 7398910)]))


def test_all_nodata_map_gives_an_empty_layer(tmp_path):
    path = tmp_path / "empty.gpkg"
    info = write_class_polygons(path, np.zeros((20, 20), np.uint8), schema=GLACIER,
                                transform=TRANSFORM, crs=UTM)
    assert info["features"] == 0
    assert len(pyogrio.read_dataframe(path, layer=CLASSES_LAYER)) == 0


def test_lines_layer_without_georeferencing(tmp_path):
    lines = tmp_path / "m.geojson"
    lines.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {},
        "geometry": {"type": "LineString", "coordinates": [[0.5, 0.5], [3.5, 0.5]]}}]}))
    path = tmp_path / "m.gpkg"
    write_class_polygons(path, np.ones((4, 4), np.uint8), schema=GLACIER)
    assert write_lines_layer(path, lines, layer="valley_margins") == {
        "layer": "valley_margins", "features": 1}
    assert pyogrio.read_dataframe(path, layer="valley_margins").crs is None


def test_bad_options_are_errors(tmp_path):
    with pytest.raises(OptionError, match="--min-area must be ≥ 0, got -1"):
        write_class_polygons(tmp_path / "x.gpkg", np.ones((4, 4), np.uint8), schema=GLACIER,
                             min_area=-1)
    with pytest.raises(OptionError, match="--simplify must be a number"):
        write_class_polygons(tmp_path / "x.gpkg", np.ones((4, 4), np.uint8), schema=GLACIER,
                             simplify="lots")
    with pytest.raises(ValueError, match="class map must be 2-D"):
        list(class_regions(np.ones((2, 2, 2), np.uint8)))


def test_strip_rows_follow_the_budget():
    assert polygon_strip_rows(10980, budget=256 << 20) == 381     # 64 bytes a pixel
    assert polygon_strip_rows(100, budget=1 << 30) == 8192
    assert polygon_strip_rows(10980, budget=1) == 64


def test_holes_away_from_and_on_seams_survive_the_dissolve():
    """An ocean across every seam with icebergs as holes: some inside a strip, some on a
    seam row, some across a seam."""
    m = np.full((64, 40), 1, np.uint8)
    icebergs = [(3, 3), (20, 10), (15, 20), (31, 30), (32, 5), (47, 12), (40, 25), (60, 33)]
    for r, c in icebergs:
        m[r:r + 2, c:c + 2] = 2                                  # rows 15-16, 31-32: on seams
    class_id, _, geometry = collect(m, strip_rows=STRIP)
    ocean = geometry[class_id == 1]
    assert len(ocean) == 1 and len(ocean[0].interiors) == len(icebergs)
    assert ocean[0].is_valid and ocean[0].area == 64 * 40 - 4 * len(icebergs)
    np.testing.assert_array_equal(burn(geometry, class_id, m.shape), m)
