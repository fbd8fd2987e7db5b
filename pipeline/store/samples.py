"""Kept samples (``--keep-samples``): per-simulation inputs and outcomes of a run.

The store owns their layout: a Zarr group ``samples`` inside the run (staged under
``staging/<run_id>/samples`` while the run is in progress), one array per entry of
``ARRAYS``, chunked along ``sim`` by the block size so that each block writes whole chunks
(one writer per chunk, from the worker that ran it). The engine hands each block's kernel
result to a ``SampleSink``; the products read the arrays through ``open_samples``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import zarr
from zarr.dtype import VariableLengthUTF8

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
        group = zarr.open_group(self.location, mode="r+", storage_options=self.storage_options)
        lo, hi = block * self.block_size, (block + 1) * self.block_size
        for name, values in record(params, res).items():
            if name in group:  # (no event_occurred without events)
                _array(group, name)[lo:hi] = values  # whole chunks: one writer per chunk


def create(fs: ForecastStore, path: str, sc: Scenario, total_sims: int, block_size: int) -> None:
    """An empty samples group for ``total_sims`` rows (fill values: -1 and NaN)."""
    g = fs.open_group(path, mode="w", zarr_format=3)
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
    names = g.create_array(
        "parameter",
        shape=(len(sc.parameter_names),),
        dtype=VariableLengthUTF8(),
        dimension_names=["parameter"],
    )
    names[:] = np.array(sc.parameter_names, dtype=object)
    if sc.events:
        labels = g.create_array(
            "event", shape=(len(sc.events),), dtype=VariableLengthUTF8(), dimension_names=["event"]
        )
        labels[:] = np.array(sc.event_names, dtype=object)


def grow(fs: ForecastStore, path: str, total_sims: int) -> None:
    """Resize every per-simulation array to ``total_sims`` rows (an extended or adaptive run)."""
    g = fs.open_group(path, mode="r+")
    for name, arr in g.arrays():
        if name not in ("parameter", "event") and arr.shape[0] < total_sims:
            arr.resize((total_sims, *arr.shape[1:]))


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
    base run's chunks shared and grown) unless a resumed run already has it."""
    path = staged(fs, run_id)
    fs.reclaim_samples(run_id)  # a resumed run whose publication was killed
    if not fs.exists(f"{path}/zarr.json"):
        if extends:  # share the base run's blocks, then grow to the new size
            fs.copy_tree(f"{fs.run_path(extends)}/samples", path)
            grow(fs, path, total_sims)
        else:
            create(fs, path, sc, total_sims, block_size)
    return SampleSink(path, fs.storage_options, block_size)


def _array(group: zarr.Group, name: str) -> zarr.Array:
    node = group[name]
    if not isinstance(node, zarr.Array):
        raise StoreError(f"samples/{name} is not an array")
    return node


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
