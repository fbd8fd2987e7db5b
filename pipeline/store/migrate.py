"""``alliance-risk migrate STORE``: bring a format-1 local store to the current layout.

Format 1 kept a run's folded statistics as ``stats/<id>.npz``, a staged run's manifest as
``run.json`` and its blocks as ``blocks/<b>.npz``, and a ``.lock`` file: not Zarr nodes, so
Zarr readers warned about them. Migration rewrites each as the Zarr node of format 2 (the
bytes of every block and statistic are kept), then removes the old files and bumps the
format. Published runs are not touched otherwise; staged runs resume as before.
"""

from __future__ import annotations

import json

import zarr

from alliance_risk.pipeline.store.local import (
    BLOCKS_ATTRS,
    STAGING_ATTRS,
    STATS,
    STORE_FORMAT,
    ForecastStore,
    StoreError,
    _npz_arrays,
    fsync_tree,
    quiet_consolidated,
)
from alliance_risk.pipeline.store.nodes import group_doc, write_totals


def migrate(fs: ForecastStore) -> list[str]:
    """Migrate ``fs`` in place; one line per thing done."""
    if fs.format == STORE_FORMAT:
        return [f"{fs.root}: already store format {STORE_FORMAT}"]
    if not hasattr(fs.root, "iterdir"):
        raise StoreError(f"{fs.root}: migrate works on local stores (object stores: not yet)")
    done = []
    with fs._locked():
        for rid in fs.catalog_ids():
            old = fs.root / "stats" / f"{rid}.npz"
            if old.exists() and not (fs.run_path(rid) / STATS / "zarr.json").exists():
                write_totals(
                    fs.run_path(rid) / STATS, _npz_arrays(old.read_bytes(), old.name, True)
                )
                with quiet_consolidated():  # the run's metadata now lists its statistics
                    zarr.consolidate_metadata(str(fs.run_path(rid)))
                fsync_tree(fs.run_path(rid))
                done.append(f"{rid}: statistics moved to runs/{rid}/{STATS}")
        fs.format = STORE_FORMAT  # from here on, staging writes go to the new layout
        for run in sorted(p for p in (fs.root / "staging").glob("*/run.json")):
            done.append(_migrate_staged(fs, run.parent.name))
        fs._put(fs.root / "staging" / "zarr.json", group_doc(STAGING_ATTRS))
        for rid in fs.catalog_ids():
            (fs.root / "stats" / f"{rid}.npz").unlink(missing_ok=True)
        for leftover in (fs.root / "stats", fs.root / ".lock"):
            if leftover.is_dir() and not any(leftover.iterdir()):
                leftover.rmdir()
            elif leftover.is_file():
                leftover.unlink()
        g = fs.open_group(fs.root, mode="r+")
        g.attrs.update(alliance_risk_store=STORE_FORMAT, schema_version=STORE_FORMAT)
        fs._sync_root()
    return [*done, f"{fs.root}: now store format {STORE_FORMAT}"]


def _migrate_staged(fs: ForecastStore, run_id: str) -> str:
    folder = fs.staging(run_id)
    manifest = json.loads((folder / "run.json").read_text())
    olds = sorted((folder / "blocks").glob("*.npz"))
    for old in olds:
        fs.save_block(run_id, int(old.stem), _npz_arrays(old.read_bytes(), old.name, True))
    fs._put(folder / "blocks" / "zarr.json", group_doc(BLOCKS_ATTRS))
    fs.write_manifest(run_id, manifest)
    for old in olds:
        old.unlink()
    (folder / "run.json").unlink()
    return f"{run_id}: staged run with {len(olds)} blocks moved to the Zarr layout"
