"""The pipeline: plans runs, executes them on Dask, stores and presents their results.

Four layers, each importing only those above it in this list (and ``alliance_risk.models``):

* ``outputs``: the registry of stored outputs (name, dims, dtype, units, reduction).
* ``engine``: planning (``plan``), block simulation and reduction (``block``), mergeable
  statistics and their estimators (``stats``), executors (``execute``: Dask; ``inprocess``).
* ``store``: the Zarr store (catalog, staging, publication), the published Dataset's schema
  and the kept-samples layout.
* ``products``: what is derived from stored runs (sensitivity analysis, comparisons).
* ``apps``: what users touch (the CLI, the report, the dashboard).

``api`` is the Python entry point: run, resume and extend forecasts, open runs.
"""
