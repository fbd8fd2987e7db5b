"""Kept samples (``--keep-samples``): per-simulation inputs and outcomes of a run.

The store owns their layout: a Zarr group ``samples`` inside the run (staged under
``staging/<run_id>/samples`` while the run is in progress), one array per entry of
``ARRAYS``, chunked along ``sim`` by the block size so that each block writes whole chunks
(one writer per chunk, from the worker that ran it). The engine hands each block's kernel
result to a ``SampleSink``; the products read the arrays through ``open_samples``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, cast

import numpy as np
import zarr
from zarr import AsyncArray, AsyncGroup
from zarr.api.asynchronous import open_group as open_group_async
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.dtype import VariableLengthUTF8
from zarr.storage import MemoryStore

from alliance_risk.models.kernel import KernelResult
from alliance_risk.models.scenario import Scenario
from alliance_risk.pipeline.outputs import CONTINUOUS
from alliance_risk.pipeline.store.local import ForecastStore, StoreError


def _final(name: str, params: np.ndarray, res: KernelResult) -> np.ndarray:
    """A continuous output's value at the horizon."""
    return res.series[name][-1].astype(np.float32)


def _occurred(res: KernelResult) -> np.ndarray:
    assert res.occurred is not None  # simulate always records it (S, 0) without events
    return res.occurred


class SampleArray(NamedTuple):
    dims: tuple[str, ...]
    dtype: str
    meaning: str
    values: Callable[[np.ndarray, KernelResult], np.ndarray]  # (parameters, result) -> rows


ARRAYS: dict[str, SampleArray] = {
    "parameters": SampleArray(
        ("sim", "parameter"), "float64", "the sampled uncertain inputs", lambda p, r: np.asarray(p)
    ),
    "withdrawal_step": SampleArray(
        ("sim", "member"), "int16",
        "update at which the exit took effect; 32767 = not within the horizon",
        lambda p, r: r.member_events["withdrawal_step"],
    ),
    "notice_step": SampleArray(
        ("sim", "member"), "int16",
        "update after which the member's first notice showed (0: observed at the start); "
        "32767 = none",
        lambda p, r: r.member_events["notice_step"],
    ),
    "event_occurred": SampleArray(
        ("sim", "event"), "bool",
        "whether each of the scenario's events happened in the simulation (absent without events)",
        lambda p, r: _occurred(r),
    ),
    "dissolution_step": SampleArray(
        ("sim",), "int16", "likewise for dissolution", lambda p, r: r.events["dissolution_step"]
    ),
    "dissolution_cause": SampleArray(
        ("sim",), "int8",
        "0 none, 1 exogenous, 2 low cohesion, 3 capability loss, 4 too few members",
        lambda p, r: r.events["dissolution_cause"].astype(np.int8),
    ),
    "onset_step": SampleArray(
        ("sim",), "int16", "likewise for the first conflict onset",
        lambda p, r: r.events["onset_step"],
    ),
    "final_burden": SampleArray(
        ("sim", "member"), "float32",
        "each member's defence burden at the horizon, % of GDP (0 without forces)",
        lambda p, r: r.final_burden,
    ),
    "final_members": SampleArray(
        ("sim",), "int16", "members at the horizon",
        lambda p, r: r.series["members"][-1].astype(np.int16),
    ),
    **{
        f"final_{o.name}": SampleArray(
            ("sim",), "float32", f"{o.long_name} at the horizon", partial(_final, o.name)
        )
        for o in CONTINUOUS
    },
}  # fmt: skip
DESCRIPTION = "per-simulation results (--keep-samples)"


def record(params: np.ndarray, res: KernelResult) -> dict[str, np.ndarray]:
    """One block's rows of every kept array."""
    return {name: a.values(params, res) for name, a in ARRAYS.items()}


@dataclass(frozen=True)
class SampleSink:
    """Writes a block's rows into the staged samples group (on the worker that ran it)."""

    location: str
    storage_options: dict[str, Any] | None
    block_size: int

    def __call__(self, block: int, params: np.ndarray, res: KernelResult) -> None:
        lo, hi = block * self.block_size, (block + 1) * self.block_size
        sync(self._write(lo, hi, record(params, res)))

    async def _write(self, lo: int, hi: int, rows: dict[str, np.ndarray]) -> None:
        """Every array's rows at once: on an object store a block costs a few round trips,
        not one per request (measured on moto: docs/store.md, Samples)."""
        group = await _open(self.location, self.storage_options)

        async def write(name: str, values: np.ndarray) -> None:
            try:
                node = await group.getitem(name)
            except KeyError:  # (no event_occurred without events)
                return
            await _checked(node, name, AsyncArray).setitem(slice(lo, hi), values)  # whole chunks

        await asyncio.gather(*(write(name, values) for name, values in rows.items()))


def create(fs: ForecastStore, path: str, sc: Scenario, total_sims: int, block_size: int) -> None:
    """An empty samples group for ``total_sims`` rows (fill values: -1 and NaN), written whole
    (``put_group``: a killed creation leaves none, and the resumed run creates it again)."""
    fs.put_group(path, _new_group(sc, total_sims, block_size))


def _new_group(sc: Scenario, total_sims: int, block_size: int) -> dict[str, bytes]:
    """The files of an empty samples group, built in memory (group-relative keys)."""
    files: dict = {}
    g = zarr.open_group(MemoryStore(files), mode="w", zarr_format=3)
    g.attrs.update(description=DESCRIPTION)
    sizes = {
        "sim": total_sims,
        "parameter": len(sc.parameter_names),
        "member": len(sc.members),
        "event": len(sc.events),
    }
    for name, a in ARRAYS.items():
        shape = tuple(sizes[d] for d in a.dims)
        if 0 in shape:
            continue
        arr = g.create_array(
            name,
            shape=shape,
            chunks=(block_size, *shape[1:]),
            dtype=a.dtype,
            fill_value=-1 if a.dtype.startswith("int") else False if a.dtype == "bool" else np.nan,
            dimension_names=list(a.dims),
        )
        arr.attrs["long_name"] = name.replace("_", " ")
    text = cast(Any, VariableLengthUTF8())  # zarr's annotation of dtype omits its own ZDTypes
    for dim, labels in (("parameter", sc.parameter_names), ("event", sc.event_names)):
        if labels:  # (no event names without events)
            arr = g.create_array(dim, shape=(len(labels),), dtype=text, dimension_names=[dim])
            arr[:] = np.array(labels, dtype=object)
    return {key: buf.to_bytes() for key, buf in files.items()}


def _grown(fs: ForecastStore, src: str, total_sims: int) -> dict[str, bytes]:
    """The metadata of the samples group at ``src``, its arrays grown to ``total_sims``
    rows, in memory (an extension's group: its chunks are the base run's)."""
    files = {
        key: default_buffer_prototype().buffer.from_bytes(fs.read_bytes(f"{src}/{key}"))
        for key in fs.list_files(src)
        if key.endswith("zarr.json")
    }
    sync(_grow(MemoryStore(files), None, total_sims))
    return {key: buf.to_bytes() for key, buf in files.items()}


def grow(fs: ForecastStore, path: str, total_sims: int) -> None:
    """Resize every per-simulation array to ``total_sims`` rows (an adaptive run; idempotent)."""
    sync(_grow(path, fs.storage_options, total_sims))


async def _grow(store: str | MemoryStore, storage_options: dict | None, total_sims: int) -> None:
    group = await _open(store, storage_options)
    arrays = [arr async for name, arr in group.arrays() if name not in ("parameter", "event")]
    await asyncio.gather(
        *(a.resize((total_sims, *a.shape[1:])) for a in arrays if a.shape[0] < total_sims)
    )


def staged(fs: ForecastStore, run_id: str) -> str:
    """Where a staged run's samples live (published with the run as ``runs/<id>/samples``)."""
    return f"{fs.staging(run_id)}/samples"


def prepare(
    fs: ForecastStore,
    run_id: str,
    sc: Scenario,
    total_sims: int,
    block_size: int,
    extends: str | None = None,
) -> SampleSink:
    """The sink of a staged run: its samples group, created (or, extending ``extends``, the
    base run's chunks shared and the arrays grown) unless a resumed run already has it, in
    which case it is grown to ``total_sims`` if an adaptive run grew before it was killed."""
    path = staged(fs, run_id)
    fs.reclaim_samples(run_id)  # a resumed run whose publication was killed
    if fs.exists(f"{path}/zarr.json"):  # written last: the group is complete
        grow(fs, path, total_sims)
    elif extends:
        src = f"{fs.run_path(extends)}/samples"
        fs.put_group(path, _grown(fs, src, total_sims), chunks_from=src)
    else:
        create(fs, path, sc, total_sims, block_size)
    return SampleSink(path, fs.storage_options, block_size)


async def _open(store: str | MemoryStore, storage_options: dict | None) -> AsyncGroup:
    """The samples group at a location (a path or URL), or in an in-memory store."""
    return await open_group_async(store, mode="r+", storage_options=storage_options, zarr_format=3)


def _checked(node, name: str, kind: type):
    if not isinstance(node, kind):
        raise StoreError(f"samples/{name} is not an array")
    return node


def _array(group: zarr.Group, name: str) -> zarr.Array:
    return _checked(group[name], name, zarr.Array)


def read(group: zarr.Group, name: str, lo: int | None = None, hi: int | None = None):
    """Rows lo:hi (all by default) of a kept array, as a numpy array."""
    return np.asarray(_array(group, name)[lo:hi])


def open_samples(fs: ForecastStore, run_id: str) -> zarr.Group:
    """The kept samples of a published run (a one-line error if it kept none)."""
    if not fs.run_attrs(run_id).get("keep_samples"):
        raise StoreError(
            f"run {run_id} has no per-simulation samples: rerun it with --keep-samples"
        )
    return fs.open_group(f"{fs.run_path(run_id)}/samples")


def markdown_table() -> str:
    """The samples table of docs/store.md, generated from ``ARRAYS``."""
    lines = ["| array | dims | dtype | meaning |", "|---|---|---|---|"]
    lines += [
        f"| `{n}` | {', '.join(a.dims)} | {a.dtype} | {a.meaning} |" for n, a in ARRAYS.items()
    ]
    lines.append(
        "| `parameter` | parameter | string | the inputs' names (`Scenario.parameter_names`) |"
    )
    lines.append("| `event` | event | string | the events' names (`Scenario.event_names`) |")
    return "\n".join(lines) + "\n"
