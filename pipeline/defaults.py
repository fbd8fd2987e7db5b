"""Defaults shared by the API, the CLI and the flows (a light module: no Dask, no Zarr)."""

DEFAULT_SCENARIO = "nato-2025"
DEFAULT_STORE = "forecasts.zarr"
DEFAULT_SIMS = 100_000
