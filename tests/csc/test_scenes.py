import pytest

from csc.errors import MissingLabelError, RasterReadError
from csc.scenes import find_scenes


def test_companions_are_paired_and_never_images(make_scene, tmp_path):
    make_scene("a")
    make_scene("b")
    (tmp_path / "EDGE_a.tif").write_bytes((tmp_path / "SCLS_a.tif").read_bytes())
    (tmp_path / "VM_b.png").write_bytes(b"")
    scenes = find_scenes(tmp_path)
    assert [s.stem for s in scenes] == ["a", "b"]
    assert scenes[0].labels.name == "SCLS_a.tif" and scenes[0].edge.name == "EDGE_a.tif"
    assert scenes[1].margins.name == "VM_b.png" and scenes[1].edge is None


def test_missing_labels_named(make_raster, tmp_path):
    make_raster(name="lonely.tif")
    with pytest.raises(MissingLabelError, match="lonely.tif: no label raster SCLS_lonely.tif"):
        find_scenes(tmp_path, require_labels=True)


def test_empty_folder_and_label_as_image(tmp_path, make_scene):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RasterReadError, match="folder holds no images"):
        find_scenes(tmp_path / "empty")
    make_scene("c")
    with pytest.raises(RasterReadError, match="is a label/edge/margin raster, not an image"):
        find_scenes(tmp_path / "SCLS_c.tif")


# --- the open stage ----------------------------------------------------------------------------

import numpy as np  # noqa: E402
from affine import Affine  # noqa: E402
from rasterio.crs import CRS  # noqa: E402

from csc.classes import GLACIER  # noqa: E402
from csc.errors import BandError, ClassificationError, LabelMismatchError  # noqa: E402
from csc.rasters import write_class_raster, write_image  # noqa: E402
from csc.scenes import open_scene, scene_for  # noqa: E402

GRID = Affine(10, 0, 500000, 0, -10, 7400000)


def _companion(path, prefix, *, crs=CRS.from_epsg(32624), transform=GRID, shape=(60, 90),
               value=1):
    labels = np.zeros(shape, np.uint8)
    labels[:, :30] = value
    write_class_raster(path.with_name(f"{prefix}{path.name}"), labels, schema=GLACIER, crs=crs,
                       transform=transform)


@pytest.mark.parametrize("prefix", ["SCLS_", "EDGE_", "VM_"])
@pytest.mark.parametrize("change, message", [
    (dict(crs=CRS.from_epsg(32625)), r"is in EPSG:32625, but .*image\.tif is in EPSG:32624"),
    (dict(transform=GRID @ Affine.translation(500, 0)),        # shifted by 5 km
     r"on another grid \(origin 505000\.00, 7400000\.00"),
    (dict(transform=Affine(20, 0, 500000, 0, -20, 7400000)), r"pixel 20 x 20\) than"),
    (dict(shape=(60, 91)), r"is 60x91 pixels, but .*image\.tif is 60x90"),
])
def test_companions_on_another_grid_are_refused(make_raster, prefix, change, message):
    image = make_raster((60, 90), bands=4)
    _companion(image, prefix, **change)
    with pytest.raises(LabelMismatchError, match=f"{prefix} raster .*{message}.*warp the raster"):
        open_scene(scene_for(image), schema=GLACIER)


def test_a_companion_within_a_hundredth_of_a_pixel_is_accepted(make_raster):
    image = make_raster((60, 90), bands=4)
    _companion(image, "SCLS_", transform=GRID @ Affine.translation(0.005, 0))   # 0.005 px
    opened = open_scene(scene_for(image), schema=GLACIER)
    assert opened.read_labels().shape == (60, 90) and opened.n_valid == 60 * 90
    _companion(image, "SCLS_", transform=GRID @ Affine.translation(0.02, 0))    # 0.02 px
    with pytest.raises(LabelMismatchError, match="on another grid"):
        open_scene(scene_for(image), schema=GLACIER)


def test_open_checks_label_ids_bands_and_nodata_before_any_model(make_raster):
    image = make_raster((60, 90), bands=4)
    _companion(image, "SCLS_", value=9)
    with pytest.raises(LabelMismatchError, match="label ids 9 are not in the class schema"):
        open_scene(scene_for(image), schema=GLACIER)
    image.with_name("SCLS_image.tif").unlink()
    with pytest.raises(BandError, match="model m.keras reads bands \\(1, 2, 5\\) but image "
                                        ".*has 4 band\\(s\\)"):
        open_scene(scene_for(image), schema=GLACIER, bands=(1, 2, 5), model="model m.keras")
    empty = write_image(image.with_name("empty.tif"), np.zeros((20, 20, 2), np.uint16),
                        crs=CRS.from_epsg(32624), transform=GRID, nodata=0)
    with pytest.raises(ClassificationError, match="every pixel is nodata"):
        open_scene(scene_for(empty), schema=GLACIER)


@pytest.mark.parametrize("nodata, declared", [(None, "declares no nodata value"),
                                              (-9999.0, "declares nodata -9999"),
                                              (float("nan"), None)])
def test_nan_pixels_are_nodata_and_said_unless_the_file_says_so(tmp_path, caplog, nodata,
                                                                declared):
    import logging

    data = np.random.default_rng(0).uniform(500, 3000, (40, 50, 3)).astype(np.float32)
    data[5:10, 5:9, 1] = np.nan              # 20 pixels with one NaN band
    data[30, 40] = np.inf                    # and one with ±Inf
    data[0, :10] = -9999.0                   # 10 pixels of the declared nodata value
    path = write_image(tmp_path / "float.tif", data, crs=CRS.from_epsg(32624), transform=GRID,
                       nodata=nodata)
    with caplog.at_level(logging.WARNING, logger="csc.scenes"):
        opened = open_scene(scene_for(path), schema=GLACIER)
    said = [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()]
    nodata_pixels = 10 if nodata == -9999.0 else 0
    assert opened.n_valid == 40 * 50 - 21 - nodata_pixels
    if declared is None:
        assert said == []                    # nan is the nodata value: nothing to say
    else:
        assert len(said) == 1 and "float.tif: 21 pixels (1.05 %)" in said[0]
        assert declared in said[0] and "treated as nodata" in said[0]


@pytest.mark.parametrize("prefix", ["EDGE_", "VM_"])
def test_a_line_raster_without_a_line_is_found_strip_by_strip(make_raster, prefix):
    from csc.scenes import check_lines

    image = make_raster((60, 90), bands=4)
    line = np.zeros((60, 90), np.uint8)
    path = image.with_name(f"{prefix}{image.name}")
    write_class_raster(path, line, schema=GLACIER, crs=CRS.from_epsg(32624), transform=GRID)
    opened = open_scene(scene_for(image), schema=GLACIER)     # opening does not read lines
    with pytest.raises(LabelMismatchError, match=f"{prefix} raster .* holds no line pixels"):
        check_lines(opened, scan_rows=7)
    line[59, 89] = 1                          # one pixel, in the last of nine strips
    write_class_raster(path, line, schema=GLACIER, crs=CRS.from_epsg(32624), transform=GRID)
    check_lines(opened, scan_rows=7)
    # every band decides validity, as for the front step: (255, 0) with nodata 255 is a line
    # pixel, (1, NaN) is not
    from CSC_Application.front import read_line_raster

    two = np.zeros((60, 90, 2), np.uint8)
    two[30, 40] = (255, 0)
    write_image(path, two, crs=CRS.from_epsg(32624), transform=GRID, nodata=255)
    check_lines(opened, scan_rows=7)
    assert read_line_raster(path, shape=(60, 90), what=prefix).sum() == 1
    nan = np.zeros((60, 90, 2), np.float32)
    nan[30, 40] = (1, np.nan)
    write_image(path, nan, crs=CRS.from_epsg(32624), transform=GRID)
    with pytest.raises(LabelMismatchError, match="holds no line pixels"):
        check_lines(opened, scan_rows=7)
    with pytest.raises(LabelMismatchError, match="holds no line pixels"):
        read_line_raster(path, shape=(60, 90), what=prefix)
