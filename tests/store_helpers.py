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
    from alliance_risk.pipeline.store import ForecastStore

    totals = ForecastStore(path.parent.parent, create=False).load_totals(path.name)
    h = hashlib.sha256()
    for k in sorted(totals):
        h.update(k.encode())
        h.update(np.ascontiguousarray(totals[k]).tobytes())
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
import numpy as np
from alliance_risk.models.scenario import load_scenario
from alliance_risk.pipeline.api import _manifest, resume_run
from alliance_risk.pipeline.engine.plan import RunSpec
from alliance_risk.pipeline.store import ForecastStore, ObjectForecastStore, open_store

store, options, i = sys.argv[1], json.loads(sys.argv[2]) or None, int(sys.argv[3])
barrier, n, block = Path(sys.argv[4]), int(sys.argv[5]), sys.argv[6]

def at_the_barrier(cls, name):
    step = getattr(cls, name)
    def wait_then_step(self, *args, **kwargs):
        (barrier / str(i)).touch()  # all n publishers commit at the same moment
        while len(list(barrier.iterdir())) < n:
            time.sleep(0.005)
        return step(self, *args, **kwargs)
    setattr(cls, name, wait_then_step)

# the commit: on a local store, taking the lock around it; on an object store, its record
if "://" in store:
    at_the_barrier(ObjectForecastStore, "_add_to_root")
else:
    at_the_barrier(ForecastStore, "_locked")
# a staged run whose one block is done (computed once by the test): resuming publishes it
sc, run_id = load_scenario("nato-2025"), f"concurrent-{i}"
fs = open_store(store, storage_options=options)
spec = RunSpec(sc.name, 0, 2000, "mc", 2000)
fs.create_staging(run_id, _manifest(run_id, sc, spec, max_sims=2000))
with np.load(block) as z:
    fs.save_block(run_id, 0, {k: z[k] for k in z.files if k != "_sha256"})
res = resume_run(store, run_id, executor="inprocess", progress=False, storage_options=options)
print(res.run_id)
"""


def publish_concurrently(store: str, options: dict, n: int, barrier: Path) -> list[str]:
    """``n`` processes each publish a run into ``store`` and commit it at the same moment (a
    barrier before the catalog commit); returns their run ids. The runs share one block of
    statistics, computed here once, so the processes spend their time publishing."""
    from alliance_risk.models.scenario import load_scenario
    from alliance_risk.pipeline.engine.block import simulate_block
    from alliance_risk.pipeline.engine.plan import RunSpec

    barrier.mkdir()
    sc = load_scenario("nato-2025")
    block = barrier.parent / "block.npz"
    np.savez(block, **simulate_block(sc, RunSpec(sc.name, 0, 2000, "mc", 2000), 0)[0])
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                PUBLISHER,
                store,
                json.dumps(options),
                str(i),
                str(barrier),
                str(n),
                str(block),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        ids.append(out.strip().splitlines()[-1])
    return ids
