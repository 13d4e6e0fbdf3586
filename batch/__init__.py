"""Batch sweeps: run many CNN-Supervised Classification experiments from one CSV job list.

Modules: ``jobs`` (reading and validating job lists), ``executors`` (running one job, in this
process or on Dask workers), ``runner`` (resumable sweeps: the job list is rewritten after
every job), ``report`` (the sweep summary table and its plots). TensorFlow is imported only
inside the job that needs it.
"""
