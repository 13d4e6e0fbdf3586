"""Finding images and the rasters that sit beside them.

For an image ``<stem>.<ext>`` the convention is::

    SCLS_<stem>.tif|png   manual class labels (same grid as the image)
    EDGE_<stem>.tif|png   manual calving front (1-pixel line raster)
    VM_<stem>.tif|png     manual valley margins (line raster)

Each companion may instead be a vector file drawn in QGIS, ``SCLS_<stem>.gpkg|.geojson|.shp``
(``EDGE_``/``VM_`` likewise), in any CRS. It is burned on the fly onto the image's grid
(:func:`csc.vectors.burn`: class from the integer field ``class``, else ``id``; later features
win where they overlap; lines and polygon outlines 1 pixel wide for ``EDGE_``/``VM_``) into a
GeoTIFF in a temporary folder of this process (removed at exit), and the :class:`Scene` field
points at that raster, so every reader downstream is unchanged; ``Scene.sources`` names the
vector. A raster and a vector companion of the same kind (or two vectors) are ambiguous: an
error naming both.

Files with those prefixes are never treated as images, nor are vector files.
"""
import atexit
import dataclasses
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from csc.errors import (BandError, ClassificationError, LabelMismatchError, MissingLabelError,
                        PatchSizeError, RasterReadError, VectorError)
from csc.outputs import recorded_outputs
from csc.rasters import (RasterInfo, check_bands, check_label_values, grid_problem, line_mask,
                         raster_info, read_image, read_labels)
from csc.vectors import VECTOR_SUFFIXES, burn, check_ids, is_vector, vector_parts, write_burn

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".jp2")
LABEL_SUFFIXES = (".tif", ".tiff", ".png")
COMPANION_PREFIXES = ("SCLS_", "EDGE_", "VM_")
#: What a companion vector of each prefix burns (:data:`csc.vectors.KINDS`).
VECTOR_KINDS = {"SCLS_": "labels", "EDGE_": "edge", "VM_": "margins"}


@dataclasses.dataclass(frozen=True)
class Scene:
    image: Path
    labels: Path = None
    edge: Path = None
    margins: Path = None
    #: {field: vector file} for the companions burned from vectors (the field then points at
    #: the burned raster in the temporary folder)
    sources: dict = dataclasses.field(default_factory=dict, hash=False)

    @property
    def stem(self):
        return self.image.stem

    def source(self, field):
        """The file the user gave for companion ``field``: the vector it was burned from, or
        the raster itself (None without that companion)."""
        return self.sources.get(field, getattr(self, field))


def companion_file(path, prefix, *, stem=None):
    """The ``<prefix><stem>`` file beside ``path`` as it is on disk: a raster (``.tif``,
    ``.tiff``, ``.png``, the first found) or a vector (``.gpkg``, ``.geojson``, ``.shp``), or
    None. A raster and a vector, or two vectors, are ambiguous: ``VectorError`` naming them."""
    path = Path(path)
    stem = path.stem if stem is None else stem
    rasters = [c for c in (path.with_name(f"{prefix}{stem}{s}") for s in LABEL_SUFFIXES)
               if c.exists()]
    vectors = [c for c in (path.with_name(f"{prefix}{stem}{s}") for s in VECTOR_SUFFIXES)
               if c.exists()]
    if vectors and (rasters or len(vectors) > 1):
        found = rasters[:1] + vectors
        raise VectorError(f"{path}: {' and '.join(str(f) for f in found)} are both "
                          f"{prefix} companions of it; keep one of them (move the other out "
                          "of the folder)")
    return (rasters + vectors)[0] if rasters or vectors else None


def companion(path, prefix, *, stem=None, schema=None):
    """The ``<prefix><stem>.tif|.tiff|.png`` raster beside ``path`` (``stem`` defaults to
    ``path``'s own), or None. A vector companion (``.gpkg``, ``.geojson``, ``.shp``) is burned
    onto the grid of ``path`` (an image, or a class raster for ``csc front``) and the burned
    raster returned; its class ids are checked against ``schema`` when given."""
    found = companion_file(path, prefix, stem=stem)
    if found is None or not is_vector(found):
        return found
    return burned(found, grid=path, kind=VECTOR_KINDS[prefix], schema=schema)


# --- vectors burned on the fly ------------------------------------------------------------------

_BURNED = {}        # (pid, vector, its stamp, grid, its stamp, kind) -> (raster, class ids)
_LOCK = threading.Lock()
_FOLDER = {}        # pid -> this process's temporary folder


def _burn_folder():
    """This process's temporary folder for burned vectors: made once, removed at exit (by the
    process that made it only, so a forked child never removes its parent's)."""
    pid = os.getpid()
    if pid not in _FOLDER:
        folder = Path(tempfile.mkdtemp(prefix="csc-vectors-"))
        atexit.register(_remove_folder, folder, pid)
        _FOLDER[pid] = folder
    return _FOLDER[pid]


def _remove_folder(folder, pid):
    if os.getpid() == pid:
        shutil.rmtree(folder, ignore_errors=True)


def _stamp(paths):
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)


def burned(vector, *, grid, kind="labels", schema=None):
    """The raster of ``vector`` burned onto the grid of the raster ``grid`` (field ``class``,
    else ``id``; later features win), made once per process and file version and kept in the
    temporary folder. Its file name is the vector's with ``.tif`` appended."""
    vector, grid = Path(vector), Path(grid)
    key = (os.getpid(), vector.resolve(), _stamp(vector_parts(vector)), grid.resolve(),
           _stamp([grid]), kind)
    with _LOCK:
        if key not in _BURNED:
            result = burn(vector, grid=raster_info(grid), kind=kind, schema=schema)
            folder = _burn_folder() / str(len(_BURNED))
            folder.mkdir()
            path = write_burn(result, folder / f"{vector.name}.tif", schema=schema).path
            log.info("%s burned onto the grid of %s as %s", vector, grid, path)
            _BURNED[key] = (path, np.array(sorted(result.pixels), dtype=np.int64))
        path, ids = _BURNED[key]
    if schema is not None and kind == "labels":
        check_ids(ids, schema=schema, source=vector)
    return path


def is_image(path):
    path = Path(path)
    return (path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
            and not path.name.startswith(COMPANION_PREFIXES))


def scene_for(image, *, schema=None):
    """The scene of one image file, with whichever companions exist (vector companions burned
    onto its grid; their label ids checked against ``schema`` when given, else by
    :func:`open_scene`)."""
    image = Path(image)
    if not image.exists():
        raise RasterReadError(f"{image}: no such file; check the path")
    if image.name.startswith(COMPANION_PREFIXES):
        raise RasterReadError(f"{image} is a label/edge/margin raster, not an image; "
                              f"give the image {image.name.split('_', 1)[1]} instead")
    if is_vector(image):
        raise RasterReadError(f"{image} is a vector file, not an image; give the image, or "
                              "burn the vectors onto it with csc labels")
    fields, sources = {}, {}
    for field, prefix in COMPANIONS:
        found = companion_file(image, prefix)
        if found is not None and is_vector(found):
            sources[field] = found
            found = burned(found, grid=image, kind=VECTOR_KINDS[prefix], schema=schema)
        fields[field] = found
    return Scene(image=image, sources=sources, **fields)


def find_scenes(path, *, require_labels=False, schema=None):
    """The scenes of one image or of every image in a folder, sorted by name.

    In a folder, the outputs of csc runs are never taken as images, so ``--out`` may be the
    input folder and a re-run does not feed its own outputs back in: a file named in the
    ``outputs`` of any manifest ``*_run.json`` in the folder (``csc classify``/``baseline``
    per image, ``csc tiles``/``train`` per set), a class map ``*_classified.tif|tiff`` (also
    when its manifest is gone) and a report figure ``CSC_*``/``CNN_*``. A file given by name
    is taken as given.

    With ``require_labels`` an image without ``SCLS_`` is an error naming the expected file.
    Vector companions are burned onto each image's grid (see :func:`scene_for`)."""
    path = Path(path)
    if path.is_file():
        scenes = [scene_for(path, schema=schema)]
    elif path.is_dir():
        outputs = {name for manifest in path.glob("*_run.json")
                   for name in recorded_outputs(manifest)}
        skipped = [p for p in sorted(path.iterdir()) if p.is_file() and is_image(p)
                   and (p.name in outputs or p.name.startswith(("CSC_", "CNN_"))
                        or p.stem.endswith("_classified"))]
        scenes = [scene_for(p, schema=schema) for p in sorted(path.iterdir())
                  if p.is_file() and is_image(p) and p not in skipped]
        if skipped:
            log.info("%s: %d output(s) of earlier runs not taken as images (%s)", path,
                     len(skipped), ", ".join(p.name for p in skipped[:5]))
        if not scenes:
            raise RasterReadError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})"
                                  + (f", only {len(skipped)} output(s) of earlier runs"
                                     if skipped else "")
                                  + "; point to the folder with your scenes")
    else:
        raise RasterReadError(f"{path}: no such file or folder; check the path")
    if require_labels:
        for scene in scenes:
            if scene.labels is None:
                raise MissingLabelError(
                    f"{scene.image}: no label raster SCLS_{scene.stem}.tif (or vectors "
                    f"SCLS_{scene.stem}.gpkg) beside it; add it or move the image out of the "
                    "folder")
    return scenes


# --- the open stage: every check that needs no model -------------------------------------------

#: The companions of an image, by ``Scene`` field, with the prefix users know them by.
COMPANIONS = (("labels", "SCLS_"), ("edge", "EDGE_"), ("margins", "VM_"))


@dataclasses.dataclass(frozen=True)
class OpenScene:
    """A scene whose image and companions passed every check that needs no model."""

    scene: Scene
    info: RasterInfo
    bands: tuple          # 1-based bands read from the image
    schema: object        # the ClassSchema its labels were checked against
    n_valid: int          # pixels that are not nodata

    @property
    def stem(self):
        return self.scene.stem

    @property
    def image(self):
        return self.scene.image

    @property
    def labels(self):
        return self.scene.labels

    @property
    def shape(self):
        return self.info.shape

    def read_labels(self):
        """The manual labels (uint8 ids, 0 = unlabelled), or None without ``SCLS_``."""
        if self.scene.labels is None:
            return None
        return read_labels(self.scene.labels, schema=self.schema, shape=self.shape,
                           image_path=self.image)


def open_scene(scene, *, schema, bands=None, model=None, require_labels=False, min_size=1,
               size_hint="choose a smaller --patch-size", scaling=None):
    """The *open* stage of a scene run: the image and its ``SCLS_``/``EDGE_``/``VM_``
    companions opened and checked before any model is loaded or any output written.

    - the image is readable; ``bands`` (1-based; ``model`` is a description such as "model
      m.keras" naming where they come from) exist in it;
    - every companion has the image's size, CRS and transform (to a hundredth of a pixel);
    - the labels are whole ids of ``schema`` (read strip by strip);
    - the image is at least ``min_size`` pixels on each side, not entirely nodata, and not
      one value everywhere (an empty or failed export);
    - with ``scaling`` (the model's), the image's values fit it: an 8-bit image for a model
      trained on reflectance ÷ 10000 is refused, naming both ranges.
    """
    info = raster_info(scene.image)
    if model and bands is not None and any(not 1 <= int(b) <= info.count for b in bands):
        raise BandError(f"{model} reads bands {tuple(bands)} but image {scene.image} has "
                        f"{info.count} band(s); classify images with the bands the model "
                        "was trained on, or train a model on these bands (csc tiles --bands)")
    bands = check_bands(bands, info.count, scene.image)
    if require_labels and scene.labels is None:
        raise MissingLabelError(f"{scene.image}: no label raster SCLS_{scene.stem}.tif beside "
                                "it; add it or move the image out of the folder")
    for field, prefix in COMPANIONS:
        path = getattr(scene, field)
        if path is None:
            continue
        companion_info = raster_info(path)
        problem = grid_problem(companion_info, info)
        if problem:
            raise LabelMismatchError(
                f"{prefix} raster {path} is {problem}; companions must lie on the image's grid "
                "(never resized): rasterise the vectors onto the image's grid or warp the "
                "raster onto it (e.g. gdalwarp -te/-tr from the image)")
        if companion_info.georeferenced != info.georeferenced:
            log.warning("%s: one of %s and its image %s is georeferenced and the other is not; "
                        "their grids are compared by size only", path, prefix, scene.image)
    if scene.labels is not None:
        check_label_values(scene.labels, schema=schema)
    if min(info.shape) < int(min_size):
        raise PatchSizeError(f"{scene.image} is {info.height}x{info.width} pixels, smaller "
                             f"than the {min_size}x{min_size} patch; {size_hint}")
    n_valid, n_nonfinite = _count_valid(scene.image, info, bands)
    if n_valid == 0:
        what = (f"value {info.nodata}" if not n_nonfinite
                else f"value {info.nodata}, or NaN/±Inf in a band")
        raise ClassificationError(f"{scene.image}: every pixel is nodata ({what}); "
                                  "check the image or its nodata value")
    if n_nonfinite and not _nan_is_nodata(info.nodata):
        total = info.height * info.width
        declared = ("declares no nodata value" if info.nodata is None
                    else f"declares nodata {info.nodata:g}")
        log.warning("%s: %d pixels (%.3g %%) hold NaN or ±Inf in a band although the file "
                    "%s; they are treated as nodata (no class, left out of training and "
                    "scores) — set the file's nodata to nan if that is what they mean",
                    scene.image, n_nonfinite, 100.0 * n_nonfinite / total, declared)
    check_values(scene.image, bands=bands, scaling=scaling, model=model)
    return OpenScene(scene=scene, info=info, bands=bands, schema=schema, n_valid=n_valid)


#: Valid pixels sampled to check an image's values.
VALUE_SAMPLE = 200_000
#: Scaled values a model's inputs should reach: an image whose 99th percentile scales below
#: the low bound, or whose 1st percentile scales above the high one, was made for another
#: scaling.
SCALED_RANGE = (0.02, 20.0)


def check_values(path, *, bands, scaling=None, model=None):
    """``ClassificationError`` for an image that holds one value everywhere, or (with the
    model's ``scaling``) whose value range does not fit the scaling the model was trained
    with."""
    sample = _value_sample(path, bands)
    if not len(sample):
        return
    if (sample == sample[0]).all():
        values = ", ".join(f"{v:g}" for v in sample[0])
        raise ClassificationError(
            f"{path}: every valid pixel holds the same values ({values}); an empty or failed "
            "export — check the image, or declare its fill value as nodata")
    if scaling is None:
        return
    low, high = np.percentile(sample, 1), np.percentile(sample, 99)
    if scaling.mode == "fixed":
        scaled = (np.array([low, high]) + scaling.offset) / scaling.scale
        expected = (f"reflectance-like values scaled {scaling.describe()} (about "
                    f"0..{scaling.scale:g})")
    else:
        lo_fit, hi_fit = float(np.min(scaling.low)), float(np.max(scaling.high))
        scaled = (np.array([low, high]) + scaling.offset - lo_fit) / max(hi_fit - lo_fit, 1e-12)
        expected = f"values stretched from about {lo_fit:g}..{hi_fit:g}"
    if scaled[1] < SCALED_RANGE[0] or scaled[0] > SCALED_RANGE[1]:
        who = model or "the model"
        raise ClassificationError(
            f"{path} holds values {low:g}..{high:g} (1st-99th percentile) but {who} was trained "
            f"on {expected}; give an image with the bands and scaling the model was trained on, "
            "or train a model on images like this one (csc tiles --scale)")


def _value_sample(path, bands, *, strips=16, rows=32):
    """Valid pixels (n, bands) float64 of ``strips`` evenly spaced strips of ``rows`` rows (a
    cheap look at an image's values, bounded by a strip whatever the scene's size)."""
    info = raster_info(path)
    starts = np.unique(np.linspace(0, max(info.height - rows, 0), strips).astype(int))
    parts = []
    for r0 in starts:
        strip = read_image(path, bands=bands, window=(int(r0), min(int(r0) + rows, info.height)))
        parts.append(strip.data[strip.valid].astype(np.float64))
    sample = np.concatenate(parts) if parts else np.empty((0, len(bands)))
    return sample[:: max(1, len(sample) // VALUE_SAMPLE)]


def check_lines(opened, *, scan_rows=1024):
    """``LabelMismatchError`` when the ``EDGE_`` or ``VM_`` raster of an opened scene holds no
    line pixel, for a run whose front step will read them: otherwise the scene would fail only
    at the front step, after the whole classification. Each is read strip by strip until its
    first line pixel (:func:`csc.rasters.line_mask`, as the front step reads them)."""
    for field, prefix in (("edge", "EDGE_"), ("margins", "VM_")):
        path = getattr(opened.scene, field)
        if path is not None:
            _check_line(path, prefix, raster_info(path), scan_rows=scan_rows)


def _check_line(path, prefix, info, *, scan_rows):
    for r0 in range(0, info.height, scan_rows):
        if line_mask(read_image(path, window=(r0, min(r0 + scan_rows, info.height)))).any():
            return
    raise LabelMismatchError(f"{prefix} raster {path} holds no line pixels (all zero or "
                             "nodata); draw the line with non-zero values, or move the file "
                             "away to classify without it")


def _count_valid(path, info, bands, scan_rows=1024):
    """``(valid pixels, pixels with a NaN or ±Inf band)`` of the image, strip by strip."""
    if info.nodata is None and np.dtype(info.dtype).kind != "f":
        return info.height * info.width, 0
    n_valid = n_nonfinite = 0
    for r0 in range(0, info.height, scan_rows):
        strip = read_image(path, bands=bands, window=(r0, min(r0 + scan_rows, info.height)))
        n_valid += int(np.count_nonzero(strip.valid))
        if strip.data.dtype.kind == "f":
            n_nonfinite += int(np.count_nonzero(~np.isfinite(strip.data).all(axis=-1)))
    return n_valid, n_nonfinite


def _nan_is_nodata(nodata):
    return isinstance(nodata, float) and np.isnan(nodata)
