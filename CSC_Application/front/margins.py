"""Valley margins: the outlines of the rock classes of a class map, traced like the calving
front and validated against a manual margin raster (``VM_<stem>``) with the same distance
statistics."""
import dataclasses

import numpy as np

from csc.errors import FrontError

from CSC_Application.front.lines import (TracedLines, boundary_runs, path_length, pixel_size_xy,
                                         runs_mask, split_runs)
from CSC_Application.front.masks import drop_small
from CSC_Application.front.settings import (AUTO_MIN_MARGIN_LENGTH_M, AUTO_MIN_MARGIN_LENGTH_PX,
                                            AUTO_MIN_ROCK_PIXELS, settings_or_default)


@dataclasses.dataclass
class MarginResult(TracedLines):
    """Rock-class outlines: ordered (row, col) runs ``lines`` and their raster ``mask``."""

    mask: np.ndarray
    lines: list
    pixel_size: tuple = None


def extract_margins(class_map, *, schema, pixel_size=None, settings=None):
    """Outlines of the rock classes (role ``rock``) longer than a minimum length, as the pixels
    just outside the rock (on the glacier side, like a manual margin drawn along the ice edge)
    where they are neither ocean (a coast is no valley margin) nor unlabelled.

    The length threshold is ``settings.min_margin_length``, in metres with a ``pixel_size``
    (default :data:`~CSC_Application.front.settings.AUTO_MIN_MARGIN_LENGTH_M`) and in pixels
    without (default :data:`~CSC_Application.front.settings.AUTO_MIN_MARGIN_LENGTH_PX`).
    Outline stretches along the image border are left out. Rock regions and gaps in rock
    smaller than ``min_rock_pixels`` (default: ``min_rock_km2`` converted with the pixel size,
    or :data:`~CSC_Application.front.settings.AUTO_MIN_ROCK_PIXELS`) are removed first, so
    classification speckle draws no margins. Raises :class:`FrontError` when the schema or the
    map holds no rock, or no outline is long enough."""
    s = settings_or_default(settings)
    class_map = np.asarray(class_map)
    xy = pixel_size_xy(pixel_size)
    if not schema.rock_ids:
        raise FrontError(f"class schema {schema.name!r} names no rock classes (role 'rock'); "
                         "valley margins need them")
    rock = np.isin(class_map, schema.rock_ids)
    if not rock.any():
        raise FrontError("the class map holds no rock pixels, so there are no valley margins")
    # the glacier-side pixels of the rock outline, leaving out coasts (rock against ocean) and
    # unlabelled gaps: a valley margin is where the glacier meets its valley walls
    min_rock_pixels = s.min_rock_pixels
    if min_rock_pixels is None:
        min_rock_pixels = (AUTO_MIN_ROCK_PIXELS if xy is None
                           else s.min_rock_km2 * 1e6 / (xy[0] * xy[1]))
    if min_rock_pixels > 0:
        rock = drop_small(rock, min_rock_pixels)
        rock = ~drop_small(~rock, min_rock_pixels)
    if not rock.any():
        raise FrontError(f"every rock region is smaller than {min_rock_pixels:g} pixels "
                         "(speckle), so there are no valley margins")
    runs = boundary_runs(rock, side="outside")
    beside = ~np.isin(class_map, list(schema.ocean_ids) + [0])
    runs = split_runs(runs, beside)
    threshold = s.min_margin_length
    if xy is not None:
        threshold = AUTO_MIN_MARGIN_LENGTH_M if threshold is None else threshold
        lengths, unit = [path_length(r, xy) for r in runs], "m"
    else:
        threshold = AUTO_MIN_MARGIN_LENGTH_PX if threshold is None else threshold
        lengths, unit = [path_length(r, (1.0, 1.0)) for r in runs], "px"
    lines = [r for r, length in zip(runs, lengths) if length >= threshold]
    if not lines:
        longest = max(lengths, default=0.0)
        raise FrontError(f"no rock outline reaches the minimum margin length of {threshold:g} "
                         f"{unit} (longest: {longest:.0f} {unit}); lower the minimum length")
    return MarginResult(mask=runs_mask(lines, class_map.shape), lines=lines, pixel_size=xy)
