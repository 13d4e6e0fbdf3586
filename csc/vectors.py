"""Vectors drawn in QGIS burned onto an image's exact pixel grid.

Training polygons (and points, and lines) in a GeoPackage, Shapefile or GeoJSON, in any CRS,
become a class raster ``SCLS_<stem>.tif`` on the grid of an image; calving fronts and valley
margins drawn as lines become the 1-pixel line rasters ``EDGE_<stem>.tif`` / ``VM_<stem>.tif``.
geopandas reads and reprojects (``to_crs`` to the image's CRS), shapely buffers points and
takes polygon outlines, ``rasterio.features.rasterize`` burns the geometries on the image's
transform and shape. The rules:

- **class**: an integer attribute ``field`` holds schema ids; without ``field`` the field
  ``class`` is used, else ``id`` (case-insensitive). With ``mapping`` (a CSV ``name,id`` or
  ``value,id``, :func:`read_map`) the field's values — names or codes — are looked up in it.
  A value outside the schema, or a feature without a value, is an error listing them all.
- **overlaps**: features are burned in file order, so a **later feature wins** where two
  overlap (the top of the QGIS layer panel draws last features on top too). With ``priority``
  (class ids, first wins) features of the listed classes are burned after the others, the first
  listed last; within a class, later features still win.
- **pixels**: a pixel is burned when its centre lies inside a polygon (GDAL's rule), or every
  pixel a polygon touches with ``all_touched``. A point burns the pixel holding it, or, with
  ``point_radius`` (metres), a disk: every pixel whose centre is within the radius. Lines
  burn a 1-pixel line.
- **lines** (``kind`` ``edge``/``margins``): every geometry burns value 1 as a 1-pixel line;
  polygons burn their outline.
- **outside** features (not touching the image) are left out with a warning and counted; an
  empty result (no pixel burned) is an error.
"""
import csv
import dataclasses
import logging
from pathlib import Path

import numpy as np
import shapely
from rasterio.features import rasterize
from rasterio.transform import array_bounds

from csc.classes import GLACIER
from csc.errors import OptionError, VectorError
from csc.rasters import raster_info, write_class_raster, write_image

log = logging.getLogger(__name__)

#: Vector files recognised as companions (``SCLS_<stem>.gpkg`` …); any OGR format reads.
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".shp")
#: What each kind burns, and the prefix of the raster it makes.
KINDS = {"labels": "SCLS_", "edge": "EDGE_", "margins": "VM_"}
#: The class fields looked for, in order, when no field is named.
DEFAULT_FIELDS = ("class", "id")
#: Sidecars whose changes change a shapefile's content.
_SHAPEFILE_PARTS = (".shp", ".dbf", ".prj", ".shx", ".cpg")

_POINTS = ("Point", "MultiPoint")
_POLYGONS = ("Polygon", "MultiPolygon")


def is_vector(path):
    """True for a file whose suffix is a companion vector format (.gpkg, .geojson, .shp)."""
    return Path(path).suffix.lower() in VECTOR_SUFFIXES


def vector_parts(path):
    """The files that make up a vector data set (a shapefile's .dbf, .prj … included)."""
    path = Path(path)
    if path.suffix.lower() != ".shp":
        return (path,)
    return tuple(p for p in (path.with_suffix(s) for s in _SHAPEFILE_PARTS) if p.exists())


# --- reading ------------------------------------------------------------------------------------

def read_vectors(path, *, layer=None):
    """The features of a vector file as a GeoDataFrame (any OGR format: GeoPackage,
    Shapefile, GeoJSON …). A file with several layers needs ``layer``; a file without a CRS
    is an error naming the fix."""
    import geopandas
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    path = Path(path)
    if not path.exists():
        raise VectorError(f"{path}: no such vector file; check the path")
    try:
        layers = pyogrio.list_layers(path)
        if layer is None and len(layers) > 1:
            names = ", ".join(str(name) for name, _ in layers)
            raise VectorError(f"{path} holds {len(layers)} layers ({names}); choose one with "
                              "--layer")
        frame = geopandas.read_file(path, layer=layer, engine="pyogrio")
    except (DataSourceError, DataLayerError) as exc:
        raise VectorError(f"{path}: not a readable vector file ({exc}); save the layer as a "
                          "GeoPackage, Shapefile or GeoJSON") from exc
    if frame.crs is None:
        raise VectorError(f"{path} has no CRS, so it cannot be placed on the image; set its CRS "
                          "in QGIS (Layer Properties › Source › Assigned Coordinate Reference "
                          "System, then Export › Save Features As…) and try again")
    return frame


def read_map(path):
    """A class map CSV: a header ``name,id`` (or ``value,id``) and one row per value of the
    class field. Returns {value (stripped, case-folded): class id}."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise VectorError(f"cannot read class map {path}: {exc.strerror}") from exc
    header = [h.strip().lower() for h in rows[0]] if rows else []
    keys = [h for h in header if h in ("name", "value")]
    if "id" not in header or len(keys) != 1:
        raise VectorError(f"{path}: a class map needs a header 'name,id' or 'value,id', found "
                          f"{','.join(header) or 'nothing'}")
    key_col, id_col = header.index(keys[0]), header.index("id")
    mapping = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(key_col, id_col):
            raise VectorError(f"{path} line {line}: expected {len(header)} columns, found "
                              f"{len(row)}")
        key, raw_id = value_key(row[key_col]), row[id_col].strip()
        try:
            class_id = int(raw_id)
        except ValueError:
            raise VectorError(f"{path} line {line}: id {raw_id!r} is not an integer class "
                              "id") from None
        if key in mapping and mapping[key] != class_id:
            raise VectorError(f"{path} line {line}: {row[key_col].strip()!r} is mapped twice "
                              f"(to {mapping[key]} and {class_id}); keep one row")
        mapping[key] = class_id
    if not mapping:
        raise VectorError(f"{path}: the class map has no rows; add one 'name,id' row per class")
    return mapping


def value_key(value):
    """How a field value is looked up in a class map: whole numbers as integers ('3' for 3.0),
    text stripped and case-folded."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value).strip().casefold()


# --- classes ------------------------------------------------------------------------------------

def class_field(frame, field=None, *, source="vectors"):
    """The attribute holding the classes: ``field`` (exact, else case-insensitive), or the
    first of ``class``, ``id`` present. An error lists the fields there are."""
    columns = [c for c in frame.columns if c != frame.geometry.name]
    wanted = (field,) if field else DEFAULT_FIELDS
    for name in wanted:
        if name in columns:
            return name
        folded = [c for c in columns if str(c).casefold() == str(name).casefold()]
        if len(folded) == 1:
            return folded[0]
    have = ", ".join(map(str, columns)) or "none"
    if field:
        raise VectorError(f"{source} has no field {field!r} (fields: {have}); name the class "
                          "field with --field")
    raise VectorError(f"{source} has no field 'class' or 'id' (fields: {have}); name the class "
                      "field with --field, or add an integer field 'class' in QGIS")


def feature_classes(frame, *, field=None, mapping=None, schema=None, source="vectors"):
    """The class id of every feature (int64 array): the integer ``field``, or its values looked
    up in ``mapping`` (:func:`read_map`). Checked against ``schema`` when given (else only that
    they are ids 1..254); every offending value is listed with its feature count."""
    field = class_field(frame, field, source=source)
    column = frame[field]
    missing = int(column.isna().sum())
    if missing:
        raise VectorError(f"{source}: {missing} feature(s) have no value in field {field!r}; "
                          "give every feature a class in QGIS (or delete those features)")
    if mapping is not None:
        keys = column.map(value_key)
        ids = keys.map(mapping)
        unmapped = keys[ids.isna()]
        if len(unmapped):
            raise VectorError(f"{source}: {len(unmapped)} feature(s) have values of field "
                              f"{field!r} that the class map does not list: "
                              f"{_counted(unmapped)}; add them to the map")
        values = ids.to_numpy(dtype=np.int64)
    else:
        if column.dtype.kind not in "iuf":
            example = next(iter(column), None)
            raise VectorError(f"{source}: field {field!r} holds text (e.g. {example!r}), not "
                              "class ids; map its values to class ids with --map CSV (rows "
                              "name,id), or choose an integer field with --field")
        floats = column.to_numpy(dtype=np.float64)
        fractional = floats != np.round(floats)
        if fractional.any():
            raise VectorError(f"{source}: field {field!r} holds non-integer values "
                              f"({_counted(column[fractional])}); class ids are whole numbers")
        values = floats.astype(np.int64)
    check_ids(values, schema=schema, source=source, field=field)
    return values


def check_ids(values, *, schema=None, source="vectors", field="class"):
    """``VectorError`` unless every id in ``values`` is a class of ``schema`` (or, without a
    schema, a possible class id 1..254), listing the unknown ids with their feature counts."""
    values = np.asarray(values)
    if schema is not None:
        known = np.isin(values, schema.ids.astype(np.int64))
        where = f"in the class schema {schema.name!r} {schema.describe_ids()}"
    else:
        known = (values >= 1) & (values <= 254)
        where = "class ids (1..254; 0 is unlabelled)"
    if not known.all():
        bad = values[~known]
        raise VectorError(f"{source}: {bad.size} feature(s) have classes not {where}: "
                          f"{_counted(bad)}; fix field {field!r} in QGIS, or pass the matching "
                          "--classes CSV or a --map")


def _counted(values):
    """'9 (2 features), 12 (1 feature)' for the distinct values."""
    unique, counts = np.unique(np.asarray([str(v) for v in values]), return_counts=True)
    order = np.argsort(-counts, kind="stable")[:10]
    return ", ".join(f"{unique[i]!s} ({counts[i]} feature{'s' if counts[i] > 1 else ''})"
                     for i in order)


def burn_order(values, *, priority=None):
    """Indexes of ``values`` in burning order (later burns win): file order, or with
    ``priority`` (class ids, first wins) the unlisted classes first, then the listed ones from
    the last listed to the first; file order within a class."""
    values = np.asarray(values)
    if not priority:
        return np.arange(values.size)
    priority = [int(p) for p in priority]
    rank = np.zeros(values.size, dtype=np.int64)
    for i, class_id in enumerate(priority):
        rank[values == class_id] = len(priority) - i
    return np.argsort(rank, kind="stable")


# --- burning ------------------------------------------------------------------------------------

def on_grid(frame, grid, *, source="vectors"):
    """``frame`` reprojected to the CRS of ``grid`` (a ``RasterInfo``), which must be
    georeferenced."""
    if not grid.georeferenced:
        raise VectorError(f"{grid.path} has no georeferencing (no CRS or transform), so the "
                          f"vectors of {source} cannot be placed on it; burn them onto a "
                          "georeferenced GeoTIFF of the scene, or draw the labels as a raster "
                          "on the image's pixel grid")
    return frame.to_crs(grid.crs)


def burn_geometries(geoms, *, lines=False, point_radius=None):
    """The shapes to rasterise for ``geoms`` (a GeoSeries in the grid's CRS): points buffered
    to disks of ``point_radius`` metres when given (in the CRS itself when its unit is the
    metre, else in the local UTM zone), polygon outlines when ``lines``."""
    geoms = geoms.copy()
    kinds = geoms.geom_type
    if point_radius is not None:
        if not point_radius > 0:
            raise OptionError(f"--point-radius must be a distance in metres > 0, got "
                              f"{point_radius}")
        points = kinds.isin(_POINTS)
        if points.any():
            crs = geoms.crs
            metric = crs.is_projected and all(axis.unit_name in ("metre", "meter")
                                              for axis in crs.axis_info[:2])
            if metric:
                geoms[points] = geoms[points].buffer(point_radius)
            else:
                local = geoms[points].estimate_utm_crs()
                geoms[points] = geoms[points].to_crs(local).buffer(point_radius).to_crs(crs)
    if lines:
        polygons = geoms.geom_type.isin(_POLYGONS)
        if polygons.any():
            geoms[polygons] = geoms[polygons].boundary
    return geoms


@dataclasses.dataclass
class VectorBurn:
    """A vector file burned onto a grid: the array, and what became of every feature."""

    source: Path
    kind: str
    array: np.ndarray       # uint8 on the grid: class ids (0 = unlabelled) or 1 on lines
    grid: object            # the RasterInfo burned onto
    field: str = None       # the class field (labels only)
    n_features: int = 0
    n_empty: int = 0        # features without geometry, skipped
    n_outside: int = 0      # features not touching the grid, skipped
    rule: str = "later features win"
    all_touched: bool = False
    point_radius: float = None
    path: Path = None       # where it was written, if it was
    notes: tuple = ()       # further lines for summary()

    @property
    def n_burned(self):
        return self.n_features - self.n_empty - self.n_outside

    @property
    def pixels(self):
        """{value: pixel count} of the burned (non-zero) pixels."""
        values, counts = np.unique(self.array[self.array > 0], return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}

    def summary(self, schema=None):
        """What ``csc labels`` prints: the file written, the feature counts and the pixels per
        class."""
        grid = self.grid
        crs = grid.crs.to_string() if grid.crs is not None else "no CRS"
        target = self.path or grid.path
        head = (f"{target} ({grid.height}x{grid.width} pixels, {crs}) from {self.source}: "
                f"{self.n_burned} of {self.n_features} feature(s) burned")
        skipped = []
        if self.n_outside:
            skipped.append(f"{self.n_outside} outside the image")
        if self.n_empty:
            skipped.append(f"{self.n_empty} without geometry")
        if skipped:
            head += " (" + ", ".join(skipped) + " left out)"
        if self.kind == "labels":
            head += f"; field {self.field!r}, {self.rule}"
        lines = [head]
        total = grid.height * grid.width
        pixels = self.pixels
        for value, count in pixels.items():
            name = (schema.name_of(value) if schema is not None and self.kind == "labels"
                    else ("class" if self.kind == "labels" else "line"))
            lines.append(f"  {value:>3} {name}: {count} px")
        burned = sum(pixels.values())
        lines.append(f"  {'labelled' if self.kind == 'labels' else 'line'}: {burned} of "
                     f"{total} px ({100.0 * burned / total:.1f} %)")
        return "\n".join(lines + list(self.notes))


def burn(path, *, grid, kind="labels", field=None, mapping=None, schema=None, priority=None,
         all_touched=False, point_radius=None, layer=None):
    """Burn the vector file ``path`` onto ``grid`` (a ``RasterInfo``, or a raster path): read,
    reproject to the grid's CRS, take each feature's class (``kind`` ``labels``) or 1 (``edge``,
    ``margins``) and rasterise on the grid's transform and shape (see the module for the
    rules). Returns a :class:`VectorBurn`; unknown classes and an empty result are errors,
    features outside the grid a warning."""
    if kind not in KINDS:
        raise OptionError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    source = Path(path)
    if not hasattr(grid, "georeferenced"):
        grid = raster_info(grid)
    frame = read_vectors(source, layer=layer)
    if priority and kind == "labels" and schema is not None:
        unknown = [p for p in priority if int(p) not in set(schema.ids.tolist())]
        if unknown:
            raise OptionError(f"--priority lists {unknown}, not in the class schema "
                              f"{schema.name!r} {schema.describe_ids()}")
    n_features = len(frame)
    present = ~(frame.geometry.isna() | frame.geometry.is_empty)
    frame = frame[present]
    if kind == "labels":
        field = class_field(frame, field, source=source)
        values = feature_classes(frame, field=field, mapping=mapping, schema=schema,
                                 source=source)
    else:
        field, values = None, np.ones(len(frame), dtype=np.int64)
    geoms = burn_geometries(on_grid(frame, grid, source=source).geometry,
                            lines=kind != "labels", point_radius=point_radius)
    extent = shapely.box(*array_bounds(grid.height, grid.width, grid.transform))
    inside = geoms.intersects(extent).to_numpy()
    n_outside = int((~inside).sum())
    if n_outside:
        log.warning("%s: %d of %d feature(s) lie outside %s and were left out", source,
                    n_outside, n_features, grid.path)
    geoms, values = geoms[inside], values[inside]
    order = burn_order(values, priority=priority if kind == "labels" else None)
    shapes = [(geoms.iloc[i], int(values[i])) for i in order]
    array = (rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0,
                       all_touched=all_touched, dtype="uint8")
             if shapes else np.zeros(grid.shape, dtype=np.uint8))
    if not array.any():
        raise VectorError(f"{source}: no pixel of {grid.path} was burned ({n_features} "
                          f"feature(s), {n_outside} outside the image, "
                          f"{n_features - int(present.sum())} without geometry); check that "
                          "the features lie over the image in QGIS, or use --all-touched for "
                          "features smaller than a pixel")
    rule = ("later features win" if not priority or kind != "labels"
            else "classes " + ", ".join(str(int(p)) for p in priority)
            + " win in that order, later features win otherwise")
    return VectorBurn(source=source, kind=kind, array=array, grid=grid, field=field,
                      n_features=n_features, n_empty=n_features - int(present.sum()),
                      n_outside=n_outside, rule=rule, all_touched=all_touched,
                      point_radius=point_radius)


def write_burn(result, path, *, schema=None):
    """Write a :class:`VectorBurn` on its grid (atomically): labels as a class raster with the
    schema's colour table (nodata 0), lines as a uint8 raster of 0/1. Returns the result with
    ``path`` set."""
    grid = result.grid
    if result.kind == "labels":
        # without a schema the glacier colours serve (the ids were checked when burning)
        write_class_raster(path, result.array, schema=schema or GLACIER, crs=grid.crs,
                           transform=grid.transform)
    else:
        write_image(path, result.array, crs=grid.crs, transform=grid.transform)
    result.path = Path(path)
    return result


def default_output(image, kind="labels"):
    """``SCLS_<stem>.tif`` (``EDGE_``, ``VM_`` for lines) beside ``image``."""
    image = Path(image)
    return image.with_name(f"{KINDS[kind]}{image.stem}.tif")


def burn_file(image, vectors, *, out=None, kind="labels", schema=None, **options):
    """``csc labels``: burn ``vectors`` onto the grid of ``image`` and write the raster to
    ``out`` (default: :func:`default_output`). ``options`` are those of :func:`burn`. Returns
    the :class:`VectorBurn`."""
    image = Path(image)
    result = burn(vectors, grid=raster_info(image), kind=kind, schema=schema, **options)
    out = Path(out) if out is not None else default_output(image, kind)
    write_burn(result, out, schema=schema)
    if out.parent.resolve() == image.parent.resolve():
        twins = [p for p in (out.with_suffix(s) for s in VECTOR_SUFFIXES) if p.exists()]
        if twins:
            note = (f"note: {twins[0].name} and {out.name} now both lie beside {image.name}; "
                    f"scene commands refuse two {KINDS[kind]} companions, so move one of them "
                    "away")
            result.notes += (note,)
    return result
