"""The class map of a scene run as a Cloud-Optimized GeoTIFF with named categories."""
import ctypes
import glob
import os
import types

import numpy as np
import pytest
import rasterio
from affine import Affine

from csc.classes import GLACIER, ClassInfo, ClassSchema
from csc.pipeline import write_class_map
from csc.rasters import (ClassRasterWriter, RasterInfo, category_names, pam_path, raster_info,
                         read_category_names, read_labels)

TRANSFORM = Affine(10, 0, 600000, 0, -10, 7500000)
GLACIER_NAMES = ["unlabelled", "open water", "iceberg water", "melange", "glacier ice",
                 "snow on ice", "snow on rock", "rock", "calving front"]


def blocky(shape, seed=0):
    """Irregular class blocks 0..7 (0 = nodata) at every scale, so overviews have content."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 8, (shape[0] // 37 + 1, shape[1] // 41 + 1))
    return np.repeat(np.repeat(coarse, 37, 0), 41, 1)[:shape[0], :shape[1]].astype(np.uint8)


def write_cog(path, classes, *, crs=None, transform=None, strip=100, schema=GLACIER):
    with ClassRasterWriter(path, classes.shape, schema=schema, crs=crs, transform=transform,
                           cog=True) as writer:
        assert not path.exists()                      # nothing that looks finished before close
        for r0 in range(0, classes.shape[0], strip):
            writer.write_rows(r0, classes[r0:r0 + strip])
    return path


def gdal_category_names(path):
    """Band 1's category names as GDAL itself reads them (``GDALGetRasterCategoryNames`` of
    rasterio's own GDAL), or skip when that library cannot be located."""
    base = os.path.dirname(os.path.dirname(rasterio.__file__))
    found = sorted(glob.glob(os.path.join(base, "rasterio.libs", "libgdal*"))
                   + glob.glob(os.path.join(os.path.dirname(rasterio.__file__), ".dylibs",
                                            "libgdal*")))
    if not found:
        pytest.skip("rasterio's GDAL library was not found to ask it for category names")
    lib = ctypes.CDLL(found[0])
    lib.GDALOpen.restype = ctypes.c_void_p
    lib.GDALOpen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.GDALGetRasterBand.restype = ctypes.c_void_p
    lib.GDALGetRasterBand.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.GDALGetRasterCategoryNames.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.GDALGetRasterCategoryNames.argtypes = [ctypes.c_void_p]
    lib.GDALGetGeoTransform.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_double * 6)]
    lib.GDALClose.argtypes = [ctypes.c_void_p]
    lib.GDALAllRegister()
    dataset = lib.GDALOpen(str(path).encode(), 0)
    assert dataset, f"GDAL cannot open {path}"
    try:
        # GTiff loads its PAM sidecar lazily, on the first georeferencing or metadata query
        # (GetCategoryNames alone does not trigger it); QGIS's provider asks for the
        # geotransform when it opens a layer, before it reads the colour table's labels
        lib.GDALGetGeoTransform(dataset, ctypes.byref((ctypes.c_double * 6)()))
        names = lib.GDALGetRasterCategoryNames(lib.GDALGetRasterBand(dataset, 1))
        out = []
        while names and names[len(out)] is not None:
            out.append(names[len(out)].decode("utf-8"))
        return out
    finally:
        lib.GDALClose(dataset)


@pytest.fixture(scope="module")
def cog(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cog")
    classes = blocky((1300, 1100))
    path = write_cog(folder / "map.tif", classes, crs="EPSG:32624", transform=TRANSFORM)
    return types.SimpleNamespace(path=path, classes=classes, folder=folder)


def test_cog_layout_tiles_and_overviews(cog):
    with rasterio.open(cog.path) as src:
        assert src.driver == "GTiff"
        structure = src.tags(ns="IMAGE_STRUCTURE")
        assert structure["LAYOUT"] == "COG" and structure["COMPRESSION"] == "DEFLATE"
        assert src.block_shapes == [(512, 512)]
        assert src.overviews(1) == [2, 4]              # halved until a side fits one tile
        assert src.dtypes[0] == "uint8" and src.nodata == 0
        np.testing.assert_array_equal(src.read(1), cog.classes)


def test_cog_keeps_grid_and_colour_table(cog):
    with rasterio.open(cog.path) as src:
        assert src.crs == rasterio.crs.CRS.from_epsg(32624) and src.transform == TRANSFORM
        cmap = src.colormap(1)
    assert cmap[4][:3] == GLACIER.classes[3].rgb
    assert cmap[8][:3] == (0xe3, 0x1a, 0x1c)           # calving front
    assert cmap[0][3] == 0                             # nodata transparent


def test_category_names_in_the_pam_sidecar(cog):
    assert sorted(p.name for p in cog.folder.iterdir()) == ["map.tif", "map.tif.aux.xml"]
    assert read_category_names(cog.path) == GLACIER_NAMES
    assert gdal_category_names(cog.path) == GLACIER_NAMES    # what QGIS labels entries with


def test_overviews_hold_classes_not_averages(tmp_path):
    # columns alternating 1, 3: an averaging overview would invent class 2
    classes = np.where(np.arange(1024) % 2 == 0, 1, 3).astype(np.uint8)
    classes = np.broadcast_to(classes, (1024, 1024)).copy()
    classes[:, 512:] = 7
    path = write_cog(tmp_path / "stripes.tif", classes, crs="EPSG:32624", transform=TRANSFORM,
                     strip=300)
    with rasterio.open(path) as src:
        assert src.overviews(1) == [2]
        overview = src.read(1, out_shape=(512, 512))
    assert set(np.unique(overview[:, :256])) <= {1, 3}
    assert (overview[:, 256:] == 7).all()


@pytest.mark.parametrize("shape", [(64, 96), (5, 5)])
def test_small_map_without_georeferencing(tmp_path, shape):
    classes = blocky(shape, seed=1)
    path = write_cog(tmp_path / "plain.tif", classes, strip=16)
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.crs is None and src.overviews(1) == []
        assert src.block_shapes == [(512, 512)]
        np.testing.assert_array_equal(src.read(1), classes)
    assert not raster_info(path).georeferenced
    np.testing.assert_array_equal(read_labels(path, schema=GLACIER), classes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.tif", "plain.tif.aux.xml"]


def test_scene_class_map_reads_back_as_labels(tmp_path, utm):
    """The pipeline's writer: a COG on the image's grid that the front step (``read_labels``,
    ``raster_info``) reads like any class raster."""
    classes = blocky((600, 520), seed=2)
    info = RasterInfo(path=tmp_path / "s.tif", height=600, width=520, count=4, dtype="uint16",
                      crs=utm, transform=TRANSFORM, nodata=None)
    path = write_class_map(tmp_path / "s_classified.tif", classes, schema=GLACIER, info=info,
                           strip_rows=128)
    read = raster_info(path)
    assert read.shape == (600, 520) and read.crs == utm and read.transform == TRANSFORM
    np.testing.assert_array_equal(read_labels(path, schema=GLACIER, shape=(600, 520)), classes)
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert read_category_names(path) == GLACIER_NAMES


def test_failed_cog_write_leaves_previous_output_and_no_temporaries(tmp_path):
    classes = blocky((40, 30))
    path = write_cog(tmp_path / "keep.tif", classes, strip=16)
    before = path.read_bytes(), pam_path(path).read_bytes()
    with pytest.raises(RuntimeError, match="killed"):
        with ClassRasterWriter(path, (40, 30), schema=GLACIER, cog=True) as writer:
            writer.write_rows(0, np.full((2, 30), 3))
            raise RuntimeError("killed mid-write")
    assert (path.read_bytes(), pam_path(path).read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tif", "keep.tif.aux.xml"]


def test_category_names_of_a_schema_with_gaps():
    schema = ClassSchema(classes=(ClassInfo(1, "water", "#1f78b4"),
                                  ClassInfo(3, "ice", "#a6cee3")),
                         front=ClassInfo(6, "front", "#e31a1c", "front"), name="gappy")
    assert category_names(schema) == ["unlabelled", "water", "", "ice", "", "", "front"]


def test_raster_without_sidecar_has_no_category_names(tmp_path):
    from csc.rasters import write_class_raster

    path = write_class_raster(tmp_path / "plain.tif", np.ones((4, 4)), schema=GLACIER)
    assert read_category_names(path) is None
