"""Valley margins: the outlines of the rock classes of a class map, validated against a manual
margin raster (``VM_<stem>``) with the same distance statistics as the calving front."""
import dataclasses
import logging
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from csc.errors import FrontError
from csc.files import write_json

from CSC_Application.front import (TracedLines, _path_length, _pixel_size_xy, _split_runs,
                                   _write_errors, boundary_runs, front_errors, lines_geojson,
                                   metric_pixel_size, read_line_raster, runs_mask)

log = logging.getLogger(__name__)

#: Shortest margin kept, in metres (georeferenced) or pixels (not georeferenced).
DEFAULT_MIN_LENGTH_M = 500.0
DEFAULT_MIN_LENGTH_PX = 50.0
#: Rock regions (and gaps in rock) smaller than this are speckle, not valley walls.
DEFAULT_MIN_ROCK_KM2 = 0.05
DEFAULT_MIN_ROCK_PIXELS = 500


@dataclasses.dataclass
class MarginResult(TracedLines):
    """Rock-class outlines: ordered (row, col) runs ``lines`` and their raster ``mask``."""

    mask: np.ndarray
    lines: list
    pixel_size: tuple = None


def drop_small(mask, min_pixels):
    """``mask`` without its 8-connected regions of fewer than ``min_pixels`` pixels."""
    labels, n = ndi.label(mask, structure=np.ones((3, 3), dtype=bool))
    keep = np.bincount(labels.ravel(), minlength=n + 1) >= min_pixels
    keep[0] = False
    return keep[labels]


def extract_margins(class_map, *, schema, pixel_size=None, min_length_m=None,
                    min_length_px=None, min_rock_km2=DEFAULT_MIN_ROCK_KM2,
                    min_rock_pixels=None):
    """Outlines of the rock classes (role ``rock``) longer than a minimum length, as the pixels
    just outside the rock (on the glacier side, like a manual margin drawn along the ice edge)
    where they are neither ocean (a coast is no valley margin) nor unlabelled.

    The length threshold is ``min_length_px`` pixels when given, else ``min_length_m`` metres
    (default :data:`DEFAULT_MIN_LENGTH_M`) with a ``pixel_size``, else
    :data:`DEFAULT_MIN_LENGTH_PX` pixels. Outline stretches along the image border are left
    out. Rock regions and gaps in rock smaller than ``min_rock_pixels`` (default:
    ``min_rock_km2`` converted with the pixel size, or :data:`DEFAULT_MIN_ROCK_PIXELS`) are
    removed first, so classification speckle draws no margins. Raises :class:`FrontError`
    when the schema or the map holds no rock, or no outline is long enough."""
    class_map = np.asarray(class_map)
    xy = _pixel_size_xy(pixel_size)
    if not schema.rock_ids:
        raise FrontError(f"class schema {schema.name!r} names no rock classes (role 'rock'); "
                         "valley margins need them")
    rock = np.isin(class_map, schema.rock_ids)
    if not rock.any():
        raise FrontError("the class map holds no rock pixels, so there are no valley margins")
    # the glacier-side pixels of the rock outline, leaving out coasts (rock against ocean) and
    # unlabelled gaps: a valley margin is where the glacier meets its valley walls
    if min_rock_pixels is None:
        min_rock_pixels = (DEFAULT_MIN_ROCK_PIXELS if xy is None
                           else min_rock_km2 * 1e6 / (xy[0] * xy[1]))
    if min_rock_pixels > 0:
        rock = drop_small(rock, min_rock_pixels)
        rock = ~drop_small(~rock, min_rock_pixels)
    if not rock.any():
        raise FrontError(f"every rock region is smaller than {min_rock_pixels:g} pixels "
                         "(speckle), so there are no valley margins")
    runs = boundary_runs(rock, side="outside")
    beside = ~np.isin(class_map, list(schema.ocean_ids) + [0])
    runs = _split_runs(runs, beside)
    if min_length_px is not None:
        lengths, threshold, unit = [_path_length(r, (1.0, 1.0)) for r in runs], min_length_px, "px"
    elif xy is not None:
        threshold = DEFAULT_MIN_LENGTH_M if min_length_m is None else min_length_m
        lengths, unit = [_path_length(r, xy) for r in runs], "m"
    else:
        lengths, threshold, unit = ([_path_length(r, (1.0, 1.0)) for r in runs],
                                    DEFAULT_MIN_LENGTH_PX, "px")
    lines = [r for r, length in zip(runs, lengths) if length >= threshold]
    if not lines:
        longest = max(lengths, default=0.0)
        raise FrontError(f"no rock outline reaches the minimum margin length of {threshold:g} "
                         f"{unit} (longest: {longest:.0f} {unit}); lower the minimum length")
    return MarginResult(mask=runs_mask(lines, class_map.shape), lines=lines, pixel_size=xy)


def margin_outputs(class_map, *, schema, info, stem, out_dir, margins_path, min_length_m=None,
                   min_length_px=None):
    """Extract the margins of one class map, compare them with the manual ``VM_`` raster and
    write ``<stem>_margins.json`` (``margins_found``, ``reason``, lengths and the distance
    statistics of :func:`CSC_Application.front.front_errors`), ``<stem>_margins.geojson`` and
    ``<stem>_margins_errors.csv`` / ``.png``. Returns the result dict; a map without margins is
    reported (``margins_found`` False and ``reason``), not raised."""
    out_dir = Path(out_dir)
    pixel_size = metric_pixel_size(info)
    manual = read_line_raster(margins_path, shape=np.shape(class_map), what="VM_",
                              class_path=info.path)
    result = {"stem": stem, "margins_found": False, "reason": None, "margins": str(margins_path),
              "pixel_size_m": None if pixel_size is None else list(pixel_size)}
    files = {}
    try:
        margins = extract_margins(class_map, schema=schema, pixel_size=pixel_size,
                                  min_length_m=min_length_m, min_length_px=min_length_px)
    except FrontError as exc:
        result["reason"] = str(exc)
        log.warning("%s: no valley margins: %s", stem, exc)
        margins = None
    if margins is not None:
        result.update(margins_found=True, length_m=margins.length_m,
                      length_px=margins.length_px, n_lines=len(margins.lines))
        result.update(front_errors(margins.mask, manual, pixel_size=pixel_size))
        files["geojson"] = out_dir / f"{stem}_margins.geojson"
        write_json(files["geojson"], lines_geojson(
            margins.lines, transform=info.transform if info.georeferenced else None,
            crs=info.crs if info.georeferenced else None, properties={"stem": stem}))
        files["errors_csv"], files["errors_png"] = _write_errors(
            stem, out_dir, margins.mask, manual, pixel_size, "margins")
    files["json"] = out_dir / f"{stem}_margins.json"
    result["files"] = {k: str(v) for k, v in files.items()}
    write_json(files["json"], result)
    return result
