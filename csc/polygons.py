"""Class maps as polygons: one feature per connected region of one class, strip by strip.

A region is a 4-connected set of pixels of one class (GDAL's polygonize rule, and the one
:func:`rasterio.features.rasterize` inverts): its polygon follows the pixel edges exactly,
holes included, so burning the polygons back by ``class_id`` on the same grid gives the map
again. Nodata (0) makes no polygon.

Memory stays that of a strip, whatever the map's size (:func:`class_regions`): each strip's
regions are labelled (:func:`skimage.measure.label`) and polygonised
(:func:`rasterio.features.shapes`, on the labels, so each region is one polygon). A region that
touches neither seam of its strip is finished at once. Pieces that touch a seam are kept;
pieces on both sides of a seam are joined (union-find) where pixels of the same class face
each other across it, and a group is dissolved (:func:`shapely.unary_union`) and finished as
soon as none of its pieces touches the seam below. Only the regions that cross the current
seam are ever held, and the polygons are written to the GeoPackage strip by strip
(:func:`write_class_polygons`).

Coordinates are in the raster's CRS through its affine transform; without georeferencing they
are pixel coordinates (x = column, y = row, downwards, as the front GeoJSON's). Areas are m²
(``area_m2``) in a projected CRS, else pixels (``area_px``): degrees are not metres.
"""
import dataclasses
import logging
import warnings
from pathlib import Path

import numpy as np
import psutil
import shapely
from affine import Affine
from rasterio.errors import CRSError
from rasterio.features import shapes
from skimage.measure import label as label_regions

from csc.options import CLASSIFY
from csc.pixels import STRIP_BUDGET

log = logging.getLogger(__name__)

#: Layers of ``<stem>_classes.gpkg``.
CLASSES_LAYER = "classes"
GLACIER_LAYER = "glacier_outline"
FRONT_LAYER = "calving_front"
MARGINS_LAYER = "valley_margins"
#: Bytes a pixel of a strip costs while it is polygonised: the class strip, its labels (int64
#: from scikit-image, int32 for GDAL), GDAL's copy of them, the masks, and the strip's polygons
#: as GDAL, Python and shapely objects (about 40 measured by benchmarks/polygons.py, plus the
#: pieces held across seams and the GeoPackage writer: the budget is not exceeded by much).
STRIP_BYTES_PER_PIXEL = 64


# --- units ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AreaUnit:
    """How areas and tolerances of a grid are measured: ``m2`` in a projected CRS, else ``px``.

    ``pixel_area`` is one pixel's area in that unit; ``length`` one length unit (a metre, or a
    pixel's side) in CRS coordinates."""

    name: str
    pixel_area: float
    length: float

    @property
    def column(self):
        return f"area_{self.name}"


def area_unit(*, crs=None, transform=None):
    """The :class:`AreaUnit` of a grid: square metres when ``crs`` is projected (its linear
    unit converted to metres), else pixels (no CRS, a geographic CRS, or no transform)."""
    transform = transform if transform is not None else Affine.identity()
    side = float(np.sqrt(abs(transform.determinant))) or 1.0
    if crs is not None and not transform.is_identity and getattr(crs, "is_projected", False):
        try:
            metres = float(crs.linear_units_factor[1])
        except CRSError:  # a CRS without linear units: keep pixels
            metres = None
        if metres:
            return AreaUnit("m2", abs(transform.determinant) * metres ** 2, 1.0 / metres)
    if crs is not None and getattr(crs, "is_geographic", False):
        log.warning("CRS %s is geographic; polygon areas are in pixels (reproject to a projected "
                    "CRS such as UTM for m²)", crs)
    return AreaUnit("px", 1.0, side)


def polygon_strip_rows(width, *, budget=None):
    """Rows polygonised at a time: one strip within ``budget`` bytes (default a tenth of the
    available memory, within :data:`csc.pixels.STRIP_BUDGET`), 64 to 8192 rows."""
    if budget is None:
        low, high = STRIP_BUDGET
        budget = min(max(psutil.virtual_memory().available // 10, low), high)
    rows = int(budget // (max(1, int(width)) * STRIP_BYTES_PER_PIXEL))
    return int(min(max(rows, 64), 8192))


def check_polygon_options(*, min_area, simplify):
    """``(min_area, simplify)`` checked by the rules of the option table (numbers ≥ 0), or
    ``OptionError``."""
    return CLASSIFY["min_area"].check(min_area), CLASSIFY["simplify"].check(simplify)


# --- regions strip by strip -----------------------------------------------------------------------

@dataclasses.dataclass
class Regions:
    """Finished regions: ``class_id`` (uint8), ``pixels`` (int64) and ``geometry`` (shapely
    Polygons in pixel coordinates: x = column, y = row), one entry per region."""

    class_id: np.ndarray
    pixels: np.ndarray
    geometry: np.ndarray

    def __len__(self):
        return len(self.class_id)


class _Pieces:
    """Pieces of regions cut by a seam, joined by union-find until their region is finished."""

    def __init__(self):
        self.parent = {}
        self.piece = {}   # id -> (class id, pixels, polygon, its strip's (first, stop) rows)

    def add(self, gid, class_id, pixels, polygon, rows):
        self.parent[gid] = gid
        self.piece[gid] = (class_id, pixels, polygon, rows)

    def find(self, gid):
        root = gid
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[gid] != root:   # path compression
            self.parent[gid], gid = root, self.parent[gid]
        return root

    def join(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def finish(self, open_ids):
        """Dissolve and remove every group none of whose pieces is in ``open_ids``; returns
        ``[(class id, pixels, polygon)]`` in the order of the groups' first pieces."""
        open_roots = {self.find(g) for g in open_ids}
        groups = {}
        for gid in self.piece:
            root = self.find(gid)
            if root not in open_roots:
                groups.setdefault(root, []).append(gid)
        done = []
        for members in groups.values():
            class_id = self.piece[members[0]][0]
            pixels = sum(self.piece[g][1] for g in members)
            polygon = (self.piece[members[0]][2] if len(members) == 1 else
                       _dissolve([self.piece[g][2:] for g in members]))
            done.append((class_id, pixels, polygon))
            for g in members:
                del self.piece[g]
        for gid in [g for g in self.parent if g not in self.piece]:
            del self.parent[gid]
        return done


def _dissolve(pieces):
    """One polygon from the ``(polygon, (first, stop) rows of its strip)`` pieces of a region
    cut by seams; they share edges along the seams only. Holes that touch no seam row of their
    strip cannot change, so only the outlines and the holes at seams are dissolved
    (:func:`shapely.unary_union`) and the others put back as they are: an ocean region holds
    thousands of icebergs as holes. The seams' vertices, now collinear, are dropped."""
    outlines, kept = [], []
    for polygon, (first, stop) in pieces:
        rings = shapely.get_rings(polygon)
        holes = rings[1:]
        bounds = shapely.bounds(holes)
        inside = (bounds[:, 1] > first) & (bounds[:, 3] < stop)
        outlines.append(shapely.Polygon(rings[0], list(holes[~inside])))
        kept.append(holes[inside])
    merged = shapely.unary_union(outlines)
    if merged.geom_type != "Polygon":   # pieces of one 4-connected region share edges
        raise RuntimeError(f"pieces of one region dissolved into a {merged.geom_type}")
    merged = shapely.simplify(merged, 0.0)
    return shapely.Polygon(merged.exterior, [*merged.interiors, *np.concatenate(kept)])


def _lut(classes, merge):
    """A 256-entry uint8 table giving each pixel value its polygon class (0 = none)."""
    lut = np.arange(256, dtype=np.uint8)
    if classes is not None:
        keep = np.zeros(256, dtype=bool)
        keep[list(classes)] = True
        lut[~keep] = 0
    for source, target in (merge or {}).items():
        lut[int(source)] = int(target)
    lut[0] = 0
    return lut


def _object_array(items):
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def _polygonise(labels, *, row_offset):
    """``(values, polygons)``: the region id and polygon (pixel coordinates, the strip starting
    at ``row_offset``) of every labelled region of one strip, one polygon per region (each is
    4-connected). The GeoJSON-like rings of :func:`rasterio.features.shapes` become shapely
    polygons in bulk (one array of coordinates, rings and polygons built by index)."""
    values, coords, ring_sizes, rings_per_polygon = [], [], [], []
    for geometry, value in shapes(labels, mask=labels > 0, connectivity=4,
                                  transform=Affine.translation(0, row_offset)):
        values.append(int(value))
        rings = geometry["coordinates"]
        rings_per_polygon.append(len(rings))
        for ring in rings:
            ring_sizes.append(len(ring))
            coords.extend(ring)
    if not values:
        return np.zeros(0, np.int64), np.zeros(0, dtype=object)
    rings = shapely.linearrings(np.asarray(coords, dtype=np.float64),
                                indices=np.repeat(np.arange(len(ring_sizes)), ring_sizes))
    polygons = shapely.polygons(rings, indices=np.repeat(np.arange(len(values)),
                                                         rings_per_polygon))
    return np.asarray(values, dtype=np.int64), polygons


def class_regions(class_map, *, strip_rows=None, classes=None, merge=None):
    """The regions of ``class_map`` (2-D, 0 = nodata), polygonised strip by strip: yields one
    :class:`Regions` per strip holding the regions finished there (exact pixel edges, pixel
    coordinates). ``classes`` limits the classes polygonised (default all); ``merge`` maps a
    class onto another first (``{front_id: glacier_id}`` makes the front part of the glacier).
    ``strip_rows`` defaults to :func:`polygon_strip_rows`."""
    class_map = np.asarray(class_map)
    if class_map.ndim != 2:
        raise ValueError(f"class map must be 2-D, got shape {class_map.shape}")
    height, width = class_map.shape
    strip_rows = int(strip_rows or polygon_strip_rows(width))
    lut = _lut(classes, merge)
    pieces = _Pieces()
    offset = 0
    above = above_class = None   # region ids and classes of the row above the strip
    for r0 in range(0, height, strip_rows):
        r1 = min(r0 + strip_rows, height)
        strip = lut[class_map[r0:r1]]
        labels, n = label_regions(strip, background=0, connectivity=1, return_num=True)
        labels = labels.astype(np.int32)
        region_class = np.zeros(n + 1, dtype=np.uint8)
        region_class[labels.ravel()] = strip.ravel()
        counts = np.bincount(labels.ravel(), minlength=n + 1)
        top = np.unique(labels[0]) if r0 > 0 else np.zeros(0, np.int32)
        bottom = np.unique(labels[-1]) if r1 < height else np.zeros(0, np.int32)
        cut = np.zeros(n + 1, dtype=bool)
        cut[top] = cut[bottom] = True
        cut[0] = False
        values, polygons = _polygonise(labels, row_offset=r0)
        whole = ~cut[values]
        finished = list(zip(region_class[values[whole]].tolist(),
                            counts[values[whole]].tolist(), polygons[whole]))
        for value, polygon in zip(values[~whole].tolist(), polygons[~whole]):
            pieces.add(offset + value, int(region_class[value]), int(counts[value]), polygon,
                       (r0, r1))
        if above is not None:
            row = labels[0]
            facing = (row > 0) & (region_class[row] == above_class)
            for a, b in set(zip(above[facing].tolist(), (row[facing] + offset).tolist())):
                pieces.join(a, b)
        bottom_ids = [int(v) + offset for v in bottom if v]
        finished.extend(pieces.finish(bottom_ids))
        above = np.where(labels[-1] > 0, labels[-1] + offset, 0)
        above_class = region_class[labels[-1]]
        offset += n
        if finished:
            class_id, pixels, polygons = zip(*finished)
            yield Regions(np.array(class_id, dtype=np.uint8), np.array(pixels, dtype=np.int64),
                          _object_array(polygons))
    if pieces.piece:   # cannot happen: the last strip has no seam below
        raise RuntimeError(f"{len(pieces.piece)} region pieces were left unfinished")


def to_crs_coordinates(geometry, transform):
    """Pixel-coordinate geometries (x = column, y = row) through the affine ``transform``."""
    if transform is None or Affine(*transform[:6]).is_identity:
        return geometry
    a, b, c, d, e, f = transform[:6]

    def apply(xy):
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack([a * x + b * y + c, d * x + e * y + f])

    return shapely.transform(geometry, apply)


def simplify_polygons(geometry, tolerance):
    """Polygons simplified (Douglas–Peucker) with ``tolerance`` in their coordinates' units,
    each kept valid and whole: no ring moves by more than ``tolerance``, none crosses another,
    none vanishes.

    Each ring is simplified on its own as a topology-preserving polygon (fast: GEOS's
    topology-preserving simplification of one polygon slows down with its number of rings, and
    an ocean region holds thousands of icebergs as holes). Where simplified rings of a polygon
    then meet, those rings keep their exact edges; a polygon still invalid after that is
    simplified whole with ``preserve_topology``."""
    geometry = np.asarray(geometry, dtype=object)
    if not len(geometry):
        return geometry
    rings, index = shapely.get_rings(geometry, return_index=True)
    simple = shapely.get_exterior_ring(
        shapely.simplify(shapely.polygons(rings), tolerance, preserve_topology=True))
    out = shapely.polygons(simple, indices=index)
    bad = np.flatnonzero(~shapely.is_valid(out))
    starts = np.searchsorted(index, np.arange(len(geometry) + 1))
    for i in bad:
        exact, ring = rings[starts[i]:starts[i + 1]], simple[starts[i]:starts[i + 1]].copy()
        tree = shapely.STRtree(ring)
        a, b = tree.query(ring, predicate="intersects")
        meet = np.unique(np.concatenate([a[a != b], b[a != b]]))
        ring[meet] = exact[meet]
        polygon = shapely.Polygon(ring[0], ring[1:])
        out[i] = polygon if polygon.is_valid else shapely.simplify(
            geometry[i], tolerance, preserve_topology=True)
    return out


# --- GeoPackage -----------------------------------------------------------------------------------

def regions_frame(regions, *, schema, transform=None, crs=None, unit=None, simplify=0.0):
    """A GeoDataFrame of :class:`Regions`: ``class_id``, ``class_name``, ``area_m2`` (or
    ``area_px``: the region's pixels times a pixel's area, exact whatever the simplification)
    and the polygons in CRS coordinates, simplified with a tolerance of ``simplify`` metres
    (pixels for ``area_px``) when > 0 (:func:`simplify_polygons`)."""
    import geopandas

    unit = unit or area_unit(crs=crs, transform=transform)
    geometry = to_crs_coordinates(regions.geometry, transform)
    if simplify > 0:
        geometry = simplify_polygons(geometry, simplify * unit.length)
    names = np.array([schema.name_of(c) for c in range(256)], dtype=object)
    return geopandas.GeoDataFrame(
        {"class_id": regions.class_id.astype(np.int32),
         "class_name": names[regions.class_id],
         unit.column: regions.pixels * unit.pixel_area},
        geometry=geometry, crs=crs)


def _write_layer(path, frame, *, layer, geometry_type, append):
    import pyogrio

    with warnings.catch_warnings():   # no CRS: the raster had none, and a warning said so
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG", append=append,
                                geometry_type=geometry_type, promote_to_multi=False)


def write_class_polygons(path, class_map, *, schema, transform=None, crs=None, min_area=0.0,
                         simplify=0.0, strip_rows=None, layer=CLASSES_LAYER, classes=None,
                         merge=None, append=False):
    """Write the regions of ``class_map`` as polygon layer ``layer`` of the GeoPackage
    ``path`` (created, or a layer added with ``append``), strip by strip
    (:func:`class_regions`). Regions smaller than ``min_area`` (m², or pixels without a
    projected CRS; 0 keeps all) are left out — the map itself is never changed, so a region
    left out is a gap in the layer (or a hole of the region around it). ``simplify`` is the
    edge tolerance in metres (pixels); 0 keeps the exact pixel edges, which tile the map
    without gaps or overlaps (a simplified polygon keeps its own topology, but neighbours may
    then overlap or part by up to the tolerance). Returns ``{"layer", "features",
    "dropped", "area_unit"}``."""
    min_area, simplify = check_polygon_options(min_area=min_area, simplify=simplify)
    unit = area_unit(crs=crs, transform=transform)
    written = dropped = 0
    first = True
    for regions in class_regions(class_map, strip_rows=strip_rows, classes=classes,
                                 merge=merge):
        if min_area > 0:
            keep = regions.pixels * unit.pixel_area >= min_area
            dropped += int((~keep).sum())
            regions = Regions(regions.class_id[keep], regions.pixels[keep],
                              regions.geometry[keep])
        if not len(regions):
            continue
        frame = regions_frame(regions, schema=schema, transform=transform, crs=crs, unit=unit,
                              simplify=simplify)
        _write_layer(path, frame, layer=layer, geometry_type="Polygon",
                     append=append or not first)
        first = False
        written += len(regions)
    if first:   # no region at all: the layer still exists, empty
        empty = regions_frame(Regions(np.zeros(0, np.uint8), np.zeros(0, np.int64),
                                      np.zeros(0, dtype=object)),
                              schema=schema, transform=transform, crs=crs, unit=unit)
        _write_layer(path, empty, layer=layer, geometry_type="Polygon", append=append)
    return {"layer": layer, "features": written, "dropped": dropped, "area_unit": unit.name}


def write_lines_layer(path, lines_path, *, layer, crs=None, append=True):
    """Add the lines of a GeoJSON file (the front's or the valley margins') as layer ``layer``
    of the GeoPackage ``path``, in ``crs`` (the raster's: GeoJSON without a ``crs`` member
    would otherwise be read as WGS 84). Returns ``{"layer", "features"}``."""
    import geopandas
    import pyogrio

    frame = pyogrio.read_dataframe(lines_path)
    frame = geopandas.GeoDataFrame(frame.drop(columns="geometry"),
                                   geometry=np.asarray(frame.geometry.values), crs=crs)
    _write_layer(path, frame, layer=layer, geometry_type=None, append=append)
    return {"layer": layer, "features": len(frame)}


def class_gpkg(path, class_map, *, schema, transform=None, crs=None, min_area=0.0,
               simplify=0.0, glacier=False, lines=None, strip_rows=None):
    """The GeoPackage of a scene's class map: layer :data:`CLASSES_LAYER` (every region,
    :func:`write_class_polygons`); with ``glacier`` (the front step burnt the refined glacier
    in) :data:`GLACIER_LAYER`, the glacier-ice regions with the front pixels merged in; and
    each ``{layer: GeoJSON path}`` of ``lines`` as a line layer. Returns the layers written
    (a list of dicts)."""
    path = Path(path)
    options = {"schema": schema, "transform": transform, "crs": crs, "strip_rows": strip_rows}
    layers = [write_class_polygons(path, class_map, min_area=min_area, simplify=simplify,
                                   **options)]
    if glacier and schema.glacier_id is not None:
        merge = {schema.front_id: schema.glacier_id} if schema.front_id is not None else None
        layers.append(write_class_polygons(path, class_map, layer=GLACIER_LAYER,
                                           classes=[schema.glacier_id], merge=merge,
                                           simplify=simplify, append=True, **options))
    for layer, lines_path in (lines or {}).items():
        layers.append(write_lines_layer(path, lines_path, layer=layer, crs=crs))
    return layers
