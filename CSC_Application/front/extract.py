"""The calving front of a class map, and the class map with it burnt in.

The front is the longest contour of the refined glacier (the published script took the first
contour found, which is not necessarily the glacier outline), kept where it lies within
``front_buffer`` pixels of the ocean; the largest connected piece is the front. A front longer
than ``max_length_ratio`` × the image diagonal is rejected as implausible.
"""
import numpy as np
from scipy import ndimage as ndi
from skimage import morphology

from csc.errors import FrontError

from CSC_Application.front.lines import (FrontResult, boundary_runs, pixel_size_xy, runs_mask,
                                         split_runs)
from CSC_Application.front.masks import (EIGHT, fill_gaps, glacier_mask, ocean_mask,
                                         ocean_min_pixels)
from CSC_Application.front.refine import refine_glacier
from CSC_Application.front.settings import settings_or_default


def extract_front(class_map, *, schema, pixel_size=None, settings=None):
    """Find the calving front in a class map.

    ``pixel_size`` is the (x, y) pixel size in metres (or one number), None when the raster is
    not georeferenced; it converts ``settings.min_ocean_km2`` into pixels unless
    ``min_ocean_pixels`` is set. Unlabelled gaps up to ``2 × gap_fill`` pixels wide (manual
    labels leave them along class boundaries) are closed first with :func:`fill_gaps`; the
    glacier is refined with :func:`refine_glacier`; the front is the refined outline within
    ``front_buffer`` pixels of the ocean; one longer than ``max_length_ratio`` × the image
    diagonal is rejected. ``settings`` is a :class:`FrontSettings` (None: the defaults).

    Returns a :class:`FrontResult`; raises :class:`FrontError` saying why when there is no
    front (no ocean, no glacier, the two do not meet, or an implausible front)."""
    s = settings_or_default(settings)
    class_map = np.asarray(class_map)
    if class_map.ndim != 2:
        raise ValueError(f"class map must be 2-D, got shape {class_map.shape}")
    xy = pixel_size_xy(pixel_size)
    if s.gap_fill:
        class_map = fill_gaps(class_map, settings=s)
    ocean = ocean_mask(class_map, schema=schema, min_pixels=ocean_min_pixels(xy, settings=s))
    glacier = glacier_mask(class_map, schema=schema) & ~ocean
    if not glacier.any():
        raise FrontError("the glacier lies entirely inside the ocean after hole filling; "
                         "check the class map")
    refined = refine_glacier(glacier, settings=s)
    if not refined.any():
        raise FrontError("the active contour removed the whole glacier; use fewer "
                         "--iterations or a smaller --sigma (csc front)")
    near_ocean = ocean
    if s.front_buffer > 0:
        near_ocean = ndi.binary_dilation(ocean, morphology.disk(s.front_buffer))
    runs = split_runs(boundary_runs(refined, longest=True), near_ocean)
    if not runs:
        raise FrontError("the glacier and the ocean do not meet (no glacier outline within "
                         f"{s.front_buffer} pixels of the ocean); the scene may show no calving "
                         "front, or widen csc front --front-buffer")
    candidates = runs_mask(runs, class_map.shape)
    pieces, n = ndi.label(candidates, structure=EIGHT)
    largest = np.argmax(np.bincount(pieces.ravel(), minlength=n + 1)[1:]) + 1
    front = pieces == largest
    lines = [r for r in split_runs(runs, front) if len(r)]
    result = FrontResult(mask=front, lines=lines, glacier=refined, ocean=ocean, pixel_size=xy)
    diagonal = float(np.hypot(*class_map.shape))
    if result.length_px > s.max_length_ratio * diagonal:
        raise FrontError(f"the front found is {result.length_px:.0f} pixels long, longer than "
                         f"{s.max_length_ratio:g} × the image diagonal ({diagonal:.0f} pixels); "
                         "it is implausible (the ocean/glacier classes are probably fragmented)"
                         " and was rejected")
    return result


def burn_front(class_map, result, *, schema):
    """The class map with the refined glacier burnt in as glacier ice and the front as the
    schema's front class. Pixels of any class that is not an ocean class (rock, snow, …) are
    preserved; only ocean and unlabelled pixels inside the refined glacier become glacier
    ice."""
    out = np.array(class_map, dtype=np.uint8, copy=True)
    replace = result.glacier & (np.isin(out, schema.ocean_ids) | (out == 0))
    out[replace] = schema.glacier_id
    if schema.front_id is not None:
        out[result.mask] = schema.front_id
    return out
