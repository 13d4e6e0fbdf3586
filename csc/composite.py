"""Multi-band composites from separate band files: Sentinel-2 L2A ``.jp2`` bands (10, 20, 60 m)
or Landsat Collection 2 ``*_SR_B*.TIF`` files, stacked in a given order onto one grid.

The grid is the finest band's (or the same extent at ``resolution`` metres); every other band
is resampled onto it with **bilinear** resampling (reflectance is continuous), a band already
on the grid is copied unchanged. An AOI polygon (any vector format, any CRS) crops the grid to
its bounding box, snapped outwards to whole pixels of the grid so pixels stay aligned, and
pixels whose centre lies outside the polygon become nodata. The composite is written strip by
strip (``strip_rows`` rows of every band at a time, in the bands' own dtype), so memory is
bounded by a strip, not by the scene, and atomically (a temporary file beside the target,
renamed when complete).
"""
import contextlib
import dataclasses
import logging
import math
import os
import re
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.features import geometry_mask
from rasterio.warp import reproject
from rasterio.windows import Window
from shapely.geometry import box

from csc.errors import CompositeError
from csc.files import atomic_path

log = logging.getLogger(__name__)

#: Resampling of every band that is not already on the composite's grid.
RESAMPLING = Resampling.bilinear
#: The Sentinel-2 bands of the paper, in its order (red, green, blue, near infrared).
SENTINEL2_BANDS = ("B04", "B03", "B02", "B08")
#: Sentinel-2 L2A resolutions (the ``R<res>m`` folders), finest first.
SENTINEL2_RESOLUTIONS = (10, 20, 60)
#: Output rows processed at a time (a multiple of the output tile size).
STRIP_ROWS = 1024
#: GDAL's block cache while stacking (MB), unless GDAL_CACHEMAX is set in the environment.
GDAL_CACHE_MB = 256
_TILE = 256
_EPS = 1e-6  # of a pixel: bounds within this of a pixel edge count as on it
# B04, B8A, B11 (Sentinel-2; L2A names end in _10m/_20m/_60m); SR_B4, ST_B10 (Landsat C2)
_BAND_IN_NAME = re.compile(r"(?:^|_)((?:SR_|ST_)?B\d{1,2}A?)(?:_\d+m)?$", re.IGNORECASE)
_S2_BAND = re.compile(r"^B?0?(\d{1,2})(A?)$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class BandFile:
    """One single-band raster to stack: where it is, what it is called, its grid."""

    path: Path
    name: str
    crs: object
    transform: object
    height: int
    width: int
    dtype: str
    nodata: object

    @property
    def grid(self):
        return Grid(self.crs, self.transform, self.height, self.width)

    @property
    def resolution(self):
        return self.grid.resolution

    @property
    def bounds(self):
        """(left, bottom, right, top)."""
        return self.grid.bounds


@dataclasses.dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: CRS, affine transform and size."""

    crs: object
    transform: object
    height: int
    width: int

    @property
    def shape(self):
        return self.height, self.width

    @property
    def resolution(self):
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self):
        """(left, bottom, right, top)."""
        return rasterio.transform.array_bounds(self.height, self.width, self.transform)

    def window(self, window):
        """The grid of ``window`` (a ``Window`` of whole pixels) of this grid."""
        offset = rasterio.Affine.translation(int(window.col_off), int(window.row_off))
        return Grid(self.crs, self.transform @ offset, int(window.height), int(window.width))


@dataclasses.dataclass(frozen=True)
class Composite:
    """What ``stack_bands`` wrote."""

    path: Path
    bands: tuple       # band names (descriptions), in output order
    sources: tuple     # band file paths, in output order
    grid: Grid
    dtype: str
    nodata: object
    resampled: tuple   # names of the bands resampled onto the grid (the others were copied)
    resampling: str
    aoi: Path = None
    outside_pixels: int = 0  # pixels of the cropped grid outside the AOI polygon
    seconds: float = 0.0

    def summary(self):
        res_x, res_y = self.grid.resolution
        left, _, _, top = self.grid.bounds
        lines = [(f"wrote {self.path}: {len(self.bands)} band(s) {', '.join(self.bands)} "
                  f"({self.dtype}, nodata {_show(self.nodata)})"),
                 (f"grid: {_crs_name(self.grid.crs)}, {res_x:g} x {res_y:g} m pixels, "
                  f"{self.grid.height} x {self.grid.width} (rows x cols), "
                  f"upper-left corner {left:.2f}, {top:.2f}")]
        if self.resampled:
            lines.append(f"resampling: {self.resampling} onto the grid for "
                         f"{', '.join(self.resampled)}; the other bands copied unchanged")
        else:
            lines.append("resampling: none (every band already on the grid)")
        if self.aoi is not None:
            lines.append(f"cropped to the bounding box of {self.aoi}; {self.outside_pixels} "
                         "pixel(s) outside the polygon set to nodata")
        lines.append(f"{self.seconds:.1f} s")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# band files
# ---------------------------------------------------------------------------------------------
def band_name(path, description=None):
    """A band's name: its own ``description`` when it has one, else the band named in the file
    name (``B04`` in ``T33UUP_20230801T101031_B04_10m.jp2``, ``SR_B4`` in a Landsat
    ``…_SR_B4.TIF``), else the file name without its extension."""
    if description:
        return str(description)
    stem = Path(path).name.split(".")[0]
    match = _BAND_IN_NAME.search(stem)
    return match.group(1).upper() if match else stem


def inspect_bands(paths):
    """``BandFile`` for every path (headers only): each must exist, be a readable single-band
    raster with a CRS; ``CompositeError`` naming the file otherwise."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise CompositeError("no band files given; list the band files (or give --sentinel2 "
                             "SAFE_DIR)")
    return [_inspect(path) for path in paths]


def _inspect(path):
    if not path.exists():
        raise CompositeError(f"band file {path} does not exist; check the path")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                if src.count != 1:
                    raise CompositeError(f"band file {path} has {src.count} bands; give one "
                                         "file per band (split it with gdal_translate -b N)")
                if src.crs is None:
                    raise CompositeError(f"band file {path} has no CRS; georeference it "
                                         "(gdal_edit.py -a_srs EPSG:…) before stacking")
                t = src.transform
                if t.b or t.d:
                    raise CompositeError(f"band file {path} is on a rotated grid; warp it "
                                         "north-up first (gdalwarp)")
                return BandFile(path=path, name=band_name(path, src.descriptions[0]),
                                crs=src.crs, transform=t, height=src.height, width=src.width,
                                dtype=src.dtypes[0], nodata=src.nodata)
    except RasterioIOError as exc:
        raise CompositeError(f"band file {path} is not a readable raster ({exc})") from exc


def _check_common(bands):
    """All bands in one CRS and one dtype."""
    first = bands[0]
    for band in bands[1:]:
        if band.crs != first.crs:
            raise CompositeError(
                f"bands are in different CRSs: {first.path} is in {_crs_name(first.crs)}, "
                f"{band.path} is in {_crs_name(band.crs)}; reproject one of them "
                f"(gdalwarp -t_srs {_crs_name(first.crs)}) or use bands of one tile")
    dtypes = {}
    for band in bands:
        dtypes.setdefault(band.dtype, band.path)
    if len(dtypes) > 1:
        shown = ", ".join(f"{path.name}: {dtype}" for dtype, path in dtypes.items())
        raise CompositeError(f"bands have different data types ({shown}); a composite has one "
                             "type: convert the odd band (gdal_translate -ot …)")
    return first.crs, first.dtype


# ---------------------------------------------------------------------------------------------
# Sentinel-2 .SAFE folders
# ---------------------------------------------------------------------------------------------
def sentinel2_band(name):
    """A Sentinel-2 band name normalised: ``4`` / ``b4`` / ``B04`` → ``B04``, ``8a`` → ``B8A``."""
    match = _S2_BAND.match(str(name).strip())
    number = int(match.group(1)) if match else 0
    if not match or not 1 <= number <= 12 or (match.group(2) and number != 8):
        raise CompositeError(f"{name!r} is not a Sentinel-2 band; use B01 … B12 or B8A "
                             "(e.g. --bands B04,B03,B02,B08)")
    return "B8A" if match.group(2) else f"B{number:02d}"


def sentinel2_bands(safe_dir, *, bands=SENTINEL2_BANDS):
    """The band files of ``bands`` in a Sentinel-2 ``.SAFE`` folder, in that order: for each
    band the finest resolution available (L2A ``GRANULE/*/IMG_DATA/R10m/*_B04_10m.jp2``, then
    ``R20m``, ``R60m``; L1C ``IMG_DATA/*_B04.jp2``)."""
    safe = Path(safe_dir)
    if not safe.is_dir():
        raise CompositeError(f"Sentinel-2 folder {safe} does not exist; give the unzipped "
                             ".SAFE folder")
    granules = sorted(p for p in safe.glob("GRANULE/*/IMG_DATA") if p.is_dir())
    if not granules:
        raise CompositeError(f"{safe} has no GRANULE/*/IMG_DATA folder; give the unzipped "
                             "Sentinel-2 .SAFE folder")
    if len(granules) > 1:
        raise CompositeError(f"{safe} holds {len(granules)} granules "
                             f"({', '.join(g.parent.name for g in granules)}); stack each "
                             "granule's band files on their own")
    img = granules[0]
    found = []
    for band in (sentinel2_band(b) for b in bands):
        candidates = [sorted((img / f"R{res}m").glob(f"*_{band}_{res}m.jp2"))
                      for res in SENTINEL2_RESOLUTIONS]
        candidates.append(sorted(img.glob(f"*_{band}.jp2")))  # L1C: one folder
        hits = next((c for c in candidates if c), None)
        if hits is None:
            available = sorted({band_name(p) for p in img.rglob("*.jp2")
                                if _S2_BAND.match(band_name(p))})
            raise CompositeError(f"band {band} is not in {img}; available: "
                                 f"{', '.join(available) or 'none'}")
        found.append(hits[0])
    return tuple(found)


# ---------------------------------------------------------------------------------------------
# the grid and the AOI
# ---------------------------------------------------------------------------------------------
def target_grid(bands, *, resolution=None):
    """The finest band's grid (the first of the finest when several share it); with
    ``resolution`` (metres) the same upper-left corner and extent at that pixel size."""
    reference = min(bands, key=lambda b: b.resolution[0] * b.resolution[1])
    if resolution is None:
        return Grid(reference.crs, reference.transform, reference.height, reference.width)
    resolution = float(resolution)
    if not resolution > 0 or not math.isfinite(resolution):
        raise CompositeError(f"--resolution must be a positive number of metres, got "
                             f"{resolution:g}")
    if not reference.crs.is_projected:
        raise CompositeError(f"--resolution is in metres but the bands are in "
                             f"{_crs_name(reference.crs)}, which is not projected; leave "
                             "--resolution out or warp the bands to a UTM CRS")
    t = reference.transform
    width = max(1, math.ceil(reference.width * abs(t.a) / resolution - _EPS))
    height = max(1, math.ceil(reference.height * abs(t.e) / resolution - _EPS))
    transform = rasterio.Affine(math.copysign(resolution, t.a), 0, t.c,
                                0, math.copysign(resolution, t.e), t.f)
    return Grid(reference.crs, transform, height, width)


def read_aoi(path, *, crs):
    """The AOI polygon(s) of a vector file (any format geopandas reads), reprojected to ``crs``
    and merged into one (multi)polygon."""
    path = Path(path)
    if not path.exists():
        raise CompositeError(f"AOI {path} does not exist; check the path")
    try:
        frame = gpd.read_file(path)
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        raise CompositeError(f"AOI {path} is not a readable vector file ({exc})") from exc
    if frame.crs is None:
        raise CompositeError(f"AOI {path} has no CRS; set the layer's CRS (in QGIS: Layer "
                             "Properties > Source) and save it again")
    geoms = [shapely.make_valid(g) for g in frame.to_crs(crs).geometry if g is not None]
    geometry = shapely.union_all(geoms) if geoms else None
    if geometry is None or geometry.is_empty or geometry.area == 0:
        raise CompositeError(f"AOI {path} holds no polygon; draw the area of interest as a "
                             "polygon layer")
    return geometry


def crop_grid(grid, geometry, *, name="AOI"):
    """The part of ``grid`` covering the bounding box of ``geometry`` (in the grid's CRS),
    snapped outwards to whole pixels of ``grid``: (cropped grid, window)."""
    grid_box = box(*grid.bounds)
    if not geometry.intersection(grid_box).area > 0:
        left, bottom, right, top = geometry.bounds
        g_left, g_bottom, g_right, g_top = grid.bounds
        raise CompositeError(
            f"{name} lies outside the bands: its bounds ({left:.0f}, {bottom:.0f}, {right:.0f}, "
            f"{top:.0f}) do not overlap theirs ({g_left:.0f}, {g_bottom:.0f}, {g_right:.0f}, "
            f"{g_top:.0f}) in {_crs_name(grid.crs)}; draw the AOI on the scene")
    left, bottom, right, top = geometry.bounds
    t = grid.transform  # north-up: columns from x, rows from y
    cols = sorted(((left - t.c) / t.a, (right - t.c) / t.a))
    rows = sorted(((top - t.f) / t.e, (bottom - t.f) / t.e))
    col0 = max(0, math.floor(cols[0] + _EPS))
    col1 = min(grid.width, math.ceil(cols[1] - _EPS))
    row0 = max(0, math.floor(rows[0] + _EPS))
    row1 = min(grid.height, math.ceil(rows[1] - _EPS))
    window = Window(col0, row0, col1 - col0, row1 - row0)
    return grid.window(window), window


# ---------------------------------------------------------------------------------------------
# stacking
# ---------------------------------------------------------------------------------------------
def composite_nodata(nodata, bands, dtype):
    """The composite's nodata: ``nodata`` when given (checked against ``dtype``), else the first
    band's own nodata, else 0 for unsigned integers, the type's minimum for signed ones and NaN
    for floats."""
    dtype = np.dtype(dtype)
    if nodata is None:
        nodata = next((b.nodata for b in bands if b.nodata is not None), None)
        if nodata is None:
            if dtype.kind == "u":
                return 0
            return int(np.iinfo(dtype).min) if dtype.kind == "i" else float("nan")
    if dtype.kind in "iu":
        value = float(nodata)
        info = np.iinfo(dtype)
        if not value.is_integer() or not info.min <= value <= info.max:
            raise CompositeError(f"--nodata {_show(nodata)} does not fit the bands' type "
                                 f"{dtype.name} (whole numbers {info.min} … {info.max}); "
                                 "choose another value")
        return int(value)
    return float(nodata)


def stack_bands(band_paths, out_path, *, aoi=None, resolution=None, nodata=None,
                strip_rows=STRIP_ROWS):
    """Stack single-band rasters ``band_paths`` (in that order) into the multi-band GeoTIFF
    ``out_path`` and return a ``Composite``.

    The grid is the finest band's, or its extent at ``resolution`` metres; bands off that grid
    are resampled bilinearly, bands on it copied unchanged. ``aoi`` (a vector file in any CRS)
    crops the grid to the polygon's bounding box snapped to whole pixels and sets pixels whose
    centre is outside the polygon to ``nodata`` (default: see ``composite_nodata``). Band
    descriptions are the band names (``band_name``). Written tiled, deflate-compressed, in the
    bands' dtype, ``strip_rows`` output rows at a time, atomically."""
    start = time.perf_counter()
    strip_rows = int(strip_rows)
    if strip_rows < 1:
        raise CompositeError(f"strip_rows must be at least 1, got {strip_rows}")
    bands = inspect_bands(band_paths)
    crs, dtype = _check_common(bands)
    grid = target_grid(bands, resolution=resolution)
    geometry = None
    if aoi is not None:
        geometry = read_aoi(aoi, crs=crs)
        grid, _ = crop_grid(grid, geometry, name=f"AOI {aoi}")
    for band in bands:
        if not box(*band.bounds).intersection(box(*grid.bounds)).area > 0:
            raise CompositeError(f"band file {band.path} does not overlap the composite's "
                                 "area (another tile or scene?); use bands of one scene")
    nodata = composite_nodata(nodata, bands, dtype)
    plans = [_on_grid(band, grid) for band in bands]
    resampled = tuple(b.name for b, offset in zip(bands, plans) if offset is None)
    log.info("stacking %d band(s) onto a %d x %d grid (%s resampling for %s)", len(bands),
             grid.height, grid.width, RESAMPLING.name, ", ".join(resampled) or "none")
    outside = 0
    out_path = Path(out_path)
    with _gdal_env(), contextlib.ExitStack() as stack, atomic_path(out_path) as tmp:
        sources = [stack.enter_context(rasterio.open(b.path)) for b in bands]
        with rasterio.open(tmp, "w", **_profile(grid, len(bands), dtype, nodata)) as dst:
            dst.update_tags(resampling=RESAMPLING.name,
                            **({"aoi": Path(aoi).name} if aoi is not None else {}))
            for index, band in enumerate(bands, start=1):
                dst.set_band_description(index, band.name)
                dst.update_tags(index, source=band.path.name)
            for row0 in range(0, grid.height, strip_rows):
                window = Window(0, row0, grid.width, min(strip_rows, grid.height - row0))
                strip = grid.window(window)
                block = np.empty((len(bands),) + strip.shape, dtype=dtype)
                for k, (band, src, offset) in enumerate(zip(bands, sources, plans)):
                    if offset is None:
                        _resample(src, band, block[k], strip, nodata)
                    else:
                        _copy(src, band, block[k], offset, window, nodata)
                if geometry is not None:
                    mask = geometry_mask([geometry], out_shape=strip.shape,
                                         transform=strip.transform)
                    block[:, mask] = nodata
                    outside += int(mask.sum())
                dst.write(block, window=window)
    seconds = time.perf_counter() - start
    log.info("wrote %s in %.1f s", out_path, seconds)
    return Composite(path=out_path, bands=tuple(b.name for b in bands),
                     sources=tuple(b.path for b in bands), grid=grid, dtype=dtype,
                     nodata=nodata, resampled=resampled, resampling=RESAMPLING.name,
                     aoi=Path(aoi) if aoi is not None else None, outside_pixels=outside,
                     seconds=seconds)


def _on_grid(band, grid):
    """(col, row) of the grid's origin in ``band``'s pixels when the band is on the grid (same
    pixel size, whole-pixel offset), else None (the band is resampled)."""
    a, g = band.transform, grid.transform
    if not (math.isclose(a.a, g.a, rel_tol=1e-9) and math.isclose(a.e, g.e, rel_tol=1e-9)):
        return None
    col, row = (g.c - a.c) / a.a, (g.f - a.f) / a.e
    if abs(col - round(col)) > _EPS or abs(row - round(row)) > _EPS:
        return None
    return round(col), round(row)


def _copy(src, band, out, offset, window, nodata):
    """Rows ``window`` of the grid from a band on the grid, unchanged (nodata outside it)."""
    col0 = offset[0]
    row0 = offset[1] + int(window.row_off)
    c0, c1 = max(col0, 0), min(col0 + out.shape[1], band.width)
    r0, r1 = max(row0, 0), min(row0 + out.shape[0], band.height)
    out[...] = nodata
    if c1 <= c0 or r1 <= r0:
        return
    data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
    if band.nodata is not None and not _same(band.nodata, nodata):
        data[_equal(data, band.nodata)] = nodata
    out[r0 - row0:r1 - row0, c0 - col0:c1 - col0] = data


def _resample(src, band, out, strip, nodata):
    """The grid's strip ``strip`` from ``band``, bilinear. A band without nodata of its own
    takes the composite's, so resampling never blends nodata pixels into valid ones."""
    src_nodata = band.nodata if band.nodata is not None else nodata
    reproject(source=rasterio.band(src, 1), destination=out, src_nodata=src_nodata,
              dst_transform=strip.transform, dst_crs=strip.crs, dst_nodata=nodata,
              resampling=RESAMPLING, init_dest_nodata=True)


def _profile(grid, count, dtype, nodata):
    return {"driver": "GTiff", "height": grid.height, "width": grid.width, "count": count,
            "dtype": dtype, "crs": grid.crs, "transform": grid.transform, "nodata": nodata,
            "tiled": True, "blockxsize": _TILE, "blockysize": _TILE, "compress": "deflate",
            "predictor": 3 if np.dtype(dtype).kind == "f" else 2, "BIGTIFF": "IF_SAFER"}


def _gdal_env():
    """GDAL's block cache bounded while stacking (unless the user set GDAL_CACHEMAX)."""
    if "GDAL_CACHEMAX" in os.environ:
        return rasterio.Env()
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)


def _same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a)
                      and math.isnan(b))


def _equal(data, value):
    return np.isnan(data) if isinstance(value, float) and math.isnan(value) else data == value


def _show(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def _crs_name(crs):
    epsg = crs.to_epsg() if crs is not None else None
    return f"EPSG:{epsg}" if epsg else str(crs)
