"""The ocean and glacier masks of a class map, after closing the unlabelled gaps manual labels
leave along class boundaries."""
import logging

import numpy as np
from scipy import ndimage as ndi

from csc.errors import FrontError

from CSC_Application.front.lines import pixel_size_xy
from CSC_Application.front.settings import AUTO_MIN_OCEAN_PIXELS, settings_or_default

log = logging.getLogger(__name__)

#: 8-connectivity.
EIGHT = np.ones((3, 3), dtype=bool)


def fill_gaps(class_map, *, settings=None):
    """Close thin unlabelled (0) gaps between classes, as manual labels leave along
    boundaries: ``settings.gap_fill`` times, every unlabelled pixel next to labelled ones takes
    the most frequent class among its 8 neighbours (ties: the lower id). Gaps up to
    ``2 × gap_fill`` pixels wide close in their middle; larger unlabelled areas (nodata) keep a
    rim of ``gap_fill`` filled pixels and stay unlabelled inside."""
    width = settings_or_default(settings).gap_fill
    out = np.array(class_map, dtype=np.uint8, copy=True)
    ids = [int(c) for c in np.unique(out) if c != 0]
    for _ in range(int(width)):
        gaps = out == 0
        if not gaps.any() or not ids:
            break
        best = np.zeros(out.shape, dtype=np.uint8)
        best_count = np.zeros(out.shape, dtype=np.uint8)
        for c in ids:
            count = ndi.convolve((out == c).astype(np.uint8), EIGHT.astype(np.uint8),
                                 mode="constant")
            better = count > best_count
            best[better], best_count[better] = c, count[better]
        fill = gaps & (best_count > 0)
        out[fill] = best[fill]
    return out


def ocean_min_pixels(pixel_size=None, *, settings=None):
    """Minimum ocean-region size in pixels: ``settings.min_ocean_pixels`` when set, else
    ``settings.min_ocean_km2`` converted with the pixel size, else
    :data:`~CSC_Application.front.settings.AUTO_MIN_OCEAN_PIXELS`."""
    settings = settings_or_default(settings)
    if settings.min_ocean_pixels is not None:
        return float(settings.min_ocean_pixels)
    xy = pixel_size_xy(pixel_size)
    if xy is None:
        log.info("raster is not georeferenced: minimum ocean region %d pixels "
                 "(set min_ocean_pixels to change it)", AUTO_MIN_OCEAN_PIXELS)
        return float(AUTO_MIN_OCEAN_PIXELS)
    return float(settings.min_ocean_km2) * 1e6 / (xy[0] * xy[1])


def ocean_mask(class_map, *, schema, min_pixels):
    """The cleaned ocean: ocean classes, only the largest border-touching region, regions of at
    least ``min_pixels``, holes filled. Raises :class:`FrontError` when nothing is left."""
    if not schema.ocean_ids:
        raise FrontError(f"class schema {schema.name!r} names no ocean classes (role 'ocean'); "
                         "a calving front needs them — give the classes roles (the role column "
                         "of the class CSV of csc tiles --classes or csc front --classes)")
    ocean = np.isin(class_map, schema.ocean_ids)
    if not ocean.any():
        raise FrontError("the class map holds no ocean pixels (classes "
                         f"{class_names(schema, schema.ocean_ids)}), so there is no calving "
                         "front")
    labels, n = ndi.label(ocean, structure=EIGHT)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    keep = np.ones(n + 1, dtype=bool)
    keep[0] = False
    if len(border) > 1:
        keep[border[border != border[np.argmax(sizes[border])]]] = False
    keep &= sizes >= min_pixels
    if not keep.any():
        raise FrontError(f"no ocean region reaches the minimum size of {min_pixels:g} pixels "
                         f"(largest: {int(sizes[1:].max())} pixels); lower --min-ocean-km2 "
                         "(or --min-ocean-pixels for a raster without georeferencing) of csc "
                         "front")
    return ndi.binary_fill_holes(keep[labels])


def glacier_mask(class_map, *, schema):
    """The largest connected region of the glacier class, holes filled."""
    if schema.glacier_id is None:
        raise FrontError(f"class schema {schema.name!r} names no glacier class (role 'glacier'); "
                         "a calving front needs one — give the classes roles (the role column "
                         "of the class CSV of csc tiles --classes or csc front --classes)")
    glacier = np.asarray(class_map) == schema.glacier_id
    if not glacier.any():
        raise FrontError(f"the class map holds no {schema.name_of(schema.glacier_id)!r} pixels "
                         f"(class {schema.glacier_id}), so there is no calving front")
    labels, n = ndi.label(glacier, structure=EIGHT)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    return ndi.binary_fill_holes(labels == np.argmax(sizes))


def drop_small(mask, min_pixels):
    """``mask`` without its 8-connected regions of fewer than ``min_pixels`` pixels."""
    labels, n = ndi.label(mask, structure=EIGHT)
    keep = np.bincount(labels.ravel(), minlength=n + 1) >= min_pixels
    keep[0] = False
    return keep[labels]


def class_names(schema, ids):
    """``"1 open water, 3 melange"``: class ids with their names, for messages."""
    return ", ".join(f"{i} {schema.name_of(i)}" for i in ids)
