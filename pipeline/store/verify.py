"""``alliance-risk verify``: is every catalogued run complete, readable and unchanged?

For each run: its group exists and opens as a Dataset; every file its ``integrity`` group
lists is present with the recorded sha256, and no other file is there; its folded
statistics (``runs/<id>/stats``, for ``--extend``) are among them. For the store: every
catalog entry has its group, every group under runs/ is in the catalog, ``latest`` points at listed
runs. ``repair`` drops catalog entries whose run is gone (never data).
"""

from __future__ import annotations

import hashlib

from alliance_risk.pipeline.store.local import INTEGRITY, STATS, ForecastStore, StoreError


def verify(fs: ForecastStore, run_id: str | None = None) -> list[str]:
    """One line per problem found (empty: all is well)."""
    ids = fs.catalog_ids()
    if run_id is not None:
        ids = [fs.resolve(run_id)]
    problems = []
    for rid in ids:
        problems += _check_run(fs, rid)
    if run_id is None:
        problems += _check_catalog(fs)
    return problems


def _check_run(fs: ForecastStore, rid: str) -> list[str]:
    path = fs.run_path(rid)
    if not fs.exists(f"{path}/zarr.json"):
        return [f"{rid}: listed in the catalog but runs/{rid} is missing"]
    try:
        fs.open_run(rid).close()
    except (OSError, ValueError, KeyError) as exc:
        return [f"{rid}: cannot be read ({type(exc).__name__}: {str(exc)[:200]})"]
    if not fs.exists(f"{path}/{INTEGRITY}/zarr.json"):
        return [f"{rid}: has no checksums (published before they were recorded): unverifiable"]
    sums = dict(fs.open_group(f"{path}/{INTEGRITY}", mode="r").attrs)["files"]
    problems = []
    present = set(fs.list_files(path)) - {"zarr.json", f"{INTEGRITY}/zarr.json"}
    for name, digest in sums.items():
        if name not in present:
            problems.append(f"{rid}: {name} is missing")
        elif hashlib.sha256(fs.read_bytes(f"{path}/{name}")).hexdigest() != digest:
            problems.append(f"{rid}: {name} does not match its checksum")
    problems += [f"{rid}: {name} is not part of the run" for name in sorted(present - set(sums))]
    if not any(name.startswith(f"{STATS}/") for name in sums):
        problems.append(f"{rid}: has no statistics ({STATS}/): it cannot be extended")
    return problems


def _check_catalog(fs: ForecastStore) -> list[str]:
    ids = set(fs.catalog_ids())
    problems = [
        f"runs/{rid}: not in the catalog (a publication that died before its commit?)"
        for rid in fs.run_groups()
        if rid not in ids
    ]
    for scenario, rid in fs.latest_runs().items():
        if rid not in ids:
            problems.append(f"latest[{scenario!r}] = {rid}: not a catalogued run")
    return problems


def repair(fs: ForecastStore) -> list[str]:
    """Drop catalog entries (and ``latest`` pointers) whose run group is gone; returns one
    line per entry dropped. Never deletes data."""
    gone = [rid for rid in fs.catalog_ids() if not fs.exists(f"{fs.run_path(rid)}/zarr.json")]
    if gone:
        fs.drop_from_catalog(gone)
    return [f"dropped {rid} from the catalog (its run is gone)" for rid in gone]


__all__ = ["StoreError", "repair", "verify"]
