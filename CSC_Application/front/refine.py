"""Refinement of the glacier outline by a morphological geodesic active contour.

The contour (:func:`skimage.segmentation.morphological_geodesic_active_contour`) starts from the
closed and dilated glacier mask, on the inverse Gaussian gradient of that mask. The published
defaults are kept (30 iterations, smoothing 1, balloon −0.5, threshold 0.6; see
:data:`~CSC_Application.front.settings.FRONT`). Note that with an inverse Gaussian gradient
(values in 0..1) a balloon only acts where the gradient image exceeds ``threshold / |balloon|``;
at the published values (1.2) it never does, so the contour is driven by edge attraction and
curvature smoothing alone.
"""
import numpy as np
from scipy import ndimage as ndi
from skimage import morphology, segmentation

from CSC_Application.front.settings import settings_or_default


def refine_glacier(glacier, *, settings=None):
    """Refine a glacier mask with a morphological geodesic active contour started from the mask
    closed and dilated by ``settings.init_radius`` pixels: ``iterations``, ``smoothing``,
    ``balloon`` and ``threshold`` drive the contour on an inverse Gaussian gradient of width
    ``sigma`` and steepness ``alpha``. Works on the glacier's bounding box plus a margin, so
    memory follows the glacier, not the image."""
    s = settings_or_default(settings)
    glacier = np.asarray(glacier, dtype=bool)
    if s.iterations <= 0:
        return glacier.copy()
    margin = int(s.iterations + s.init_radius + 4 * s.sigma + 2)
    rows, cols = np.nonzero(glacier)
    r0, r1 = max(rows.min() - margin, 0), min(rows.max() + margin + 1, glacier.shape[0])
    c0, c1 = max(cols.min() - margin, 0), min(cols.max() + margin + 1, glacier.shape[1])
    crop = glacier[r0:r1, c0:c1]
    radius = s.init_radius
    disk = morphology.disk(radius) if radius > 0 else None
    start = crop
    if disk is not None:
        start = ndi.binary_closing(np.pad(crop, radius, mode="edge"), disk)
        start = start[radius:-radius, radius:-radius]
        start = ndi.binary_dilation(start, disk)
    gimage = segmentation.inverse_gaussian_gradient(crop.astype(np.float32), alpha=s.alpha,
                                                    sigma=s.sigma)
    refined = segmentation.morphological_geodesic_active_contour(
        gimage, s.iterations, init_level_set=start, smoothing=s.smoothing,
        threshold=s.threshold, balloon=s.balloon)
    out = np.zeros_like(glacier)
    out[r0:r1, c0:c1] = refined.astype(bool)
    return out
