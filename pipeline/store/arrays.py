"""Read a few named arrays of many published runs at once, as plain Zarr arrays.

Opening a run's Dataset parses its consolidated metadata (~0.1 s a run); a history or a
dashboard needs only a handful of small arrays per run, which this reads concurrently on
zarr's event loop (a few milliseconds a run), from a local store or an object store.
"""

from __future__ import annotations

import asyncio
import re

import numpy as np
import zarr.api.asynchronous
from zarr.core.sync import sync

from alliance_risk.pipeline.store.local import ForecastStore


def read_run_arrays(
    fs: ForecastStore, run_ids: list[str], names: list[str]
) -> dict[str, dict[str, np.ndarray]]:
    """run id -> {name: values} for the named arrays of each run (an array a run lacks, as in
    an older schema, is left out), plus ``date`` (datetime64[ms]) when ``time`` is named:
    the CF-encoded time coordinate decoded."""
    where = [(r, n, f"{fs.run_path(r)}/{n}") for r in run_ids for n in names]
    options = getattr(fs, "storage_options", None)
    read = sync(_read([p for _, _, p in where], options))
    out: dict[str, dict[str, np.ndarray]] = {r: {} for r in run_ids}
    for (r, n, _), got in zip(where, read, strict=True):
        if got is None:
            continue
        values, units = got
        out[r][n] = values
        if n == "time":
            out[r]["date"] = decode_time(values, units)
    return out


def decode_time(values: np.ndarray, units: str) -> np.ndarray:
    """CF "days since 2025-01-01 00:00:00" offsets as datetime64[ms]."""
    start = re.search(r"since (\S+)", units)
    first = np.datetime64(start.group(1) if start else "NaT", "D")
    return (first + np.asarray(values).astype("timedelta64[D]")).astype("datetime64[ms]")


async def _read(paths: list[str], options: dict | None) -> list[tuple[np.ndarray, str] | None]:
    async def one(path: str) -> tuple[np.ndarray, str] | None:
        remote = options if options and "://" in path else None
        try:
            a = await zarr.api.asynchronous.open_array(store=path, mode="r", storage_options=remote)
        except FileNotFoundError:
            return None
        return np.asarray(await a.getitem(...)), str(a.attrs.get("units", ""))

    return list(await asyncio.gather(*(one(p) for p in paths)))
