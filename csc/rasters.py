"""Raster I/O on rasterio: images as (rows, cols, bands) arrays with their georeferencing,
class maps as styled uint8 GeoTIFFs.

Non-georeferenced inputs (JPG/PNG, plain TIFF) are read with an identity transform and no CRS;
outputs for them carry no CRS and a warning is logged, never an error.

The class maps of a scene run are Cloud-Optimized GeoTIFFs (:class:`ClassRasterWriter` with
``cog=True``): GDAL's COG driver only copies a finished raster, so the strips go to a temporary
tiled GTiff beside the output, which is then copied with 512-pixel tiles, DEFLATE and overviews
resampled by MODE (a class, never an average of classes). The colour table is inside the TIFF;
the class names are GDAL *category names*, which TIFF cannot hold: GDAL keeps them in its PAM
sidecar ``<name>.tif.aux.xml`` (``<CategoryNames>``; the COG driver writes them there too), and
QGIS labels the colour-table entries with them. The sidecar is part of the output.
"""
import contextlib
import dataclasses
import logging
import os
import tempfile
import warnings
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from csc.errors import BandError, LabelMismatchError, OutputError, RasterReadError
from csc.files import atomic_path, write_text

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RasterInfo:
    """What a raster is, without its pixels."""

    path: Path
    height: int
    width: int
    count: int
    dtype: str
    crs: object
    transform: object
    nodata: object

    @property
    def shape(self):
        return self.height, self.width

    @property
    def georeferenced(self):
        return self.crs is not None and not self.transform.is_identity

    @property
    def pixel_size(self):
        """(x, y) pixel size in CRS units (metres for projected CRSs), or None."""
        if not self.georeferenced:
            return None
        return abs(self.transform.a), abs(self.transform.e)


@dataclasses.dataclass
class Image:
    """Pixels (rows, cols, bands) with their georeferencing and a validity mask."""

    data: np.ndarray
    info: RasterInfo
    valid: np.ndarray  # (rows, cols) bool: False where every band is nodata
    bands: tuple       # 1-based band indexes read

    @property
    def crs(self):
        return self.info.crs

    @property
    def transform(self):
        return self.info.transform

    @property
    def nodata(self):
        return self.info.nodata

    @property
    def path(self):
        return self.info.path

    @property
    def shape(self):
        return self.data.shape[:2]

    @property
    def georeferenced(self):
        return self.info.georeferenced


def _open(path):
    path = Path(path)
    if not path.exists():
        raise RasterReadError(f"{path}: no such file; check the path")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as exc:
        raise RasterReadError(f"{path}: not a readable raster ({exc}); "
                              "give a GeoTIFF, JPG or PNG") from exc


def raster_info(path):
    """Size, band count, type and georeferencing of a raster."""
    with _open(path) as src:
        return _info(src, path)


def _info(src, path):
    return RasterInfo(path=Path(path), height=src.height, width=src.width, count=src.count,
                      dtype=src.dtypes[0], crs=src.crs, transform=src.transform,
                      nodata=src.nodata)


def check_bands(bands, count, path):
    """Normalise 1-based band indexes; ``None`` means all bands."""
    if bands is None:
        return tuple(range(1, count + 1))
    bands = tuple(int(b) for b in bands)
    bad = [b for b in bands if not 1 <= b <= count]
    if bad:
        raise BandError(f"{path} has {count} band(s); cannot read band(s) {bad}. "
                        f"Choose bands within 1..{count} (csc tiles/baseline --bands), or use a "
                        "model trained on this image's bands")
    return bands


def common_bands(infos, bands):
    """The 1-based bands to read from every raster of ``infos`` (``RasterInfo``s): all of them
    when ``bands`` is None (the rasters must then have the same band count), else ``bands``
    checked against each raster."""
    if bands is None:
        counts = {info.count for info in infos}
        if len(counts) > 1:
            shown = ", ".join(f"{info.path.name}: {info.count}" for info in infos)
            raise BandError(f"images have different band counts ({shown}); choose the bands "
                            "to use with --bands")
        return tuple(range(1, infos[0].count + 1)) if infos else ()
    for info in infos:
        bands = check_bands(bands, info.count, info.path)
    return tuple(int(b) for b in bands)


def valid_mask(data, nodata):
    """True where a pixel holds data: no band is NaN or ±Inf (float exports mask with NaN) and
    not every band equals ``nodata``."""
    data = np.asarray(data)
    invalid = np.zeros(data.shape[:2], dtype=bool)
    if data.dtype.kind == "f":
        invalid |= ~np.isfinite(data).all(axis=-1)
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        invalid |= (data == nodata).all(axis=-1)
    return ~invalid


def read_image(path, *, bands=None, window=None):
    """Read an image as (rows, cols, bands).

    ``bands`` are 1-based indexes (GDAL order); ``window`` a ``rasterio.windows.Window`` or
    ``(row_start, row_stop)`` for a strip of full rows."""
    with _open(path) as src:
        info = _info(src, path)
        bands = check_bands(bands, src.count, path)
        if isinstance(window, tuple):
            window = Window(0, window[0], src.width, window[1] - window[0])
        try:
            data = src.read(bands, window=window)
        except RasterioIOError as exc:
            raise RasterReadError(f"{path}: reading failed ({exc}); the file may be "
                                  "truncated or corrupt") from exc
    data = np.moveaxis(data, 0, -1)
    return Image(data=data, info=info, valid=valid_mask(data, info.nodata), bands=bands)


def line_mask(image):
    """The line pixels of a manual line raster read as an ``Image`` (``EDGE_``, ``VM_``):
    non-zero and finite in band 1, in a pixel that holds data (not every band at the nodata
    value, no band NaN or ±Inf)."""
    data = image.data[..., 0]
    line = (data != 0) & image.valid
    if data.dtype.kind == "f":
        line &= np.isfinite(data)
    return line


def read_labels(path, *, schema, shape=None, image_path=None):
    """Read a single-band class raster, checked against ``schema`` and the image ``shape``.

    A label whose shape differs from its image is an error naming both files; it is never
    resized."""
    with _open(path) as src:
        if shape is not None:
            _check_label_shape(path, (src.height, src.width), shape, image_path)
        try:
            labels = src.read(1)
        except RasterioIOError as exc:
            raise RasterReadError(f"{path}: reading failed ({exc})") from exc
    return schema.check_labels(labels, path)


def check_label_shape(path, *, shape, image_path=None):
    """``LabelMismatchError`` unless the label raster ``path`` has the image ``shape``; reads
    the header only, so a run can fail before its work rather than after it."""
    with _open(path) as src:
        _check_label_shape(path, (src.height, src.width), shape, image_path)


def _check_label_shape(path, found, shape, image_path):
    if tuple(found) != tuple(shape):
        raise LabelMismatchError(
            f"label {path} is {found[0]}x{found[1]} pixels but image {image_path} is "
            f"{shape[0]}x{shape[1]}; labels are never resized, fix the label raster")


def grid_problem(info, reference, *, tolerance=0.01):
    """Why raster ``info`` is not on the grid of ``reference`` (both ``RasterInfo``), or None:
    size, CRS and transform must match, the transform to ``tolerance`` of a pixel. A raster
    without any georeferencing is compared by size only (its grid cannot be checked)."""
    if info.shape != reference.shape:
        return (f"{info.height}x{info.width} pixels, but {reference.path} is "
                f"{reference.height}x{reference.width}")
    if not (info.georeferenced and reference.georeferenced):
        return None
    if info.crs != reference.crs:
        return f"in {_crs_name(info.crs)}, but {reference.path} is in {_crs_name(reference.crs)}"
    a, b = info.transform, reference.transform
    pixel = max(abs(b.a), abs(b.e), 1e-12)
    # corners within ``tolerance`` of a pixel: the origin, and the drift over the whole grid
    drift_x = abs(a.a - b.a) * info.width + abs(a.b - b.b) * info.height
    drift_y = abs(a.d - b.d) * info.width + abs(a.e - b.e) * info.height
    if max(abs(a.c - b.c) + drift_x, abs(a.f - b.f) + drift_y) > tolerance * pixel:
        return (f"on another grid (origin {a.c:.2f}, {a.f:.2f}, pixel {a.a:g} x {-a.e:g}) than "
                f"{reference.path} (origin {b.c:.2f}, {b.f:.2f}, pixel {b.a:g} x {-b.e:g})")
    return None


def _crs_name(crs):
    epsg = crs.to_epsg() if crs is not None else None
    return f"EPSG:{epsg}" if epsg else str(crs)


def check_label_values(path, *, schema, scan_rows=1024):
    """``LabelMismatchError`` unless the single-band class raster ``path`` holds whole class ids
    of ``schema`` (or 0); read strip by strip, so it costs no more memory than a strip."""
    with _open(path) as src:
        for r0 in range(0, src.height, scan_rows):
            window = Window(0, r0, src.width, min(scan_rows, src.height - r0))
            try:
                schema.check_labels(src.read(1, window=window), path)
            except RasterioIOError as exc:
                raise RasterReadError(f"{path}: reading failed ({exc}); the file may be "
                                      "truncated or corrupt") from exc


def _profile(height, width, count, dtype, crs, transform, nodata):
    profile = {"driver": "GTiff", "height": height, "width": width, "count": count,
               "dtype": dtype, "compress": "deflate", "nodata": nodata}
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if crs is not None:
        profile.update(crs=crs, transform=transform)
    elif transform is not None and not transform.is_identity:
        profile.update(transform=transform)
    return profile


def _warn_if_plain(crs, path, warn=True):
    """Say that ``path`` is written without a CRS; callers that said it once for the whole
    scene (:class:`csc.pipeline.SceneRun`) pass ``warn=False``."""
    if crs is None and warn:
        log.warning("%s: input is not georeferenced; writing it without a CRS", path)


def write_class_raster(path, classes, *, schema, crs=None, transform=None,
                       warn_plain=True):
    """Write a class map as a tiled, deflate-compressed uint8 GeoTIFF with nodata 0 and the
    schema's colour table (QGIS shows it styled). A ``.png`` path writes a paletted PNG."""
    path = Path(path)
    classes = np.asarray(classes)
    if classes.ndim != 2:
        raise ValueError(f"class map must be 2-D, got shape {classes.shape}")
    _warn_if_plain(crs, path, warn_plain)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        if path.suffix.lower() == ".png":
            profile = {"driver": "PNG", "height": classes.shape[0], "width": classes.shape[1],
                       "count": 1, "dtype": "uint8"}
        else:
            profile = _profile(*classes.shape, 1, "uint8", crs, transform, 0)
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(classes.astype(np.uint8), 1)
            dst.write_colormap(1, schema.colormap())
    return path


def write_image(path, data, *, crs=None, transform=None, nodata=None):
    """Write a (rows, cols, bands) array as a tiled, deflate-compressed GeoTIFF."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[..., None]
    _warn_if_plain(crs, path)
    profile = _profile(data.shape[0], data.shape[1], data.shape[2], data.dtype.name, crs,
                       transform, nodata)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(np.moveaxis(data, -1, 0))
    return Path(path)


#: Tile side of the Cloud-Optimized class maps (pixels).
COG_BLOCK = 512
#: GDAL COG driver creation options of the class maps: internal 512-pixel tiles, DEFLATE, and
#: overviews (halving until a side fits one tile) resampled by MODE, so each overview pixel is
#: the most frequent class below it (nodata 0 ignored).
COG_OPTIONS = {"BLOCKSIZE": COG_BLOCK, "COMPRESS": "DEFLATE", "OVERVIEW_RESAMPLING": "MODE"}
#: Suffix of GDAL's PAM sidecar (``map.tif.aux.xml``), where the category names live.
PAM_SUFFIX = ".aux.xml"


def pam_path(path):
    """GDAL's PAM sidecar of raster ``path``: ``<path>.aux.xml``."""
    path = Path(path)
    return path.with_name(path.name + PAM_SUFFIX)


def category_names(schema):
    """Category names of a class map, indexed by pixel value (GDAL's convention): 0 is
    "unlabelled", every class of ``schema`` (the output-only front included) its name, ids
    between them an empty string."""
    classes = schema.all_classes()
    names = [""] * (max(c.id for c in classes) + 1)
    names[0] = schema.name_of(0)
    for c in classes:
        names[c.id] = c.name
    return names


def category_names_xml(names):
    """The PAM document (``<PAMDataset>``) holding ``names`` as band 1's category names."""
    root = ElementTree.Element("PAMDataset")
    band = ElementTree.SubElement(root, "PAMRasterBand", band="1")
    table = ElementTree.SubElement(band, "CategoryNames")
    for name in names:
        ElementTree.SubElement(table, "Category").text = name
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode") + "\n"


def write_category_names(path, schema):
    """Write the class names of ``schema`` as the category names of raster ``path`` into its
    PAM sidecar (atomically); returns the sidecar's path."""
    sidecar = pam_path(path)
    write_text(sidecar, category_names_xml(category_names(schema)))
    return sidecar


def read_category_names(path):
    """The category names of band 1 of raster ``path`` from its PAM sidecar (a list indexed by
    pixel value), or None when it has none."""
    sidecar = pam_path(path)
    try:
        root = ElementTree.parse(sidecar).getroot()
    except FileNotFoundError:
        return None
    except ElementTree.ParseError as exc:
        raise RasterReadError(f"{sidecar}: not a GDAL PAM file ({exc}); delete it") from exc
    for band in root.iter("PAMRasterBand"):
        if band.get("band", "1") == "1" and band.find("CategoryNames") is not None:
            return [c.text or "" for c in band.find("CategoryNames").iter("Category")]
    return None


def _cog_source_profile(height, width, crs, transform, nodata=0):
    """The temporary tiled GTiff a COG is copied from: tiles of the COG's size (so the copy
    reads whole tiles), uncompressed (it is read once, then deleted)."""
    profile = _profile(height, width, 1, "uint8", crs, transform, nodata)
    profile.pop("compress", None)
    profile.update(tiled=True, blockxsize=COG_BLOCK, blockysize=COG_BLOCK)
    return profile


def _unlink(*paths):
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


class ClassRasterWriter:
    """Write a class map strip by strip (bounded memory), atomically on ``close``.

    With ``cog`` the map becomes a Cloud-Optimized GeoTIFF (:data:`COG_OPTIONS`) with the
    schema's class names as category names in the PAM sidecar ``<path>.aux.xml``; the strips
    are written to a temporary tiled GTiff beside ``path`` (a name starting with ``.``), copied
    by GDAL's COG driver on ``close`` and deleted. Without ``cog`` it is a tiled,
    deflate-compressed GTiff (as :func:`write_class_raster`).

    Usage::

        with ClassRasterWriter(path, shape, schema=..., crs=..., transform=...) as w:
            w.write_rows(row_start, strip)

    With ``schema=None`` it writes any uint8 layer (a confidence map) without colour table or
    category names, with ``nodata`` and overviews resampled by ``resampling``.
    """

    def __init__(self, path, shape, *, schema, crs=None, transform=None, cog=False, nodata=0,
                 resampling="MODE", warn_plain=True):
        self.path = Path(path)
        self.schema = schema
        self.cog = bool(cog)
        self.options = dict(COG_OPTIONS, OVERVIEW_RESAMPLING=resampling)
        self.width = shape[1]
        _warn_if_plain(crs, self.path, warn_plain)
        if self.cog:
            self._atomic = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.strips-", suffix=".tif",
                                           dir=self.path.parent)
            except OSError as exc:
                raise OutputError(f"cannot write in {self.path.parent}: {exc.strerror}; "
                                  "choose a writable output folder") from exc
            os.close(fd)
            self._tmp = Path(tmp)
            profile = _cog_source_profile(*shape, crs, transform, nodata)
        else:
            self._atomic = atomic_path(self.path)
            self._tmp = self._atomic.__enter__()
            profile = _profile(*shape, 1, "uint8", crs, transform, nodata)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._dst = rasterio.open(self._tmp, "w", **profile)
        except BaseException as exc:  # remove the temporary file, then re-raise
            self._discard(exc)
            raise
        if schema is not None:
            self._dst.write_colormap(1, schema.colormap())

    def write_rows(self, row_start, rows):
        rows = np.asarray(rows, dtype=np.uint8)
        self._dst.write(rows, 1, window=Window(0, row_start, self.width, rows.shape[0]))

    def _discard(self, exc):
        if self._atomic is not None:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)
        else:
            _unlink(self._tmp, pam_path(self._tmp))

    def _copy_cog(self):
        try:
            with atomic_path(self.path) as out, warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                rasterio.shutil.copy(self._tmp, out, driver="COG", **self.options)
            if self.schema is not None:
                write_category_names(self.path, self.schema)
        finally:
            _unlink(self._tmp, pam_path(self._tmp))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self._dst.close()
        except BaseException as error:
            self._discard(error)
            raise
        if self._atomic is not None:
            return self._atomic.__exit__(exc_type, exc, tb)
        if exc_type is not None:
            self._discard(exc)
            return False
        self._copy_cog()
        return False
