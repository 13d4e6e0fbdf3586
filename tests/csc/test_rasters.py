import numpy as np
import pytest
import rasterio
from affine import Affine

from csc.classes import GLACIER
from csc.errors import BandError, LabelMismatchError, RasterReadError
from csc.rasters import (ClassRasterWriter, raster_info, read_image, read_labels,
                         write_class_raster)


def test_read_image_keeps_georeferencing(make_raster, utm):
    path = make_raster((12, 9), bands=4, res=20.0, nodata=0)
    img = read_image(path)
    assert img.data.shape == (12, 9, 4)
    assert img.crs == utm
    assert img.transform == Affine(20, 0, 500000, 0, -20, 7400000)
    assert img.nodata == 0
    assert img.georeferenced
    assert raster_info(path).pixel_size == (20.0, 20.0)


def test_read_selected_bands_in_order(make_raster):
    data = np.stack([np.full((5, 6), v, np.uint16) for v in (10, 20, 30, 40)], axis=-1)
    path = make_raster((5, 6), data=data)
    img = read_image(path, bands=(4, 2))
    assert img.data[0, 0].tolist() == [40, 20]
    assert img.bands == (4, 2)


def test_fewer_bands_than_requested_names_file(make_raster):
    path = make_raster((5, 5), bands=3)
    with pytest.raises(BandError, match=r"image.tif has 3 band\(s\); cannot read band\(s\) \[4\]"):
        read_image(path, bands=(1, 2, 3, 4))


def test_strip_window_reads_rows(make_raster):
    path = make_raster((20, 7), bands=2)
    full = read_image(path).data
    strip = read_image(path, window=(5, 9)).data
    np.testing.assert_array_equal(strip, full[5:9])


def test_nodata_pixels_are_invalid(make_raster):
    data = np.full((4, 4, 2), 500, np.uint16)
    data[1, 2] = 0
    data[3, 3, 0] = 0  # only one band at nodata: still valid
    img = read_image(make_raster((4, 4), data=data, nodata=0))
    assert img.valid.sum() == 15
    assert not img.valid[1, 2] and img.valid[3, 3]


def test_unreadable_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not a tiff at all")
    with pytest.raises(RasterReadError, match="broken.tif: not a readable raster"):
        read_image(bad)
    with pytest.raises(RasterReadError, match="missing.tif: no such file"):
        read_image(tmp_path / "missing.tif")


def test_class_raster_round_trip_keeps_grid_nodata_and_colours(tmp_path, utm):
    transform = Affine(10, 0, 600000, 0, -10, 7500000)
    classes = np.arange(300 * 280).reshape(300, 280) % 8
    out = write_class_raster(tmp_path / "map.tif", classes, schema=GLACIER, crs=utm,
                             transform=transform)
    with rasterio.open(out) as src:
        assert src.crs == utm and src.transform == transform
        assert src.nodata == 0 and src.dtypes[0] == "uint8"
        assert src.profile["compress"] == "deflate" and src.profile["tiled"]
        cmap = src.colormap(1)
        np.testing.assert_array_equal(src.read(1), classes)
    assert cmap[4][:3] == GLACIER.classes[3].rgb
    assert cmap[8][:3] == (0xe3, 0x1a, 0x1c)  # calving front


def test_plain_image_gives_output_without_crs_and_a_warning(tmp_path, caplog):
    classes = np.ones((8, 8), np.uint8)
    with caplog.at_level("WARNING"):
        out = write_class_raster(tmp_path / "plain.tif", classes, schema=GLACIER)
    assert "not georeferenced" in caplog.text
    with rasterio.open(out) as src:
        assert src.crs is None
    png = write_class_raster(tmp_path / "plain.png", classes, schema=GLACIER)
    assert read_image(png).data.shape == (8, 8, 1)
    assert not raster_info(png).georeferenced


def test_strip_writer_assembles_map_atomically(tmp_path, utm):
    classes = np.random.default_rng(0).integers(0, 8, (50, 40)).astype(np.uint8)
    path = tmp_path / "strips.tif"
    with ClassRasterWriter(path, classes.shape, schema=GLACIER, crs=utm,
                           transform=Affine(10, 0, 0, 0, -10, 0)) as writer:
        assert not path.exists()  # nothing that looks finished before close
        for start in range(0, 50, 16):
            writer.write_rows(start, classes[start:start + 16])
    np.testing.assert_array_equal(read_image(path).data[..., 0], classes)


def test_failed_write_leaves_previous_output_intact(tmp_path):
    path = write_class_raster(tmp_path / "keep.tif", np.ones((5, 5)), schema=GLACIER)
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with ClassRasterWriter(path, (5, 5), schema=GLACIER) as writer:
            writer.write_rows(0, np.full((2, 5), 3))
            raise RuntimeError("killed mid-write")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tif"]


def test_label_shape_mismatch_names_both_files(make_raster, tmp_path):
    image = make_raster((10, 12), name="scene.tif")
    label = write_class_raster(tmp_path / "SCLS_scene.tif", np.ones((10, 11)), schema=GLACIER)
    with pytest.raises(LabelMismatchError,
                       match=r"SCLS_scene.tif is 10x11 pixels but image .*scene.tif is 10x12"):
        read_labels(label, schema=GLACIER, shape=(10, 12), image_path=image)


def test_labels_must_be_integers_in_schema(make_raster, three_classes):
    floats = make_raster((4, 4), bands=1, dtype="float64",
                         data=np.full((4, 4, 1), 1.5), name="SCLS_f.tif")
    with pytest.raises(LabelMismatchError, match="non-integer values"):
        read_labels(floats, schema=GLACIER)
    wide = make_raster((4, 4), bands=1, dtype="uint8", data=np.full((4, 4, 1), 5, np.uint8),
                       name="SCLS_w.tif")
    with pytest.raises(LabelMismatchError,
                       match=r"label ids 5 are not in the class schema 'river'"):
        read_labels(wide, schema=three_classes)
    ok = make_raster((4, 4), bands=1, dtype="float64", data=np.full((4, 4, 1), 3.0),
                     name="SCLS_ok.tif")
    labels = read_labels(ok, schema=three_classes)
    assert labels.dtype == np.uint8 and (labels == 3).all()


def test_common_bands_checks_every_raster(make_raster):
    from csc.rasters import common_bands

    three = raster_info(make_raster((4, 4), bands=3, name="three.tif"))
    four = raster_info(make_raster((4, 4), bands=4, name="four.tif"))
    assert common_bands([four, four], None) == (1, 2, 3, 4)
    assert common_bands([three, four], (3, 1)) == (3, 1)
    with pytest.raises(BandError, match=r"different band counts \(three.tif: 3, four.tif: 4\)"):
        common_bands([three, four], None)
    with pytest.raises(BandError, match=r"three.tif has 3 band\(s\); cannot read band\(s\) \[4\]"):
        common_bands([four, three], (1, 4))


def test_nan_and_inf_are_nodata_in_images_and_unlabelled_in_labels(make_raster):
    data = np.full((4, 5, 2), 0.3, np.float32)
    data[0, 0, 1] = np.nan          # one bad band makes the pixel nodata
    data[1, 1, :] = np.inf
    image = read_image(make_raster((4, 5), bands=2, dtype="float32", data=data, name="f.tif"))
    expected = np.ones((4, 5), bool)
    expected[0, 0] = expected[1, 1] = False
    np.testing.assert_array_equal(image.valid, expected)
    labels = np.full((4, 5, 1), 2.0, np.float64)
    labels[2, :3, 0] = np.nan
    labels[3, 4, 0] = -np.inf
    path = make_raster((4, 5), bands=1, dtype="float64", data=labels, name="SCLS_f.tif")
    read = read_labels(path, schema=GLACIER)
    assert read.dtype == np.uint8 and (read[2, :3] == 0).all() and read[3, 4] == 0
    assert int((read == 2).sum()) == 16
