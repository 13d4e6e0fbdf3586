"""Shared core of glacier-csc: rasters, class schema, tiling geometry, metrics, figures."""

__version__ = "0.1.0"
