"""Vectors drawn in QGIS burned onto an image's grid (csc.vectors) and ``csc labels``."""
import logging

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from rasterio.features import rasterize

from csc.classes import GLACIER
from csc.cli import cli
from csc.errors import OptionError, VectorError
from csc.rasters import raster_info
from csc.vectors import burn, burn_file, read_map
from vector_factory import GRID, WGS84, pixel_box, pixel_point, write_vectors

SHAPE = (60, 90)


@pytest.fixture
def image(make_raster):
    """A 60x90 UTM 24N image, 10 m pixels."""
    return make_raster(SHAPE, bands=4)


def _polygons():
    """Three overlapping, non-rectangular polygons in UTM 24N metres with classes 1, 4, 7."""
    x0, y0 = GRID @ (0, 0)
    tri = shapely.Polygon([(x0 + 15, y0 - 20), (x0 + 420, y0 - 35), (x0 + 200, y0 - 480)])
    rot = shapely.affinity.rotate(pixel_box(20, 40, 50, 80), 17, use_radians=False)
    ring = pixel_box(5, 50, 35, 88).buffer(-3).difference(pixel_box(12, 60, 25, 75))
    return [tri, rot, ring], [1, 4, 7]


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson"])
def test_polygons_in_wgs84_burn_like_rasterize_of_the_reprojected_geometries(image, tmp_path,
                                                                              suffix):
    geoms, classes = _polygons()
    path = write_vectors(tmp_path / f"drawn{suffix}", geoms, to_crs=WGS84, **{"class": classes})
    assert gpd.read_file(path).crs.to_epsg() == 4326

    result = burn(path, grid=raster_info(image), schema=GLACIER)

    info = raster_info(image)
    reprojected = gpd.read_file(path).to_crs(info.crs)
    expected = rasterize(zip(reprojected.geometry, reprojected["class"]), out_shape=info.shape,
                         transform=info.transform, fill=0, dtype="uint8")
    np.testing.assert_array_equal(result.array, expected)
    assert result.array.dtype == np.uint8 and result.array.shape == SHAPE
    assert set(np.unique(result.array)) == {0, 1, 4, 7}
    assert (result.n_features, result.n_burned, result.n_outside) == (3, 3, 0)


def test_points_burn_one_pixel_or_a_disk_of_the_radius(image, tmp_path):
    path = write_vectors(tmp_path / "points.gpkg", [pixel_point(30, 40), pixel_point(10, 10)],
                         to_crs=WGS84, **{"class": [4, 7]})
    single = burn(path, grid=image, schema=GLACIER).array
    assert np.argwhere(single == 4).tolist() == [[30, 40]]
    assert np.argwhere(single == 7).tolist() == [[10, 10]]

    disks = burn(path, grid=image, schema=GLACIER, point_radius=25.0).array
    rows, cols = np.indices(SHAPE)
    for (r, c), value in (((30, 40), 4), ((10, 10), 7)):
        within = np.hypot(rows - r, cols - c) * 10.0 <= 25.0   # pixel centres within 25 m
        np.testing.assert_array_equal(disks == value, within)
        assert within.sum() == 21


def test_map_csv_turns_names_or_codes_into_class_ids(image, tmp_path):
    boxes = [pixel_box(0, 0, 30, 45), pixel_box(0, 45, 30, 90), pixel_box(30, 0, 60, 90)]
    path = write_vectors(tmp_path / "named.gpkg", boxes, type=["Ice", "rock ", "water"],
                         code=[10, 20, 30])
    names = tmp_path / "names.csv"
    names.write_text("name,id\nice,4\nrock,7\nwater,1\n")
    result = burn(path, grid=image, schema=GLACIER, field="type", mapping=read_map(names))
    assert result.pixels == {1: 30 * 90, 4: 30 * 45, 7: 30 * 45}
    assert result.array[0, 0] == 4 and result.array[0, 89] == 7 and result.array[59, 0] == 1

    codes = tmp_path / "codes.csv"
    codes.write_text("value,id\n10,4\n20,7\n")
    with pytest.raises(VectorError, match=r"1 feature\(s\) have values of field 'code' that "
                                          r"the class map does not list: 30 \(1 feature\)"):
        burn(path, grid=image, schema=GLACIER, field="code", mapping=read_map(codes))
    with pytest.raises(VectorError, match=r"field 'type' holds text \(e.g. 'Ice'\).*--map"):
        burn(path, grid=image, schema=GLACIER, field="type")
    (tmp_path / "bad.csv").write_text("label,class\nice,4\n")
    with pytest.raises(VectorError, match=r"needs a header 'name,id' or 'value,id'"):
        read_map(tmp_path / "bad.csv")


def test_later_feature_wins_unless_a_priority_ranks_the_classes(image, tmp_path):
    path = write_vectors(tmp_path / "overlap.gpkg",
                         [pixel_box(0, 0, 40, 60), pixel_box(20, 30, 60, 90)],
                         **{"class": [1, 4]})
    overlap = (slice(20, 40), slice(30, 60))
    assert (burn(path, grid=image).array[overlap] == 4).all()            # later wins
    assert (burn(path, grid=image, priority=(1,)).array[overlap] == 1).all()
    assert (burn(path, grid=image, priority=(4, 1)).array[overlap] == 4).all()
    with pytest.raises(OptionError, match=r"--priority lists \[9\], not in the class schema"):
        burn(path, grid=image, schema=GLACIER, priority=(9,))


def test_all_touched_burns_every_pixel_a_polygon_touches(image, tmp_path):
    sliver = shapely.box(*(GRID @ (10.2, 20.8)), *(GRID @ (12.6, 20.6)))   # 0.2 px tall
    path = write_vectors(tmp_path / "sliver.gpkg", [sliver, pixel_box(0, 0, 5, 5)],
                         **{"class": [4, 1]})
    assert not (burn(path, grid=image).array == 4).any()
    assert np.argwhere(burn(path, grid=image, all_touched=True).array == 4)[:, 1].tolist() == \
        [10, 11, 12]


def test_unknown_classes_and_features_without_class_are_errors(image, tmp_path):
    boxes = [pixel_box(0, 0, 10, 10), pixel_box(10, 10, 20, 20), pixel_box(20, 20, 30, 30)]
    path = write_vectors(tmp_path / "unknown.gpkg", boxes, **{"class": [4, 9, 9]})
    with pytest.raises(VectorError, match=r"unknown.gpkg: 2 feature\(s\) have classes not in "
                                          r"the class schema 'glacier' .*: 9 \(2 features\)"):
        burn(path, grid=image, schema=GLACIER)
    blank = write_vectors(tmp_path / "blank.gpkg", boxes, **{"class": [4.0, np.nan, 1.0]})
    with pytest.raises(VectorError, match=r"1 feature\(s\) have no value in field 'class'"):
        burn(blank, grid=image, schema=GLACIER)
    other = write_vectors(tmp_path / "other.gpkg", boxes, kind=[1, 2, 3])
    with pytest.raises(VectorError, match=r"has no field 'class' or 'id' \(fields: kind\)"):
        burn(other, grid=image)


def test_outside_features_are_counted_and_an_empty_result_is_an_error(image, tmp_path, caplog):
    far = pixel_box(200, 200, 220, 220)
    path = write_vectors(tmp_path / "some.gpkg", [pixel_box(0, 0, 10, 10), far, far],
                         to_crs=WGS84, **{"class": [4, 1, 7]})
    with caplog.at_level(logging.WARNING, logger="csc.vectors"):
        result = burn(path, grid=image, schema=GLACIER)
    assert (result.n_features, result.n_outside, result.n_burned) == (3, 2, 1)
    assert result.pixels == {4: 100}
    assert "2 of 3 feature(s) lie outside" in caplog.text
    assert "(2 outside the image left out)" in result.summary(GLACIER)

    outside = write_vectors(tmp_path / "outside.gpkg", [far], **{"class": [4]})
    with pytest.raises(VectorError, match=r"outside.gpkg: no pixel of .*image.tif was burned "
                                          r"\(1 feature\(s\), 1 outside the image"):
        burn(outside, grid=image, schema=GLACIER)


def test_vectors_without_crs_or_an_image_without_georeferencing_are_errors(make_raster,
                                                                            image, tmp_path):
    plain = write_vectors(tmp_path / "nocrs.shp", [pixel_box(0, 0, 10, 10)], crs=None,
                          **{"class": [4]})
    with pytest.raises(VectorError, match=r"nocrs.shp has no CRS.*set its CRS in QGIS"):
        burn(plain, grid=image)
    drawn = write_vectors(tmp_path / "drawn.gpkg", [pixel_box(0, 0, 10, 10)], **{"class": [4]})
    photo = make_raster(SHAPE, crs=None, name="photo.tif")
    with pytest.raises(VectorError, match=r"photo.tif has no georeferencing .*drawn.gpkg "
                                          r"cannot be placed on it"):
        burn(drawn, grid=photo)


def test_a_file_of_several_layers_needs_a_layer(image, tmp_path):
    path = tmp_path / "two.gpkg"
    write_vectors(path, [pixel_box(0, 0, 10, 10)], layer="ice", **{"class": [4]})
    write_vectors(path, [pixel_box(0, 0, 10, 10)], layer="rock", **{"class": [7]})
    with pytest.raises(VectorError, match=r"two.gpkg holds 2 layers \(ice, rock\); choose one "
                                          r"with --layer"):
        burn(path, grid=image)
    assert burn(path, grid=image, layer="rock").pixels == {7: 100}


def test_edge_lines_burn_as_one_pixel_lines(image, tmp_path):
    x0, y0 = GRID @ (0, 0)
    line = shapely.LineString([(x0 + 5, y0 - 102), (x0 + 895, y0 - 331)])   # across, gently
    ring = pixel_box(40, 10, 55, 30)                                          # an outline
    path = write_vectors(tmp_path / "front.geojson", [line, ring], to_crs=WGS84)
    result = burn_file(image, path, kind="edge")
    assert result.path == image.with_name("EDGE_image.tif")
    with rasterio.open(result.path) as src:
        edge = src.read(1)
    assert set(np.unique(edge)) == {0, 1}
    upper = edge[:40]
    assert (upper.sum(axis=0) == 1).all()          # one pixel per column: 1 pixel wide
    rows = upper.argmax(axis=0)
    assert np.abs(np.diff(rows)).max() <= 1        # and connected
    outline = edge[40:56, 9:31]
    assert outline[1:-1, 2:-2].sum() == 0 and outline.sum() > 0   # hollow: only the outline


# --- csc labels --------------------------------------------------------------------------------

def test_cli_writes_scls_on_the_image_grid_and_prints_the_counts(image, tmp_path):
    geoms, classes = _polygons()
    far = pixel_box(300, 300, 310, 310)
    path = write_vectors(tmp_path / "drawn.gpkg", geoms + [far], to_crs="EPSG:32625",
                         **{"class": classes + [1]})
    done = CliRunner().invoke(cli, ["labels", str(image), str(path)])
    assert done.exit_code == 0, done.output
    out = image.with_name("SCLS_image.tif")
    with rasterio.open(out) as src, rasterio.open(image) as img:
        assert (src.crs, src.transform, src.shape) == (img.crs, img.transform, img.shape)
        assert src.dtypes[0] == "uint8" and src.nodata == 0
        assert src.colormap(1)[4] == GLACIER.colormap()[4]
        burned = src.read(1)
    np.testing.assert_array_equal(burned, burn(path, grid=image).array)
    assert "3 of 4 feature(s) burned (1 outside the image left out)" in done.output
    assert "field 'class', later features win" in done.output
    assert f"4 glacier ice: {(burned == 4).sum()} px" in done.output


def test_cli_options_and_errors_are_one_line(image, tmp_path):
    path = write_vectors(tmp_path / "drawn.gpkg",
                         [pixel_box(0, 0, 40, 60), pixel_box(20, 30, 60, 90)],
                         type=["ice", "rock"])
    names = tmp_path / "names.csv"
    names.write_text("name,id\nice,4\nrock,7\n")
    out = tmp_path / "out" / "labels.tif"
    done = CliRunner().invoke(cli, ["labels", str(image), str(path), "--field", "type",
                                    "--map", str(names), "--priority", "4,7", "--out",
                                    str(out)])
    assert done.exit_code == 0, done.output
    with rasterio.open(out) as src:
        assert src.read(1)[30, 45] == 4                    # priority: ice wins the overlap
    assert "classes 4, 7 win in that order" in done.output

    done = CliRunner().invoke(cli, ["labels", str(image), str(path), "--field", "type"])
    assert done.exit_code == 2
    assert done.output.count("\n") == 1 and "csc: error: " in done.output
    done = CliRunner().invoke(cli, ["labels", str(image), str(path), "--kind", "edge",
                                    "--field", "type"])
    assert done.exit_code == 2 and "--field applies to --kind labels only" in done.output
