"""Reading an image's valid pixels and classifying it strip by strip, for every learner.

Memory is bounded by the strip: a strip of rows is read with ``halo`` rows of true context
above and below (reflected beyond the raster edge, and left and right, exactly like
``numpy.pad(mode="reflect")``), scaled, passed to the learner's ``predict_proba``, and only its
class ids are kept (one byte per pixel).
"""
import logging

import numpy as np
import psutil

from csc.calibration import tempered
from csc.errors import BandError, EmptyTileSetError
from csc.rasters import Image, raster_info, read_image
from csc.scaling import Scaling, default_scaling
from csc.tiling import strips

log = logging.getLogger(__name__)

#: Rows read at a time when scanning a whole image.
SCAN_ROWS = 1024
#: Bounds of the memory one strip's buffers may take (a tenth of the available memory).
STRIP_BUDGET = (64 << 20, 256 << 20)


def auto_strip_rows(width, *, n_bands, n_classes, n_features=0, halo=0, budget=None,
                    local_prior=False):
    """Rows per strip keeping one strip's buffers within ``budget`` bytes: the scaled input
    with its halo and its padded copy (8 bytes a band), probabilities (4 a class), class ids
    and mask (8), and for feature learners the features (8 bytes each) and the band filters'
    temporaries (40 bytes a band), and with a ``local_prior`` its planes and their
    interpolation (12 bytes a class). The default budget is a tenth of the available memory,
    between 64 and 256 MB; at least 16 and at most 8192 rows. The network's activations are
    bounded separately (``CSC_Application.fcn.predict_blocks``)."""
    if budget is None:
        low, high = STRIP_BUDGET
        budget = min(max(psutil.virtual_memory().available // 10, low), high)
    per_pixel = 8 * int(n_bands) + (16 if local_prior else 4) * int(n_classes) + 8
    if n_features:
        per_pixel += 8 * int(n_features) + 40 * int(n_bands)
    rows = int(budget // (max(1, int(width)) * per_pixel)) - 2 * int(halo)
    return int(min(max(rows, 16), 8192))


def read_pixels(path, *, bands, scan_rows=SCAN_ROWS):
    """An image in its native dtype as one (rows, cols, bands) array, read strip by strip (no
    second full-size copy), with its validity mask (a read-only all-True view when an integer
    image has no nodata value)."""
    info = raster_info(path)
    bands = tuple(bands) if bands is not None else tuple(range(1, info.count + 1))
    dtype = np.dtype(info.dtype)
    data = np.empty((info.height, info.width, len(bands)), dtype=dtype)
    all_valid = info.nodata is None and dtype.kind != "f"
    valid = (np.broadcast_to(np.True_, (info.height, info.width)) if all_valid
             else np.empty((info.height, info.width), dtype=bool))
    for r0 in range(0, info.height, scan_rows):
        r1 = min(r0 + scan_rows, info.height)
        part = read_image(path, bands=bands, window=(r0, r1))
        data[r0:r1] = part.data
        if not all_valid:
            valid[r0:r1] = part.valid
    return Image(data=data, info=info, valid=valid, bands=bands)


def read_valid(path, *, bands, scan_rows=SCAN_ROWS):
    """The (rows, cols) validity mask of an image, read strip by strip (all True without a
    nodata value on an integer image)."""
    info = raster_info(path)
    if info.nodata is None and np.dtype(info.dtype).kind != "f":
        return np.ones(info.shape, dtype=bool)
    valid = np.empty(info.shape, dtype=bool)
    for s in strips(info.height, scan_rows, 0):
        valid[s.start:s.stop] = read_image(path, bands=bands, window=(s.start, s.stop)).valid
    return valid


def read_strip(source, strip, *, bands, scaling, halo):
    """Strip ``strip`` (a ``csc.tiling.Strip``) of an image, scaled and reflect-padded by
    ``halo`` on every side: ``(padded, valid)`` with ``valid`` the nodata mask of the strip's
    own rows. ``source`` is an image path, or an in-memory ``Image`` already read."""
    if isinstance(source, Image):
        data = source.data[strip.read_start:strip.read_stop]
        read_valid = source.valid[strip.read_start:strip.read_stop]
    else:
        image = read_image(source, bands=bands, window=(strip.read_start, strip.read_stop))
        data, read_valid = image.data, image.valid
    valid = read_valid[strip.start - strip.read_start:strip.stop - strip.read_start]
    block = scaling.apply(data, valid=read_valid)   # nodata never reaches the learner
    if halo:
        block = np.pad(block, ((strip.pad_top, strip.pad_bottom), (halo, halo), (0, 0)),
                       mode="reflect")
    return block, valid


#: Valid pixels a percentile stretch is fitted on, over all images together.
PERCENTILE_PIXELS = 1_000_000


def scaling_sample(paths, *, bands, n=PERCENTILE_PIXELS, scan_rows=SCAN_ROWS):
    """A regular sample of about ``n`` valid pixels (n, bands) over all images ``paths``
    (``n / len(paths)`` from each), read strip by strip."""
    paths = list(paths)
    per_image = max(1, n // max(1, len(paths)))
    parts = []
    for path in paths:
        info = raster_info(path)
        step = max(1, (info.height * info.width) // per_image)
        for r0 in range(0, info.height, scan_rows):
            strip = read_image(path, bands=bands, window=(r0, min(r0 + scan_rows, info.height)))
            parts.append(strip.data[strip.valid][::step])
    return np.concatenate(parts) if parts else None


def resolve_scaling(scale, *, offset=0.0, dtypes=(), sample=None):
    """The one rule from ``--scale`` to a ``Scaling``: a ``Scaling`` as it is; None from the
    data type (all images must share one); a number; or ``"percentile"``, a per-band 2–98 %
    stretch fitted on ``sample`` (valid pixels (n, bands) of every training image, e.g.
    :func:`scaling_sample`)."""
    if isinstance(scale, Scaling):
        return scale
    if scale is None:
        dtypes = set(map(str, dtypes))
        if len(dtypes) > 1:
            raise BandError(f"images have different data types ({', '.join(sorted(dtypes))}); "
                            "give one --scale for all")
        return Scaling.fixed(default_scaling(next(iter(dtypes))).scale, offset=offset)
    if str(scale).lower() == "percentile":
        if sample is None or len(sample) == 0:
            raise EmptyTileSetError("no valid pixels in the training images to fit the "
                                    "percentile scaling on; check the images' nodata")
        return Scaling.percentile(sample, offset=offset)
    return Scaling.fixed(float(scale), offset=offset)


def sample_features(source, rows, cols, *, bands, scaling, window, features, strip_rows):
    """``features(patches)`` of the K×K patches (``window`` K) centred on the pixels (rows,
    cols) of an image, read strip by strip: (n, F) float32 in the order of ``rows``."""
    halo = window // 2
    height = source.shape[0] if isinstance(source, Image) else raster_info(source).height
    order = np.argsort(rows, kind="stable")
    out = None
    offsets = np.arange(-halo, halo + 1)
    for s in strips(height, strip_rows, halo):
        lo, hi = np.searchsorted(rows[order], [s.start, s.stop])
        if lo == hi:
            continue
        idx = order[lo:hi]
        block, _ = read_strip(source, s, bands=bands, scaling=scaling, halo=halo)
        r = rows[idx] - s.read_start + s.pad_top
        c = cols[idx] + halo
        patches = block[(r[:, None] + offsets)[:, :, None], (c[:, None] + offsets)[:, None, :]]
        values = features(patches)
        if out is None:
            out = np.empty((len(rows), values.shape[1]), dtype=np.float32)
        out[idx] = values
    return out


#: Nodata value of confidence maps (uint8 percent 0–100).
CONFIDENCE_NODATA = 255


def predict_scene(learner, source, *, bands, scaling, schema, strip_rows=None, shape=None,
                  progress=False, confidence=False, local_prior=None):
    """Class ids (rows, cols) uint8 of every pixel of an image (a path, or an in-memory
    ``Image``), 0 where it is nodata, predicted strip by strip with ``learner.predict_proba``
    (``strip_rows=None``: the whole image in one pass). The result does not depend on
    ``strip_rows``. Returns ``(class_map, valid)``, and with ``confidence`` also the top class
    probability in percent, (rows, cols) uint8 0–100 with :data:`CONFIDENCE_NODATA` on nodata:
    ``(class_map, valid, confidence)``. ``local_prior(row_start, row_stop, width)``, when given,
    returns a log-prior (rows, width, n_classes) per strip, added to the log of the learner's
    probabilities (the local prior of phase one's tiles, ``csc classify --local-prior``)."""
    if shape is None:
        shape = source.shape if isinstance(source, Image) else raster_info(source).shape
    height, width = shape
    halo = int(learner.halo)
    if height <= halo or width <= halo:
        raise ValueError(f"image of {height}x{width} pixels is smaller than the halo {halo}")
    out = np.zeros((height, width), dtype=np.uint8)
    valid = np.zeros((height, width), dtype=bool)
    percent = np.full((height, width), CONFIDENCE_NODATA, dtype=np.uint8) if confidence else None
    parts = strips(height, int(strip_rows or height), halo)
    if progress:
        from tqdm.auto import tqdm

        parts = tqdm(parts, desc="classifying strips", unit="strip", leave=False, disable=None)
    for s in parts:
        block, ok = read_strip(source, s, bands=bands, scaling=scaling, halo=halo)
        proba = learner.predict_proba(block)
        if local_prior is not None:
            proba = tempered(np.asarray(proba, dtype=np.float32), 1.0,
                             local_prior(s.start, s.stop, width))
        best = np.argmax(proba, axis=-1)
        ids = schema.to_ids(best).astype(np.uint8)
        ids[~ok] = 0
        out[s.start:s.stop] = ids
        valid[s.start:s.stop] = ok
        if confidence:
            top = np.take_along_axis(proba, best[..., None], axis=-1)[..., 0]
            pct = np.clip(np.rint(top * 100), 0, 100).astype(np.uint8)
            pct[~ok] = CONFIDENCE_NODATA
            percent[s.start:s.stop] = pct
    return (out, valid, percent) if confidence else (out, valid)
