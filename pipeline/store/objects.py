"""The forecast store on an object store (S3, GCS, Azure, memory): no rename, no lock.

Every write is a whole object; the root ``zarr.json`` (one PUT) is the commit of a
publication. The layout is that of the local store (``local.py``; docs/store.md).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import fsspec
import xarray as xr
import zarr

from alliance_risk.pipeline.store.local import (
    PRODUCT_KINDS,
    RUNS_ATTRS,
    STAGING_ATTRS,
    STORE_FORMAT,
    ForecastStore,
    StoreError,
    TransientStoreError,
    new_root_doc,
    quiet_consolidated,
    record_checksums,
    write_result,
)
from alliance_risk.pipeline.store.nodes import attributes, group_doc

COMMITS = "catalog"  # the group of commit records (catalog/<kind>/<id>)


def _ident(entry: dict) -> str:
    return entry.get("run_id") or entry["id"]


class ObjectForecastStore(ForecastStore):
    """The same store on an fsspec filesystem without rename (S3, GCS, Azure, memory).

    Every write is a whole object, and no object is ever read, modified and written back by
    a publication: a run is written under ``runs/<run_id>/`` (its group's ``zarr.json``
    last), then committed by its own record ``catalog/runs/<run_id>/zarr.json`` (a small Zarr
    group whose attribute ``entry`` is the catalog entry). The catalog is the set of those
    records, so any number of processes may publish at once without losing an entry, and a
    reader never sees a run before its commit. Products are committed the same way
    (``catalog/<kind>/<id>``). Entries of stores written before this are still read from the
    root attributes.
    """

    def __init__(self, url: str, create: bool = True, storage_options: dict | None = None):
        self.url = url.rstrip("/")
        self.root = self.url  # type: ignore[assignment]  # for messages: the URL
        self.storage_options = dict(storage_options or {})
        try:
            self.fs, self._key = fsspec.core.url_to_fs(self.url, **self.storage_options)
        except (ImportError, ValueError) as exc:
            raise StoreError(f"{url}: cannot open this filesystem ({exc})") from None
        try:
            has_root = self.fs.exists(f"{self._key}/zarr.json")
            if has_root:
                self._check_format()
            elif not create:
                raise StoreError(f"{url}: no such store")
            else:
                if not self._skeleton_only():
                    raise StoreError(f"{url}: location is not empty and not a store")
                # staging first, the root last and in one write with its marker: a reader that
                # finds the root finds an alliance-risk store
                self._put(f"{self.url}/staging/zarr.json", group_doc(STAGING_ATTRS))
                self._put(f"{self.url}/zarr.json", new_root_doc())
                self.format = STORE_FORMAT
        except OSError as exc:
            raise TransientStoreError(f"{url}: cannot reach the store ({exc})") from None

    def _skeleton_only(self) -> bool:
        """Whether the location is empty or holds only what an interrupted creation leaves
        (the staging group's metadata, no root yet)."""
        if not self.fs.exists(self._key):
            return True
        keys = {k.removeprefix(self._key).strip("/") for k in self.fs.find(self._key)}
        return keys <= {"staging/zarr.json"}

    # ---- the catalog: one commit record per publication ----------------------------------
    def _entries(self, kind: str) -> list[dict]:
        """Published entries of ``kind`` ("runs" or a product kind), oldest commit first."""
        legacy = self._attrs().get("catalog" if kind == "runs" else kind, [])
        self.fs.invalidate_cache()  # a listing cached by s3fs would miss other publishers
        keys = self.fs.glob(f"{self._key}/{COMMITS}/{kind}/*/zarr.json")
        records = [attributes(b) for b in self.fs.cat(keys).values()] if keys else []
        records.sort(key=lambda r: (r["committed_ns"], _ident(r["entry"])))
        entries = {_ident(e): e for e in legacy}
        for r in records:
            entries.setdefault(_ident(r["entry"]), r["entry"])
        return list(entries.values())

    def catalog(self) -> list[dict]:
        return self._entries("runs")

    def latest_runs(self) -> dict[str, str]:
        return {e["scenario"]: e["run_id"] for e in self.catalog()}

    def products(self, kind: str) -> list[dict]:
        return self._entries(kind)

    def _add_to_root(self, key: str, entry: dict, latest: str | None = None) -> None:
        """Commit a publication: PUT its own record (never a read-modify-write)."""
        kind = "runs" if key == "catalog" else key
        base = f"{self._key}/{COMMITS}"
        about = "commit records: one group per published run or product"
        self.fs.pipe(  # the parent groups (identical bytes from every publisher), then the record
            {f"{base}/zarr.json": group_doc({"description": about}),
             f"{base}/{kind}/zarr.json": group_doc({})}
        )  # fmt: skip
        record = {"entry": entry, "committed_ns": time.time_ns()}
        self.fs.pipe(f"{base}/{kind}/{_ident(entry)}/zarr.json", group_doc(record))

    def drop_from_catalog(self, run_ids: list[str]) -> None:
        for rid in run_ids:
            key = f"{self._key}/{COMMITS}/runs/{rid}"
            if self.fs.exists(f"{key}/zarr.json"):
                self.fs.rm(key, recursive=True)
        g = self.open_group(self.url, mode="r+")
        attrs = dict(g.attrs)
        legacy = [e for e in attrs.get("catalog", []) if e["run_id"] not in run_ids]
        latest = {k: v for k, v in attrs.get("latest", {}).items() if v not in run_ids}
        g.attrs.update(catalog=legacy, latest=latest)

    def _k(self, location: str) -> str:
        """The filesystem key of a URL inside this store."""
        return self._key + location[len(self.url) :]

    @contextmanager
    def _locked(self):
        yield

    def reclaim_samples(self, run_id: str) -> None:
        """Nothing to reclaim: publication copies kept samples, it does not move them."""

    def staging(self, run_id: str) -> str:  # type: ignore[override]  # URLs, not Paths
        return f"{self.url}/staging/{run_id}"

    def run_path(self, run_id: str) -> str:  # type: ignore[override]  # URLs, not Paths
        return f"{self.url}/runs/{run_id}"

    def exists(self, location) -> bool:
        return self.fs.exists(self._k(str(location)))

    def staged_runs(self) -> list[str]:
        self.fs.invalidate_cache()
        found = self.fs.glob(self._k(f"{self.url}/staging/*/zarr.json"))
        return sorted(k.rsplit("/", 2)[-2] for k in found)

    def done_blocks(self, run_id: str) -> set[int]:
        self.fs.invalidate_cache()
        found = self.fs.glob(self._k(f"{self.staging(run_id)}/blocks/*/zarr.json"))
        return {int(k.rsplit("/", 2)[-2]) for k in found}

    def _put(self, location, data: bytes) -> None:
        self.fs.pipe(self._k(str(location)), data)

    def _get(self, location) -> bytes:
        return self.fs.cat(self._k(str(location)))

    def discard(self, run_id: str) -> None:
        if not self.exists(self.staging(run_id)):
            raise StoreError(f"{self.url}: no run {run_id!r} in staging")
        self.fs.rm(self._k(self.staging(run_id)), recursive=True)

    def put_group(self, location, files: dict[str, bytes], chunks_from=None) -> None:
        """Write a new Zarr group: the chunks of ``chunks_from`` (copied server-side) and
        ``files`` except the group's own ``zarr.json`` in one batch, then that: the group
        exists only complete (a resumed run finds none and writes it again)."""
        base = self._k(str(location))
        if chunks_from is not None:
            prefix = self._k(str(chunks_from))
            keys = [k for k in self.fs.find(prefix) if k[len(prefix) + 1 :] not in files]
            self._copy_keys(keys, prefix, base)
        rest = {f"{base}/{k}": v for k, v in files.items() if k != "zarr.json"}
        if rest:
            self.fs.pipe(rest)
        self.fs.pipe(f"{base}/zarr.json", files["zarr.json"])

    def _copy_keys(self, keys: list[str], prefix: str, dst: str) -> None:
        """Server-side copies of ``keys`` (under ``prefix``) to the same keys under ``dst``."""
        if keys:
            self.fs.copy(keys, [dst + k[len(prefix) :] for k in keys])

    def publish(self, run_id: str, ds: xr.Dataset, totals: dict, entry: dict) -> str:  # type: ignore[override]  # URLs, not Paths
        """Write under runs/<run_id>/, then list it: the catalog PUT is the commit.

        The Dataset is built in a local scratch directory and uploaded in one batch (object
        stores pay a round trip per key); kept samples are copied server-side.
        """
        final = self.run_path(run_id)
        if self.exists(final):  # a previous publish died before the catalog update
            self.fs.rm(self._k(final), recursive=True)
        self._put(f"{self.url}/runs/zarr.json", group_doc(RUNS_ATTRS))  # the same bytes always
        with tempfile.TemporaryDirectory(prefix="alliance-risk-") as tmp:
            local = Path(tmp) / "run"
            sums = write_result(local, ds, totals)
            sums |= self._copy_samples(f"{self.staging(run_id)}/samples", f"{final}/samples", local)
            record_checksums(local, sums)
            self._upload(local, final)
        self._add_to_root("catalog", entry, latest=run_id)
        self.fs.rm(self._k(self.staging(run_id)), recursive=True)
        return final

    def _copy_samples(self, src: str, dst: str, local: Path) -> dict[str, str]:
        """Chunks server-side; metadata through ``local`` so the run consolidates it.
        Returns the chunks' checksums (run-relative keys; they are read once for it)."""
        if not self.exists(f"{src}/zarr.json"):
            return {}
        prefix = self._k(src)
        keys = self.fs.find(prefix)
        chunks = [k for k in keys if not k.endswith("zarr.json")]
        self._copy_keys(chunks, prefix, self._k(dst))
        sums = {}
        for i in range(0, len(chunks), 64):  # concurrent reads, bounded memory
            for key, data in self.fs.cat(chunks[i : i + 64]).items():
                sums[f"samples{key[len(prefix) :]}"] = hashlib.sha256(data).hexdigest()
        metadata = [k for k in keys if k.endswith("zarr.json")]
        for key, data in (self.fs.cat(metadata) if metadata else {}).items():  # at once
            target = local / "samples" / key[len(prefix) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return sums

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
            with quiet_consolidated():
                ds.to_zarr(str(local), mode="w", zarr_format=3, consolidated=True)
            zarr.open_group(str(Path(tmp)), mode="a").attrs.update(description=PRODUCT_KINDS[kind])
            self._upload(local, final)
            self.fs.put(str(Path(tmp) / "zarr.json"), f"{self._key}/{kind}/zarr.json")
        self._add_to_root(kind, entry)
        return final

    def _upload(self, local: Path, location: str) -> None:
        """Every file under ``local`` to the same relative key under ``location``: all in one
        batch, then the group's own ``zarr.json`` (so the group appears complete)."""
        top = local / "zarr.json"
        files = [p for p in sorted(local.rglob("*")) if p.is_file() and p != top]
        keys = [f"{self._k(location)}/{p.relative_to(local).as_posix()}" for p in files]
        self.fs.put([str(p) for p in files], keys)
        self.fs.put(str(top), f"{self._k(location)}/zarr.json")

    def read_bytes(self, location) -> bytes:
        return self.fs.cat(self._k(str(location)))

    def list_files(self, location) -> list[str]:
        prefix = self._k(str(location)).rstrip("/") + "/"
        return sorted(k[len(prefix) :] for k in self.fs.find(prefix))

    def run_groups(self) -> list[str]:
        found = self.fs.glob(self._k(f"{self.url}/runs/*/zarr.json"))
        return sorted(k.rsplit("/", 2)[-2] for k in found)

    def _sync_root(self) -> None:
        """An object PUT is durable when it returns."""

    def drop_block(self, run_id: str, block: int) -> None:
        key = self._k(self._block(run_id, block))
        if self.fs.exists(f"{key}/zarr.json") or self.fs.exists(f"{key}/c/0"):
            self.fs.rm(key, recursive=True)
