"""Zarr v3 nodes the store writes by hand (as JSON documents) or through zarr: groups whose
attributes hold small records, a block's statistics as one uncompressed byte array, and a
run's folded statistics as a group of arrays. So the whole store, staging included, is a
Zarr hierarchy any v3 reader opens without a warning.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import zarr
from zarr.abc.store import Store


def group_doc(attributes: dict) -> bytes:
    """A group's ``zarr.json``."""
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attributes}).encode()


def bytes_doc(n: int, dimension: str, attributes: dict) -> bytes:
    """The ``zarr.json`` of a 1-D uint8 array of ``n`` bytes in one uncompressed chunk
    (``c/0``): the chunk's file holds exactly the bytes. ``dimension`` names its axis (unique
    per array, so sibling arrays of different lengths can share a group in xarray)."""
    return json.dumps(
        {
            "zarr_format": 3,
            "node_type": "array",
            "shape": [n],
            "data_type": "uint8",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [max(n, 1)]}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0,
            "codecs": [{"name": "bytes"}],
            "attributes": attributes,
            "dimension_names": [dimension],
        }
    ).encode()


def attributes(doc: bytes) -> dict:
    return json.loads(doc)["attributes"]


def write_totals(
    path: Path | str | Store,
    totals: dict[str, np.ndarray],
    *,
    group: str | None = None,
) -> None:
    """A run's folded statistics as the group ``path`` (a directory, or ``group`` in a zarr
    store): one single-chunk array each."""
    where = str(path) if isinstance(path, (str, Path)) else path
    g = zarr.open_group(where, path=group, mode="w", zarr_format=3)
    g.attrs["description"] = "folded sufficient statistics of the run, for --extend (internal)"
    for name in sorted(totals):
        a = np.asarray(totals[name])
        arr = g.create_array(
            name,
            shape=a.shape,
            dtype=a.dtype,
            chunks=tuple(max(n, 1) for n in a.shape),
            dimension_names=[f"{name}_{i}" for i in range(a.ndim)] or None,
            fill_value=0,
        )
        arr[...] = a


def read_totals(group: zarr.Group) -> dict[str, np.ndarray]:
    return {name: np.asarray(arr[...]) for name, arr in group.arrays()}
