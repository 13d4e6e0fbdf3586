"""Shared core of glacier-csc: rasters, class schema, tiling geometry, metrics, figures."""
import os

__version__ = "0.1.0"

# oneDNN's CPU kernels round differently with different thread counts, so the same seed would
# give different models on one core, on two, or in a Dask worker holding a share of the cores.
# TensorFlow's own kernels are thread-count invariant and as fast here; set the variable to 1
# before running csc to trade that for oneDNN.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
