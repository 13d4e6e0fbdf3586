"""``csc.composite`` and ``csc stack``: separate band files (Sentinel-2 JP2 at 10 and 20 m,
Landsat-style GeoTIFFs) stacked onto the finest grid, cropped to an AOI, errors."""
import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from shapely.geometry import Polygon, box

from csc.cli import cli
from csc.composite import (Grid, band_name, crop_grid, inspect_bands, sentinel2_band,
                           sentinel2_bands, stack_bands, target_grid)
from csc.errors import CompositeError, CscError
from raster_factory import UTM_24N

ORIGIN = (500000.0, 7400000.0)
T10 = Affine(10, 0, ORIGIN[0], 0, -10, ORIGIN[1])
T20 = Affine(20, 0, ORIGIN[0], 0, -20, ORIGIN[1])


def write_band(path, data, *, res, crs=UTM_24N, nodata=None, description=None,
               origin=ORIGIN):
    """One single-band raster: JP2 (lossless) for ``.jp2``, else a GeoTIFF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(data)
    profile = {"width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": data.dtype.name, "crs": crs, "nodata": nodata,
               "transform": Affine(res, 0, origin[0], 0, -res, origin[1])}
    if path.suffix.lower() == ".jp2":
        profile.update(driver="JP2OpenJPEG", QUALITY=100, REVERSIBLE="YES")
    else:
        profile.update(driver="GTiff")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if description:
            dst.set_band_description(1, description)
    return path


def noise(shape, seed):
    return np.random.default_rng(seed).integers(1, 10000, size=shape).astype(np.uint16)


def ramp20():
    """A linear ramp at 20 m: bilinear onto 10 m gives known values inside."""
    rows, cols = np.mgrid[0:20, 0:20]
    return (1000 + 8 * cols + 40 * rows).astype(np.uint16)


def bilinear(data, src_transform, dst_shape, dst_transform, *, nodata=0):
    out = np.zeros(dst_shape, dtype=data.dtype)
    reproject(data, out, src_transform=src_transform, src_crs=UTM_24N, src_nodata=nodata,
              dst_transform=dst_transform, dst_crs=UTM_24N, dst_nodata=nodata,
              resampling=Resampling.bilinear)
    return out


@pytest.fixture
def s2(tmp_path):
    """Sentinel-2 L2A-style band files: B04, B03 at 10 m (40²), B11 at 20 m (20²), JP2."""
    folder = tmp_path / "bands"
    data = {"B04": noise((40, 40), 1), "B03": noise((40, 40), 2), "B11": ramp20()}
    paths = {name: write_band(folder / f"T24WWU_20230801T143751_{name}_{res}m.jp2", data[name],
                              res=res)
             for name, res in (("B04", 10), ("B03", 10), ("B11", 20))}
    return paths, data


def read(path):
    with rasterio.open(path) as src:
        return src.read(), src.profile, src.descriptions, src


# ---------------------------------------------------------------------------------------------
# grid, values, order, descriptions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strip_rows", [7, 1024])
def test_stack_puts_20m_band_on_10m_grid_bilinear(s2, tmp_path, strip_rows):
    paths, data = s2
    out = tmp_path / "out" / "S2_20230801.tif"
    result = stack_bands([paths["B04"], paths["B11"], paths["B03"]], out,
                         strip_rows=strip_rows)
    stacked, profile, descriptions, src = read(out)
    assert (src.crs, src.transform, src.shape) == (UTM_24N, T10, (40, 40))
    assert descriptions == ("B04", "B11", "B03")          # the order given
    assert profile["dtype"] == "uint16" and profile["nodata"] == 0
    assert profile["tiled"] and profile["compress"] == "deflate"
    assert np.array_equal(stacked[0], data["B04"])          # 10 m bands unchanged
    assert np.array_equal(stacked[2], data["B03"])
    assert np.array_equal(stacked[1], bilinear(data["B11"], T20, (40, 40), T10))
    # the ramp 1000 + 8 col + 40 row at 20 m, read at 10 m pixel (10, 10): 20 m coordinates
    # (4.75, 4.75) → 1000 + 38 + 190
    assert stacked[1, 10, 10] == 1228
    assert result.bands == ("B04", "B11", "B03") and result.resampled == ("B11",)
    assert result.resampling == "bilinear" and result.grid.shape == (40, 40)
    assert "bilinear" in result.summary() and "B11" in result.summary()
    assert [p.name for p in out.parent.iterdir()] == [out.name]   # no temporary left


def test_resolution_puts_every_band_on_the_coarser_grid(s2, tmp_path):
    paths, data = s2
    out = stack_bands([paths["B04"], paths["B11"]], tmp_path / "c.tif", resolution=20).path
    stacked, _, _, src = read(out)
    assert (src.transform, src.shape) == (T20, (20, 20))
    assert np.array_equal(stacked[1], data["B11"])          # on the grid: unchanged
    assert np.array_equal(stacked[0], bilinear(data["B04"], T10, (20, 20), T20))


def test_source_nodata_is_kept_or_replaced(tmp_path):
    a = noise((30, 30), 3)
    a[:5, :5] = 65535
    b = noise((30, 30), 4)
    files = [write_band(tmp_path / "red.tif", a, res=10, nodata=65535),
             write_band(tmp_path / "nir.tif", b, res=10, nodata=65535, description="NIR")]
    stacked, profile, descriptions, _ = read(stack_bands(files, tmp_path / "o1.tif").path)
    assert profile["nodata"] == 65535 and descriptions == ("red", "NIR")
    assert np.array_equal(stacked[0], a)
    stacked, profile, _, _ = read(stack_bands(files, tmp_path / "o2.tif", nodata=7).path)
    assert profile["nodata"] == 7
    assert (stacked[0, :5, :5] == 7).all() and np.array_equal(stacked[0, 5:], a[5:])


def test_landsat_collection2_band_files(tmp_path):
    stem = "LC09_L2SP_233017_20230801_20230803_02_T1"
    data = [noise((25, 25), s) for s in range(3)]
    files = [write_band(tmp_path / f"{stem}_SR_B{n}.TIF", d, res=30, nodata=0)
             for n, d in zip((4, 3, 2), data)]
    result = stack_bands(files, tmp_path / "landsat.tif")
    stacked, profile, descriptions, src = read(result.path)
    assert descriptions == ("SR_B4", "SR_B3", "SR_B2") and profile["nodata"] == 0
    assert src.res == (30.0, 30.0) and np.array_equal(stacked, np.stack(data))
    assert result.resampled == ()


@pytest.mark.parametrize("name, expected", [
    ("T33UUP_20230801T101031_B04_10m.jp2", "B04"),
    ("T33UUP_20230801T101031_B8A_20m.jp2", "B8A"),
    ("T33UUP_20230801T101031_B11.jp2", "B11"),
    ("LC08_L2SP_233017_20230801_20230803_02_T1_SR_B5.TIF", "SR_B5"),
    ("LC08_L2SP_233017_20230801_20230803_02_T1_ST_B10.TIF", "ST_B10"),
    ("b4.tif", "B4"),
    ("red_band.tif", "red_band"),
])
def test_band_name_from_file_name(name, expected):
    assert band_name(name) == expected
    assert band_name(name, "own description") == "own description"


# ---------------------------------------------------------------------------------------------
# AOI
# ---------------------------------------------------------------------------------------------
def test_aoi_in_wgs84_crops_snapped_and_masks_outside(s2, tmp_path):
    paths, data = s2
    # a triangle in UTM, offsets (dx, dy) from the upper-left corner: dx ≥ 53, dy ≥ 53,
    # dx + dy ≤ 371 (no pixel centre lies on an edge); saved in EPSG:4326
    x0, y0 = ORIGIN
    triangle = Polygon([(x0 + 53, y0 - 53), (x0 + 318, y0 - 53), (x0 + 53, y0 - 318)])
    aoi = tmp_path / "aoi.gpkg"
    gpd.GeoDataFrame(geometry=[triangle], crs=UTM_24N).to_crs(4326).to_file(aoi)
    result = stack_bands([paths["B04"], paths["B11"]], tmp_path / "aoi.tif", aoi=aoi,
                         strip_rows=5)
    stacked, profile, _, src = read(result.path)
    # bounding box 53..318 m → pixels 5..32 (snapped outwards to the 10 m grid)
    assert src.shape == (27, 27)
    assert src.transform == Affine(10, 0, x0 + 50, 0, -10, y0 - 50)
    rows, cols = np.mgrid[5:32, 5:32]
    dx, dy = 10 * cols + 5, 10 * rows + 5                     # pixel centres
    inside = (dx >= 53) & (dy >= 53) & (dx + dy <= 371)
    full11 = bilinear(data["B11"], T20, (40, 40), T10)
    assert np.array_equal(stacked[0], np.where(inside, data["B04"][5:32, 5:32], 0))
    assert np.array_equal(stacked[1], np.where(inside, full11[5:32, 5:32], 0))
    assert result.outside_pixels == int((~inside).sum()) and profile["nodata"] == 0


def test_crop_grid_snaps_outwards_and_clips_to_the_grid():
    grid = Grid(UTM_24N, T10, 40, 40)
    cropped, window = crop_grid(grid, box(ORIGIN[0] - 100, ORIGIN[1] - 95, ORIGIN[0] + 21,
                                          ORIGIN[1] + 50))
    assert (window.col_off, window.row_off, window.width, window.height) == (0, 0, 3, 10)
    assert cropped.transform == T10


def test_aoi_outside_the_bands(s2, tmp_path):
    paths, _ = s2
    aoi = tmp_path / "far.geojson"
    far = box(ORIGIN[0] + 5000, ORIGIN[1] - 5000, ORIGIN[0] + 6000, ORIGIN[1] - 4000)
    gpd.GeoDataFrame(geometry=[far], crs=UTM_24N).to_crs(4326).to_file(aoi)
    with pytest.raises(CompositeError, match=r"far.geojson lies outside the bands"):
        stack_bands([paths["B04"]], tmp_path / "x.tif", aoi=aoi)
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_aoi_without_crs(s2, tmp_path):
    paths, _ = s2
    aoi = tmp_path / "nocrs.shp"
    gpd.GeoDataFrame(geometry=[box(ORIGIN[0], ORIGIN[1] - 100, ORIGIN[0] + 100, ORIGIN[1])]
                     ).to_file(aoi)
    with pytest.raises(CompositeError, match=r"nocrs.shp has no CRS; set the layer's CRS"):
        stack_bands([paths["B04"]], tmp_path / "x.tif", aoi=aoi)


def test_aoi_missing_or_without_polygon(s2, tmp_path):
    paths, _ = s2
    with pytest.raises(CompositeError, match=r"AOI .*nope.gpkg does not exist"):
        stack_bands([paths["B04"]], tmp_path / "x.tif", aoi=tmp_path / "nope.gpkg")
    points = tmp_path / "points.gpkg"
    gpd.GeoDataFrame(geometry=gpd.points_from_xy([ORIGIN[0] + 50], [ORIGIN[1] - 50]),
                     crs=UTM_24N).to_file(points)
    with pytest.raises(CompositeError, match=r"points.gpkg holds no polygon"):
        stack_bands([paths["B04"]], tmp_path / "x.tif", aoi=points)


# ---------------------------------------------------------------------------------------------
# Sentinel-2 .SAFE folders
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def safe(tmp_path):
    """A fake L2A .SAFE layout: R10m (B02, B03, B04, B08), R20m (B04 again, B8A, B11), R60m."""
    root = tmp_path / "S2A_MSIL2A_20230801T143751_N0509_R096_T24WWU_20230801T200000.SAFE"
    img = root / "GRANULE" / "L2A_T24WWU_A042345_20230801T143751" / "IMG_DATA"
    prefix = "T24WWU_20230801T143751"
    for i, name in enumerate(("B02", "B03", "B04", "B08")):
        write_band(img / "R10m" / f"{prefix}_{name}_10m.jp2", noise((40, 40), 10 + i), res=10)
    for i, name in enumerate(("B04", "B8A", "B11")):
        write_band(img / "R20m" / f"{prefix}_{name}_20m.jp2", noise((20, 20), 20 + i), res=20)
    write_band(img / "R60m" / f"{prefix}_B01_60m.jp2", noise((7, 7), 30), res=60)
    return root


def test_sentinel2_finds_each_band_at_its_finest_resolution(safe):
    found = sentinel2_bands(safe, bands=("B04", "b11", "8a", "B1"))
    assert [(p.parent.name, band_name(p)) for p in found] == [
        ("R10m", "B04"), ("R20m", "B11"), ("R20m", "B8A"), ("R60m", "B01")]
    assert [band_name(p) for p in sentinel2_bands(safe)] == ["B04", "B03", "B02", "B08"]


def test_sentinel2_missing_band_and_bad_names(safe, tmp_path):
    with pytest.raises(CompositeError, match=r"band B12 is not in .*IMG_DATA; available: "
                                             r"B01, B02, B03, B04, B08, B11, B8A"):
        sentinel2_bands(safe, bands=("B04", "B12"))
    with pytest.raises(CompositeError, match=r"'B13' is not a Sentinel-2 band"):
        sentinel2_band("B13")
    with pytest.raises(CompositeError, match=r"has no GRANULE/\*/IMG_DATA"):
        sentinel2_bands(tmp_path)


def test_cli_stacks_a_safe_folder(safe, tmp_path):
    out = tmp_path / "S2.tif"
    run = CliRunner().invoke(cli, ["stack", str(out), "--sentinel2", str(safe),
                                   "--bands", "B04,B11,B08"])
    assert run.exit_code == 0, run.output
    stacked, _, descriptions, src = read(out)
    assert descriptions == ("B04", "B11", "B08") and src.transform == T10
    assert src.shape == (40, 40) and stacked.shape == (3, 40, 40)
    assert "bilinear" in run.output and "B11" in run.output


# ---------------------------------------------------------------------------------------------
# the CLI and the errors
# ---------------------------------------------------------------------------------------------
def test_cli_stacks_band_files_with_aoi(s2, tmp_path):
    paths, data = s2
    aoi = tmp_path / "aoi.geojson"
    gpd.GeoDataFrame(geometry=[box(ORIGIN[0] + 100, ORIGIN[1] - 200, ORIGIN[0] + 300,
                                   ORIGIN[1] - 100)], crs=UTM_24N).to_crs(4326).to_file(aoi)
    out = tmp_path / "c.tif"
    run = CliRunner().invoke(cli, ["stack", str(out), str(paths["B04"]), str(paths["B11"]),
                                   "--aoi", str(aoi), "--nodata", "1"])
    assert run.exit_code == 0, run.output
    stacked, profile, _, src = read(out)
    assert src.shape == (10, 20) and profile["nodata"] == 1
    assert np.array_equal(stacked[0], data["B04"][10:20, 10:30])
    assert "cropped to the bounding box" in run.output


@pytest.mark.parametrize("args, message", [
    ([], "give the band files to stack"),
    (["--bands", "B04"], "--bands only selects bands of --sentinel2"),
])
def test_cli_usage_errors(s2, tmp_path, args, message):
    paths, _ = s2
    files = [str(paths["B04"])] if args else []
    run = CliRunner().invoke(cli, ["stack", str(tmp_path / "o.tif"), *files, *args])
    assert run.exit_code == 2 and message in run.output


def test_different_crs_is_an_error_naming_both(s2, tmp_path):
    paths, _ = s2
    other = write_band(tmp_path / "B08_utm23.tif", noise((40, 40), 5), res=10,
                       crs=CRS.from_epsg(32623))
    with pytest.raises(CompositeError, match=r"different CRSs: .*_B04_10m.jp2 is in EPSG:32624, "
                                             r".*B08_utm23.tif is in EPSG:32623"):
        stack_bands([paths["B04"], other], tmp_path / "x.tif")
    run = CliRunner().invoke(cli, ["stack", str(tmp_path / "x.tif"), str(paths["B04"]),
                                   str(other)])
    assert run.exit_code == 2
    assert run.output.count("\n") == 1 and run.output.startswith("csc: error: bands are in")
    assert not (tmp_path / "x.tif").exists()


def test_mixed_dtypes_is_an_error(s2, tmp_path):
    paths, _ = s2
    byte = write_band(tmp_path / "scl.tif", np.ones((20, 20), np.uint8), res=20)
    with pytest.raises(CompositeError, match=r"different data types \(.*jp2: uint16, "
                                             r"scl.tif: uint8\)"):
        stack_bands([paths["B04"], byte], tmp_path / "x.tif")


def test_missing_band_file_is_an_error(s2, tmp_path):
    paths, _ = s2
    with pytest.raises(CompositeError, match=r"band file .*B05_20m.jp2 does not exist"):
        stack_bands([paths["B04"], tmp_path / "B05_20m.jp2"], tmp_path / "x.tif")
    run = CliRunner().invoke(cli, ["stack", str(tmp_path / "x.tif"), str(paths["B04"]),
                                   str(tmp_path / "B05_20m.jp2")])
    assert run.exit_code == 2 and "csc: error: band file" in run.output


def test_other_band_errors(s2, tmp_path):
    paths, _ = s2
    with rasterio.open(tmp_path / "two.tif", "w", driver="GTiff", width=4, height=4, count=2,
                       dtype="uint16", crs=UTM_24N, transform=T10) as dst:
        dst.write(np.ones((2, 4, 4), np.uint16))
    with pytest.raises(CompositeError, match=r"two.tif has 2 bands; give one file per band"):
        inspect_bands([tmp_path / "two.tif"])
    plain = write_band(tmp_path / "plain.tif", noise((4, 4), 0), res=10, crs=None)
    with pytest.raises(CompositeError, match=r"plain.tif has no CRS"):
        inspect_bands([plain])
    with pytest.raises(CompositeError, match=r"--nodata -1 does not fit .* uint16"):
        stack_bands([paths["B04"]], tmp_path / "x.tif", nodata=-1)
    far = write_band(tmp_path / "far_B08.tif", noise((40, 40), 6), res=10,
                     origin=(ORIGIN[0] + 100000, ORIGIN[1]))
    with pytest.raises(CompositeError, match=r"far_B08.tif does not overlap"):
        stack_bands([paths["B04"], far], tmp_path / "x.tif")
    with pytest.raises(CompositeError, match=r"no band files given"):
        stack_bands([], tmp_path / "x.tif")
    geographic = inspect_bands([write_band(tmp_path / "ll.tif", noise((4, 4), 0), res=0.001,
                                           crs=CRS.from_epsg(4326), origin=(10, 60))])
    with pytest.raises(CompositeError, match=r"--resolution is in metres .* EPSG:4326"):
        target_grid(geographic, resolution=10)
    assert issubclass(CompositeError, CscError) and issubclass(CompositeError, ValueError)
