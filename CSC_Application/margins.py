"""Valley margins: the outlines of the rock classes of a class map, validated against a manual
margin raster (``VM_<stem>``) with the same distance statistics as the calving front.

The margins are part of the front step (``csc front`` and phase two write them beside the
front, with the same :class:`~CSC_Application.front.FrontSettings`), so they are traced in
:mod:`CSC_Application.front.margins` and written by
:func:`CSC_Application.front.margin_outputs`; this module is their public name. It imports the
front package's public API only, and nothing in that package imports it.
"""
from CSC_Application.front import (FrontSettings, MarginResult, drop_small, extract_margins,
                                   margin_outputs)

__all__ = ["FrontSettings", "MarginResult", "drop_small", "extract_margins", "margin_outputs"]
