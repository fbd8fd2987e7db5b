"""The Zarr v3 forecast store: many runs, a catalog, atomic publication, resumable staging.

Layout (docs/store.md is the contract)::

    STORE/                      root group; attrs: schema_version, catalog, latest
      runs/<run_id>/            one published run: an xarray Dataset (consolidated metadata)
      staging/<run_id>/         a run in progress: run.json, blocks/<b>.npz, samples/
      stats/<run_id>.npz        a published run's folded statistics (internal, for --extend)
      .lock                     serialises catalog updates

A run becomes visible only when complete: its Dataset is written under staging/, renamed into
runs/ (atomic on one POSIX filesystem), and only then added to the catalog. A killed run stays
in staging/ and can be resumed (its completed blocks are kept) or discarded.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import warnings
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from pipeline.results import SCHEMA_VERSION

warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")


class StoreError(ValueError):
    """A store cannot be used as asked (one line, worded for the user)."""


class ForecastStore:
    """A local Zarr v3 forecast store."""

    def __init__(self, path: str | os.PathLike, create: bool = True):
        text = str(path)
        if "://" in text and not text.startswith("file://"):
            raise StoreError(f"{text}: only local stores are supported in this version")
        self.root = Path(text.removeprefix("file://"))
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root}: is a file, not a store directory")
        if not self.root.exists():
            if not create:
                raise StoreError(f"{self.root}: no such store")
            try:
                self.root.mkdir(parents=True)
            except OSError as exc:
                raise StoreError(f"{self.root}: cannot create the store ({exc.strerror})") from None
        if not os.access(self.root, os.W_OK) and create:
            raise StoreError(f"{self.root}: store is not writable")
        if (self.root / "zarr.json").exists():
            attrs = dict(zarr.open_group(str(self.root), mode="r").attrs)
            if attrs.get("alliance_risk_store") != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.root}: not an alliance-risk store (schema "
                    f"{attrs.get('alliance_risk_store')!r})"
                )
        elif create:
            if any(self.root.iterdir()):
                raise StoreError(f"{self.root}: directory is not empty and not a store")
            g = zarr.open_group(str(self.root), mode="w", zarr_format=3)
            g.attrs.update(
                alliance_risk_store=SCHEMA_VERSION,
                schema_version=SCHEMA_VERSION,
                catalog=[],
                latest={},
            )
            g.create_group("runs").attrs.update(description="published runs, one group each")
        else:
            raise StoreError(f"{self.root}: not an alliance-risk store")

    # ---- catalog ----------------------------------------------------------------------
    @contextmanager
    def _locked(self):
        with open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _attrs(self) -> dict:
        return dict(zarr.open_group(str(self.root), mode="r").attrs)

    def catalog(self) -> list[dict]:
        """Published runs, oldest first."""
        return list(self._attrs().get("catalog", []))

    def latest(self, scenario: str) -> str | None:
        return self._attrs().get("latest", {}).get(scenario)

    def resolve(self, run_id: str | None) -> str:
        """A published run id: the given one, or the newest run in the catalog."""
        cat = self.catalog()
        if run_id is None:
            if not cat:
                raise StoreError(f"{self.root}: the store has no published run")
            return cat[-1]["run_id"]
        if run_id in self.catalog_ids():
            return run_id
        if run_id in self._attrs().get("latest", {}):
            return self._attrs()["latest"][run_id]
        raise StoreError(f"{self.root}: no published run {run_id!r}")

    def catalog_ids(self) -> list[str]:
        return [e["run_id"] for e in self.catalog()]

    # ---- staging ----------------------------------------------------------------------
    def staging(self, run_id: str) -> Path:
        return self.root / "staging" / run_id

    def run_path(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def create_staging(self, run_id: str, manifest: dict) -> Path:
        path = self.staging(run_id)
        (path / "blocks").mkdir(parents=True, exist_ok=False)
        self.write_manifest(run_id, manifest)
        return path

    def write_manifest(self, run_id: str, manifest: dict) -> None:
        """(Re)write a staged run's run.json atomically (what it runs, for --resume)."""
        _atomic_write(self.staging(run_id) / "run.json", json.dumps(manifest, indent=1).encode())

    def read_manifest(self, run_id: str) -> dict:
        path = self.staging(run_id) / "run.json"
        if not path.exists():
            where = "published" if self.run_path(run_id).exists() else "unknown"
            raise StoreError(f"{self.root}: run {run_id!r} is not in staging ({where} run)")
        return json.loads(path.read_text())

    def staged_runs(self) -> list[str]:
        folder = self.root / "staging"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def save_block(self, run_id: str, block: int, stats: dict[str, np.ndarray]) -> None:
        """Persist one block's statistics atomically (idempotent: a rerun writes the same)."""
        path = self.staging(run_id) / "blocks" / f"{block:06d}.npz"
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **stats)
        os.replace(tmp, path)

    def done_blocks(self, run_id: str) -> set[int]:
        folder = self.staging(run_id) / "blocks"
        return {int(p.stem) for p in folder.glob("*.npz")}

    def load_block(self, run_id: str, block: int) -> dict[str, np.ndarray]:
        with np.load(self.staging(run_id) / "blocks" / f"{block:06d}.npz") as z:
            return {k: z[k] for k in z.files}

    def discard(self, run_id: str) -> None:
        path = self.staging(run_id)
        if not path.exists():
            raise StoreError(f"{self.root}: no run {run_id!r} in staging")
        shutil.rmtree(path)

    # ---- publication ------------------------------------------------------------------
    def publish(self, run_id: str, ds: xr.Dataset, totals: dict, entry: dict) -> Path:
        """Write the run's Dataset, move it into runs/, then list it in the catalog."""
        staging = self.staging(run_id)
        out = staging / "result"
        if out.exists():
            shutil.rmtree(out)
        ds.to_zarr(str(out), mode="w", zarr_format=3, consolidated=True)
        stats = self.stats_path(run_id)  # outside the Zarr hierarchy: internal, for --extend
        stats.parent.mkdir(exist_ok=True)
        tmp = stats.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **totals)
        os.replace(tmp, stats)
        samples = staging / "samples"
        if samples.exists():
            os.replace(samples, out / "samples")
            zarr.consolidate_metadata(str(out))
        final = self.run_path(run_id)
        final.parent.mkdir(exist_ok=True)
        os.replace(out, final)  # atomic: readers see all of the run or none of it
        with self._locked():
            g = zarr.open_group(str(self.root), mode="r+")
            catalog = list(g.attrs.get("catalog", []))
            catalog.append(entry)
            latest = dict(g.attrs.get("latest", {}))
            latest[entry["scenario"]] = run_id
            g.attrs.update(catalog=catalog, latest=latest)
        shutil.rmtree(staging)
        return final

    def open_run(self, run_id: str | None = None) -> xr.Dataset:
        rid = self.resolve(run_id)
        return xr.open_zarr(str(self.run_path(rid)), consolidated=True)

    def stats_path(self, run_id: str) -> Path:
        return self.root / "stats" / f"{run_id}.npz"

    def load_totals(self, run_id: str) -> dict[str, np.ndarray]:
        with np.load(self.stats_path(run_id)) as z:
            return {k: z[k] for k in z.files}


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def new_run_id(scenario: str, seed: int) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{scenario}-{stamp}-s{seed}-{os.urandom(3).hex()}"
