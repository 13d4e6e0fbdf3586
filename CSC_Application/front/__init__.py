"""Calving-front extraction from a class map, and its validation against a manual front.

The method follows Marochov et al. (2021):

1. **Ocean** — the ocean classes (role ``ocean``: open water, iceberg water, melange). Of the
   ocean regions that touch the image border only the largest is kept; regions smaller than a
   minimum area (km², converted with the raster's real pixel size) are dropped; holes (icebergs
   mapped as glacier ice) are filled (:mod:`.masks`).
2. **Glacier** — the largest connected region of the glacier class (role ``glacier``), holes
   filled (:mod:`.masks`).
3. **Refinement** — the glacier outline is refined by a morphological geodesic active contour
   (:mod:`.refine`).
4. **Front** — the longest contour of the refined glacier (:mod:`.lines`), where it lies within
   a few pixels of the ocean; the largest connected piece is the front (:mod:`.extract`).

Valley margins (the rock outlines on the glacier side) are traced the same way
(:mod:`.margins`). Distances to a manual line (``EDGE_<stem>``, ``VM_<stem>``) are
nearest-neighbour distances in metres from the raster's own pixel size (:mod:`.distances`).
Every tunable is a field of :class:`FrontSettings`, built from the option table :data:`FRONT`
(:mod:`.settings`).

:func:`extract_front` and :func:`front_errors` are pure array functions; :func:`front_outputs`
writes the GeoJSON, JSON, CSV and histogram of one scene and is what phase two calls;
:func:`front_file` does the same for a class raster on disk (``csc front``) (:mod:`.outputs`).
"""
from CSC_Application.front.distances import (distance_stats, front_errors, line_distances,
                                             line_pixels)
from CSC_Application.front.extract import burn_front, extract_front
from CSC_Application.front.lines import (FrontResult, TracedLines, boundary_runs,
                                         metric_pixel_size, path_length, pixel_size_xy,
                                         runs_mask, split_runs)
from CSC_Application.front.margins import MarginResult, extract_margins
from CSC_Application.front.masks import (drop_small, fill_gaps, glacier_mask, ocean_mask,
                                         ocean_min_pixels)
from CSC_Application.front.outputs import (crs_name, describe, front_file, front_outputs,
                                           lines_geojson, margin_outputs, read_line_raster,
                                           stem_of,
                                           write_errors)
from CSC_Application.front.refine import refine_glacier
from CSC_Application.front.settings import (AUTO_MIN_MARGIN_LENGTH_M, AUTO_MIN_MARGIN_LENGTH_PX,
                                            AUTO_MIN_OCEAN_PIXELS, AUTO_MIN_ROCK_PIXELS, FRONT,
                                            FrontSettings)

__all__ = [
    # settings
    "FRONT", "FrontSettings", "AUTO_MIN_OCEAN_PIXELS", "AUTO_MIN_MARGIN_LENGTH_M",
    "AUTO_MIN_MARGIN_LENGTH_PX", "AUTO_MIN_ROCK_PIXELS",
    # entry points
    "describe", "front_file", "front_outputs", "margin_outputs", "extract_front", "burn_front",
    "extract_margins",
    # results and lines
    "FrontResult", "MarginResult", "TracedLines", "boundary_runs", "split_runs", "runs_mask",
    "path_length", "pixel_size_xy", "metric_pixel_size",
    # masks and refinement
    "fill_gaps", "ocean_mask", "glacier_mask", "ocean_min_pixels", "drop_small",
    "refine_glacier",
    # distances
    "front_errors", "distance_stats", "line_distances", "line_pixels",
    # files
    "lines_geojson", "crs_name", "read_line_raster", "write_errors", "stem_of",
]
