"""Pipeline test helpers: digests of datasets, statistics and store trees."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import xarray as xr

BLOCK = 2000  # small blocks keep the tests fast; the result depends on it like on the seed


def dataset_digest(ds: xr.Dataset) -> dict[str, str]:
    """sha256 of every variable's bytes (coordinates included)."""
    out = {}
    for name in sorted(ds.variables):
        values = np.asarray(ds[name].values)
        data = values.astype(str).tobytes() if values.dtype == object else values.tobytes()
        out[name] = hashlib.sha256(data).hexdigest()
    return out


def totals_digest(path: Path) -> str:
    """Digest of a published run's folded statistics (path: STORE/runs/<id>)."""
    with np.load(path.parent.parent / "stats" / f"{path.name}.npz") as z:
        h = hashlib.sha256()
        for k in sorted(z.files):
            h.update(k.encode())
            h.update(np.ascontiguousarray(z[k]).tobytes())
        return h.hexdigest()


def tree_digest(root: Path) -> str:
    """sha256 over the relative paths and contents of every file under root."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``alliance-risk ARGS`` in this process (the console script's ``main``: same parser,
    same error handling and exit status), as a CompletedProcess; for the inner loop, where
    a subprocess would spend seconds importing. tests/pipeline/test_cli.py runs the real
    console module in a subprocess."""
    from alliance_risk.pipeline.apps.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main(list(args))
        except SystemExit as exc:  # argparse errors and explicit exits
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
    return subprocess.CompletedProcess(list(args), rc, out.getvalue(), err.getvalue())


class FailingSink:
    """A samples sink that logs each call to ``log`` (a file) and then fails: the same error
    every time (``flaky=False``) or a different one each time (``flaky=True``)."""

    def __init__(self, log: Path, flaky: bool = False):
        self.log, self.flaky = Path(log), flaky

    def __call__(self, block: int, params, res) -> None:
        with open(self.log, "a") as fh:
            fh.write(f"{block}\n")
        calls = self.log.read_text().split().count(str(block))
        raise ValueError(f"non-finite state, attempt {calls}" if self.flaky else "non-finite state")


PUBLISHER = r"""
import json, sys, time
from pathlib import Path
from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.store import ForecastStore, ObjectForecastStore

store, options, seed = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
barrier, n = Path(sys.argv[4]), int(sys.argv[5])

def at_the_barrier(cls, name):
    step = getattr(cls, name)
    def wait_then_step(self, *args, **kwargs):
        (barrier / str(seed)).touch()  # all n publishers commit at the same moment
        while len(list(barrier.iterdir())) < n:
            time.sleep(0.005)
        return step(self, *args, **kwargs)
    setattr(cls, name, wait_then_step)

# the commit: on a local store, taking the lock around it; on an object store, its record
if "://" in store:
    at_the_barrier(ObjectForecastStore, "_add_to_root")
else:
    at_the_barrier(ForecastStore, "_locked")
res = run_forecast("nato-2025", sims=2000, seed=seed, store=store, block_size=2000,
                   executor="inprocess", progress=False, storage_options=options or None)
print(res.run_id)
"""


def publish_concurrently(store: str, options: dict, n: int, barrier: Path) -> list[str]:
    """``n`` processes each run a small forecast into ``store`` and commit it at the same
    moment (a barrier before the catalog commit); returns their run ids."""
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                PUBLISHER,
                store,
                json.dumps(options),
                str(seed),
                str(barrier),
                str(n),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(n)
    ]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        ids.append(out.strip().splitlines()[-1])
    return ids
