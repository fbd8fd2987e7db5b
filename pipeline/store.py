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

Object stores (``s3://``, ``gs://``, any fsspec URL whose filesystem package is installed) have
no rename: ``ObjectForecastStore`` writes a run under its own ``runs/<run_id>/`` prefix and
then rewrites the root ``zarr.json`` (one PUT, atomic) to list it. Readers go through the
catalog, so they never see a run before it is complete.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import xarray as xr
import zarr

warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")


PRODUCT_KINDS = {
    "comparisons": "scenario comparisons with common random numbers, one group each",
    "analyses": "sensitivity analyses and scenario discovery of runs, one group each",
}


# Version of the store's layout (root attributes, runs/, staging/, catalog): unchanged since
# the first release, so stores written by any model version open. The schema of a run's
# Dataset is results.SCHEMA_VERSION, stored with each run.
STORE_FORMAT = 1


class StoreError(ValueError):
    """A store cannot be used as asked (one line, worded for the user)."""


class TransientStoreError(StoreError):
    """The store could not be reached just now (network, object-store service): retry."""


def open_store(
    store: str | os.PathLike | ForecastStore,
    create: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> ForecastStore:
    """The store at a local path or an fsspec URL (``s3://bucket/forecasts.zarr``).

    ``storage_options`` (credentials, endpoint) go to the fsspec filesystem; when not given,
    they are read as JSON from ``$ALLIANCE_RISK_STORAGE_OPTIONS``.
    """
    if isinstance(store, ForecastStore):
        return store
    text = str(store)
    if "://" in text and not text.startswith("file://"):
        if storage_options is None:
            storage_options = _env_storage_options()
        return ObjectForecastStore(text, create, storage_options)
    return ForecastStore(text, create)


def _env_storage_options() -> dict[str, Any]:
    raw = os.environ.get("ALLIANCE_RISK_STORAGE_OPTIONS", "").strip()
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StoreError(f"ALLIANCE_RISK_STORAGE_OPTIONS is not valid JSON ({exc.msg})") from None
    if not isinstance(options, dict):
        raise StoreError("ALLIANCE_RISK_STORAGE_OPTIONS must be a JSON object")
    return options


class ForecastStore:
    """A local Zarr v3 forecast store."""

    storage_options: dict[str, Any] | None = None  # what workers need to open zarr paths

    def __init__(self, path: str | os.PathLike, create: bool = True):
        text = str(path)
        if "://" in text and not text.startswith("file://"):
            raise StoreError(f"{text}: use open_store() for object-store URLs")
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
            attrs = self._attrs()
            if attrs.get("alliance_risk_store") != STORE_FORMAT:
                raise StoreError(
                    f"{self.root}: not an alliance-risk store (schema "
                    f"{attrs.get('alliance_risk_store')!r})"
                )
        elif create:
            if any(self.root.iterdir()):
                raise StoreError(f"{self.root}: directory is not empty and not a store")
            g = zarr.open_group(str(self.root), mode="w", zarr_format=3)
            g.attrs.update(
                alliance_risk_store=STORE_FORMAT,
                schema_version=STORE_FORMAT,
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
        return dict(self.open_group(self.root, mode="r").attrs)

    def catalog(self) -> list[dict]:
        """Published runs, oldest first."""
        return list(self._attrs().get("catalog", []))

    def latest(self, scenario: str) -> str | None:
        return self.latest_runs().get(scenario)

    def latest_runs(self) -> dict[str, str]:
        """Scenario name -> id of its newest published run."""
        return dict(self._attrs().get("latest", {}))

    def resolve(self, run_id: str | None) -> str:
        """A published run id: the given one, its scenario's latest, or the newest run."""
        attrs = self._attrs()
        ids = [e["run_id"] for e in attrs.get("catalog", [])]
        if run_id is None:
            if not ids:
                raise StoreError(f"{self.root}: the store has no published run")
            return ids[-1]
        if run_id in ids:
            return run_id
        if run_id in attrs.get("latest", {}):
            return attrs["latest"][run_id]
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
        self._put_npz(f"{self.staging(run_id)}/blocks/{block:06d}.npz", stats)

    def done_blocks(self, run_id: str) -> set[int]:
        folder = self.staging(run_id) / "blocks"
        return {int(p.stem) for p in folder.glob("*.npz")}

    def load_block(self, run_id: str, block: int) -> dict[str, np.ndarray]:
        return self._get_npz(f"{self.staging(run_id)}/blocks/{block:06d}.npz")

    def _put_npz(self, location, arrays: dict[str, np.ndarray]) -> None:
        path = Path(location)
        path.parent.mkdir(exist_ok=True)
        _atomic_write(path, _npz_bytes(arrays))

    def _get_npz(self, location) -> dict[str, np.ndarray]:
        with np.load(location) as z:
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
        self._put_npz(self.stats_path(run_id), totals)  # internal, for --extend
        samples = staging / "samples"
        if samples.exists():
            os.replace(samples, out / "samples")
            zarr.consolidate_metadata(str(out))
        final = self.run_path(run_id)
        final.parent.mkdir(exist_ok=True)
        os.replace(out, final)  # atomic: readers see all of the run or none of it
        with self._locked():
            self._add_to_root("catalog", entry, latest=run_id)
        shutil.rmtree(staging)
        return final

    # ---- derived products (comparisons, analyses): their own top-level groups ------------
    def product_path(self, kind: str, product_id: str):
        return self.root / kind / product_id

    def products(self, kind: str) -> list[dict]:
        """Published products of a kind (e.g. "comparisons"), oldest first."""
        return list(self._attrs().get(kind, []))

    def publish_product(self, kind: str, product_id: str, ds: xr.Dataset, entry: dict):
        """Write ``ds`` as ``<kind>/<product_id>`` and list it in the root attribute ``kind``."""
        if kind not in PRODUCT_KINDS:
            raise StoreError(f"unknown product kind {kind!r}")
        out = self.root / "staging" / f"{kind}-{product_id}"
        if out.exists():
            shutil.rmtree(out)
        ds.to_zarr(str(out), mode="w", zarr_format=3, consolidated=True)
        with self._locked():
            g = zarr.open_group(str(self.root), mode="r+")
            if kind not in g:
                g.create_group(kind).attrs.update(description=PRODUCT_KINDS[kind])
            final = self.product_path(kind, product_id)
            if final.exists():
                raise StoreError(f"{self.root}: {kind}/{product_id} already exists")
            os.replace(out, final)
            self._add_to_root(kind, entry)
        return final

    def open_product(self, kind: str, product_id: str | None = None) -> xr.Dataset:
        listed = [e["id"] for e in self.products(kind)]
        if not listed or (product_id is not None and product_id not in listed):
            raise StoreError(f"{self.root}: no published {kind} {product_id or ''}".rstrip())
        pid = product_id or listed[-1]
        return xr.open_zarr(
            str(self.product_path(kind, pid)),
            consolidated=True,
            storage_options=self.storage_options,
        )

    def open_run(self, run_id: str | None = None) -> xr.Dataset:
        rid = self.resolve(run_id)
        return xr.open_zarr(
            str(self.run_path(rid)), consolidated=True, storage_options=self.storage_options
        )

    def run_attrs(self, run_id: str) -> dict:
        """A published run's attributes (scenario, seed, sims, ...)."""
        return dict(self.open_group(self.run_path(run_id), mode="r").attrs)

    # ---- zarr groups anywhere in the store (samples) -------------------------------------
    def open_group(self, location, mode: str = "r", **kwargs) -> zarr.Group:
        return zarr.open_group(
            str(location), mode=mode, storage_options=self.storage_options, **kwargs
        )

    def exists(self, location) -> bool:
        return Path(location).exists()

    def copy_tree(self, src, dst) -> None:
        """Copy a published group (hard links: zarr replaces files, never edits them)."""
        shutil.copytree(src, dst, copy_function=_link_or_copy)

    def stats_path(self, run_id: str) -> Path:
        return self.root / "stats" / f"{run_id}.npz"

    def load_totals(self, run_id: str) -> dict[str, np.ndarray]:
        return self._get_npz(self.stats_path(run_id))

    def _add_to_root(self, key: str, entry: dict, latest: str | None = None) -> None:
        """List ``entry`` in the root attribute ``key`` (and, for runs, point ``latest`` of
        its scenario at it): the commit of a publication. Callers hold ``_locked``."""
        g = self.open_group(self.root, mode="r+")
        update = {key: [*g.attrs.get(key, []), entry]}
        if latest is not None:
            update["latest"] = {**g.attrs.get("latest", {}), entry["scenario"]: latest}
        g.attrs.update(update)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def new_run_id(scenario: str, seed: int) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{scenario}-{stamp}-s{seed}-{os.urandom(3).hex()}"


class ObjectForecastStore(ForecastStore):
    """The same store on an fsspec filesystem without rename (S3, GCS, Azure, memory).

    Every write is a whole object. A run is written under ``runs/<run_id>/`` and becomes
    visible when the root ``zarr.json`` (a single PUT) lists it in the catalog. There is no
    lock: one writer at a time may publish into an object store (scheduled flows serialise).
    """

    def __init__(self, url: str, create: bool = True, storage_options: dict | None = None):
        self.url = url.rstrip("/")
        self.root = self.url  # for messages
        self.storage_options = dict(storage_options or {})
        try:
            self.fs, self._key = fsspec.core.url_to_fs(self.url, **self.storage_options)
        except (ImportError, ValueError) as exc:
            raise StoreError(f"{url}: cannot open this filesystem ({exc})") from None
        try:
            has_root = self.fs.exists(f"{self._key}/zarr.json")
            if has_root:
                attrs = self._attrs()
                if attrs.get("alliance_risk_store") != STORE_FORMAT:
                    raise StoreError(f"{url}: not an alliance-risk store")
            elif not create:
                raise StoreError(f"{url}: no such store")
            else:
                if self.fs.exists(self._key) and self.fs.ls(self._key):
                    raise StoreError(f"{url}: location is not empty and not a store")
                g = zarr.open_group(
                    self.url, mode="w", zarr_format=3, storage_options=self.storage_options
                )
                g.attrs.update(
                    alliance_risk_store=STORE_FORMAT,
                    schema_version=STORE_FORMAT,
                    catalog=[],
                    latest={},
                )
        except OSError as exc:
            raise TransientStoreError(f"{url}: cannot reach the store ({exc})") from None

    def _k(self, location: str) -> str:
        """The filesystem key of a URL inside this store."""
        return self._key + location[len(self.url) :]

    @contextmanager
    def _locked(self):
        yield

    def staging(self, run_id: str) -> str:
        return f"{self.url}/staging/{run_id}"

    def run_path(self, run_id: str) -> str:
        return f"{self.url}/runs/{run_id}"

    def stats_path(self, run_id: str) -> str:
        return f"{self.url}/stats/{run_id}.npz"

    def exists(self, location) -> bool:
        return self.fs.exists(self._k(str(location)))

    def create_staging(self, run_id: str, manifest: dict) -> str:
        if self.exists(self.staging(run_id)):
            raise StoreError(f"{self.url}: run {run_id!r} is already staged")
        self.write_manifest(run_id, manifest)
        return self.staging(run_id)

    def write_manifest(self, run_id: str, manifest: dict) -> None:
        self.fs.pipe(self._k(f"{self.staging(run_id)}/run.json"), json.dumps(manifest).encode())

    def read_manifest(self, run_id: str) -> dict:
        key = self._k(f"{self.staging(run_id)}/run.json")
        if not self.fs.exists(key):
            where = "published" if self.exists(f"{self.run_path(run_id)}/zarr.json") else "unknown"
            raise StoreError(f"{self.url}: run {run_id!r} is not in staging ({where} run)")
        return json.loads(self.fs.cat(key))

    def staged_runs(self) -> list[str]:
        key = self._k(f"{self.url}/staging")
        if not self.fs.exists(key):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(key, detail=False))

    def done_blocks(self, run_id: str) -> set[int]:
        found = self.fs.glob(self._k(f"{self.staging(run_id)}/blocks/*.npz"))
        return {int(p.rsplit("/", 1)[-1].removesuffix(".npz")) for p in found}

    def discard(self, run_id: str) -> None:
        if not self.exists(self.staging(run_id)):
            raise StoreError(f"{self.url}: no run {run_id!r} in staging")
        self.fs.rm(self._k(self.staging(run_id)), recursive=True)

    def copy_tree(self, src, dst) -> None:
        self.fs.copy(self._k(str(src)), self._k(str(dst)), recursive=True)

    def publish(self, run_id: str, ds: xr.Dataset, totals: dict, entry: dict) -> str:
        """Write under runs/<run_id>/, then list it: the catalog PUT is the commit.

        The Dataset is built in a local scratch directory and uploaded in one batch (object
        stores pay a round trip per key); kept samples are copied server-side.
        """
        final = self.run_path(run_id)
        if self.exists(final):  # a previous publish died before the catalog update
            self.fs.rm(self._k(final), recursive=True)
        with tempfile.TemporaryDirectory(prefix="alliance-risk-") as tmp:
            local = Path(tmp) / "run"
            ds.to_zarr(str(local), mode="w", zarr_format=3, consolidated=True)
            self._copy_samples(f"{self.staging(run_id)}/samples", f"{final}/samples", local)
            self._upload(local, final)
        self._put_npz(self.stats_path(run_id), totals)
        self._add_to_root("catalog", entry, latest=run_id)
        self.fs.rm(self._k(self.staging(run_id)), recursive=True)
        return final

    def _copy_samples(self, src: str, dst: str, local: Path) -> None:
        """Chunks server-side; metadata through ``local`` so the run consolidates it."""
        if not self.exists(f"{src}/zarr.json"):
            return
        prefix = self._k(src)
        keys = self.fs.find(prefix)
        chunks = [k for k in keys if not k.endswith("zarr.json")]
        self.fs.copy(chunks, [self._k(dst) + k[len(prefix) :] for k in chunks])
        for key in keys:
            if key.endswith("zarr.json"):
                target = local / "samples" / key[len(prefix) + 1 :]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(self.fs.cat(key))
        zarr.consolidate_metadata(str(local))

    def product_path(self, kind: str, product_id: str) -> str:
        return f"{self.url}/{kind}/{product_id}"

    def publish_product(self, kind: str, product_id: str, ds: xr.Dataset, entry: dict) -> str:
        if kind not in PRODUCT_KINDS:
            raise StoreError(f"unknown product kind {kind!r}")
        final = self.product_path(kind, product_id)
        if self.exists(f"{final}/zarr.json") and product_id in [
            e["id"] for e in self.products(kind)
        ]:
            raise StoreError(f"{self.url}: {kind}/{product_id} already exists")
        with tempfile.TemporaryDirectory(prefix="alliance-risk-") as tmp:
            local = Path(tmp) / "product"
            ds.to_zarr(str(local), mode="w", zarr_format=3, consolidated=True)
            zarr.open_group(str(Path(tmp)), mode="a").attrs.update(description=PRODUCT_KINDS[kind])
            self._upload(local, final)
            self.fs.put(str(Path(tmp) / "zarr.json"), f"{self._key}/{kind}/zarr.json")
        self._add_to_root(kind, entry)
        return final

    def _upload(self, local: Path, location: str) -> None:
        """Every file under ``local`` to the same relative key under ``location``, in one batch."""
        files = [p for p in sorted(local.rglob("*")) if p.is_file()]
        keys = [f"{self._k(location)}/{p.relative_to(local).as_posix()}" for p in files]
        self.fs.put([str(p) for p in files], keys)

    def _put_npz(self, location: str, arrays: dict[str, np.ndarray]) -> None:
        self.fs.pipe(self._k(location), _npz_bytes(arrays))

    def _get_npz(self, location: str) -> dict[str, np.ndarray]:
        with np.load(io.BytesIO(self.fs.cat(self._k(location)))) as z:
            return {k: z[k] for k in z.files}
