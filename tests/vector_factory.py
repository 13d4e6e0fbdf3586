"""Helpers that write small vector files (GeoPackage, Shapefile, GeoJSON) over the test
rasters' grid, as a glaciologist would draw them in QGIS."""
import warnings

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio.features import shapes

from raster_factory import UTM_24N

#: The grid of the ``make_raster`` / ``make_scene`` fixtures: 10 m pixels from (500000, 7400000).
GRID = Affine(10, 0, 500000, 0, -10, 7400000)
WGS84 = "EPSG:4326"


def pixel_point(row, col, transform=GRID):
    """The centre of pixel (row, col) in the grid's CRS."""
    return shapely.Point(transform @ (col + 0.5, row + 0.5))


def pixel_box(row0, col0, row1, col1, transform=GRID):
    """The rectangle covering rows row0..row1-1 and cols col0..col1-1 (pixel edges)."""
    (x0, y0), (x1, y1) = transform @ (col0, row0), transform @ (col1, row1)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def frame(geometries, *, crs=UTM_24N, **columns):
    """A GeoDataFrame of ``geometries`` (in ``crs``) with the attribute ``columns``."""
    return gpd.GeoDataFrame(dict(columns), geometry=list(geometries),
                            crs=None if crs is None else crs)


def write_vectors(path, geometries, *, crs=UTM_24N, to_crs=None, layer=None, **columns):
    """Write ``geometries`` (given in ``crs``) with ``columns`` to ``path`` (driver from the
    suffix), reprojected to ``to_crs`` first when given; ``crs=None`` writes no CRS."""
    gdf = frame(geometries, crs=crs, **columns)
    if to_crs is not None:
        gdf = gdf.to_crs(to_crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # "'crs' was not provided"
        gdf.to_file(path, layer=layer)
    return path


def polygons_of(labels, *, transform=GRID, crs=UTM_24N):
    """The class regions of a label raster as polygons with a field ``class`` (as QGIS's
    Polygonize would draw them), unlabelled pixels left out."""
    labels = np.asarray(labels, dtype=np.uint8)
    found = [(shapely.geometry.shape(geom), int(value))
             for geom, value in shapes(labels, mask=labels > 0, transform=transform)]
    return frame([g for g, _ in found], crs=crs, **{"class": [v for _, v in found]})
