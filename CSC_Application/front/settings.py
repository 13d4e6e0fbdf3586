"""The tunables of the front step, declared once.

:data:`FRONT` holds every option of calving-front extraction and of the valley margins found
beside it; :class:`FrontSettings` (a frozen dataclass validated on construction) and the
click options of ``csc front`` (``FRONT.click_options()``) are built from it. The defaults are
the published ones (Marochov et al. 2021). An option that may be ``None`` ("auto") is decided
from the raster: the ``AUTO_*`` values below apply when it has no metric pixel size.
"""
from csc.options import Option, OptionTable

#: Smallest ocean region, in pixels, for a raster without a metric pixel size (1 km² at 10 m).
AUTO_MIN_OCEAN_PIXELS = 10_000
#: Shortest valley margin kept, in metres (metric pixel size) and in pixels (none).
AUTO_MIN_MARGIN_LENGTH_M = 500.0
AUTO_MIN_MARGIN_LENGTH_PX = 50.0
#: Smallest rock region (speckle below it draws no margin), in pixels without a metric pixel size.
AUTO_MIN_ROCK_PIXELS = 500

FRONT = OptionTable(
    # -- ocean and glacier masks
    Option("min_ocean_km2", "float", default=1.0, low=0.0,
           help="Smallest ocean region kept, in km² (georeferenced rasters)."),
    Option("min_ocean_pixels", "int", default=None, low=0, auto=True,
           help="Smallest ocean region kept, in pixels (overrides --min-ocean-km2; used for "
                f"rasters without georeferencing, default {AUTO_MIN_OCEAN_PIXELS})."),
    # -- active contour
    Option("iterations", "int", default=30, low=0,
           help="Active-contour iterations (0: no refinement)."),
    Option("smoothing", "int", default=1, low=0,
           help="Active-contour smoothing steps per iteration."),
    Option("balloon", "float", default=-0.5,
           help="Active-contour balloon force (negative shrinks)."),
    Option("threshold", "float", default=0.6, low=0.0, high=1.0,
           help="Active-contour edge threshold."),
    Option("sigma", "float", default=2.0, low=0.0, low_open=True,
           help="Gaussian width (pixels) of the edge image."),
    Option("alpha", "float", default=100.0, low=0.0, low_open=True,
           help="Steepness of the inverse Gaussian gradient (the edge image)."),
    Option("init_radius", "int", default=2, low=0,
           help="The active contour starts from the glacier closed and dilated by this many "
                "pixels."),
    # -- the front
    Option("front_buffer", "int", default=3, low=0,
           help="Glacier outline within this many pixels of the ocean is front."),
    Option("max_length_ratio", "float", default=1.0, low=0.0, low_open=True,
           help="A front longer than this × the image diagonal is rejected as implausible."),
    Option("gap_fill", "int", default=3, low=0,
           help="Close unlabelled gaps up to twice this many pixels wide first (0: off)."),
    # -- valley margins
    Option("min_margin_length", "float", default=None, low=0.0, auto=True,
           help="Shortest valley margin kept, in metres (default "
                f"{AUTO_MIN_MARGIN_LENGTH_M:g}; pixels, default {AUTO_MIN_MARGIN_LENGTH_PX:g}, "
                "without georeferencing)."),
    Option("min_rock_km2", "float", default=0.05, low=0.0,
           help="Rock regions (and gaps in rock) smaller than this, in km², are speckle and "
                "draw no valley margin (georeferenced rasters)."),
    Option("min_rock_pixels", "int", default=None, low=0, auto=True,
           help="The same in pixels (overrides --min-rock-km2; used for rasters without "
                f"georeferencing, default {AUTO_MIN_ROCK_PIXELS})."),
)

#: The options of :func:`CSC_Application.front.extract_front`, as ``<stem>_front.json``
#: reports them under ``settings``.
EXTRACTION = ("min_ocean_km2", "min_ocean_pixels", "iterations", "smoothing", "balloon",
              "threshold", "sigma", "alpha", "init_radius", "front_buffer", "max_length_ratio",
              "gap_fill")


def _extraction(settings):
    """The options driving :func:`~CSC_Application.front.extract_front`, by name."""
    return {name: getattr(settings, name) for name in EXTRACTION}


FrontSettings = FRONT.dataclass(
    "FrontSettings", namespace={"extraction": _extraction},
    doc="Settings of the front step (calving front and valley margins): one field per row of "
        ":data:`FRONT`, validated on construction. ``FrontSettings()`` holds the published "
        "defaults; ``settings.replace(iterations=0)`` changes one.")
FrontSettings.__module__ = __name__


def settings_or_default(settings):
    """``settings``, or the default :class:`FrontSettings` for None."""
    return FrontSettings() if settings is None else settings
