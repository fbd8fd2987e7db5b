"""Results do not depend on the CPU a block runs on (models/numerics.py).

numba compiles for one target everywhere (``numerics.TARGET``), so the machine code is the
same on every x86-64-v3 CPU by construction: the tests check that the pin is in force and
where it steps aside. What still varies with the CPU is numpy's dispatch: a run on this
machine is compared, variable by variable, with the same run in a subprocess whose numpy has
its AVX-512 code turned off, as on an AVX2 machine. Before numerics.py it differed in the
conflict-hazard quantiles (numpy's float64 exp, log and geomspace differ in the last bit on
AVX-512). On a machine without AVX-512 the two sides run the same numpy, and that part is
weaker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import dataset_digest

from alliance_risk.models import numerics
from alliance_risk.pipeline.api import run_forecast

HERE = Path(__file__).resolve().parent
RUN = dict(sims=3000, seed=11, block_size=1500, executor="inprocess", progress=False)
# numpy's dispatch targets above x86-64-v3 (numpy.show_runtime() lists them)
NUMPY_OFF = "X86_V4 AVX512_ICL AVX512_SPR"
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[2])
from store_helpers import dataset_digest
from alliance_risk.pipeline.api import run_forecast
res = run_forecast("nato-2025", store=sys.argv[1], **json.loads(sys.argv[3]))
from alliance_risk.models import numerics
print(json.dumps({"target": numerics.TARGET_USED, "digest": dataset_digest(res.dataset)}))
"""


# the contract, and the pin, cover x86-64 CPUs with AVX2 and FMA
on_x86_64_v3 = pytest.mark.skipif(
    not numerics.host_runs_target(), reason="needs an x86-64 CPU with AVX2 and FMA"
)


@on_x86_64_v3
def test_a_run_is_bitwise_the_same_with_numpys_avx512_code_turned_off(tmp_path):
    here = run_forecast("nato-2025", store=tmp_path / "here.zarr", **RUN)
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=NUMPY_OFF)
    for name in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"):  # the child pins its own target
        env.pop(name, None)
    args = [str(tmp_path / "there.zarr"), str(HERE.parent), json.dumps(RUN)]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["target"] == numerics.TARGET == numerics.TARGET_USED
    assert here.dataset.attrs["compiled_for"] == numerics.TARGET
    there, mine = child["digest"], dataset_digest(here.dataset)
    differ = sorted(k for k in mine if mine[k] != there.get(k))
    assert not differ, f"variables that differ with numpy's AVX-512 code off: {differ}"
    assert set(mine) == set(there)


def _target_in_child(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_CPU", "ALLIANCE"))}
    out = subprocess.run(
        [sys.executable, "-W", "always", "-c", code + "\nprint(numerics.TARGET_USED)"],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1] + "\n" + out.stderr


@on_x86_64_v3
def test_the_pin_steps_aside_for_a_users_choice_and_says_when_it_came_too_late():
    imp = "from alliance_risk.models import numerics"
    pinned = _target_in_child(imp + "\nimport numba; print(numba.config.CPU_NAME)")
    assert pinned.startswith("haswell\n")
    chosen = _target_in_child(imp, NUMBA_CPU_NAME="skylake")
    assert chosen.startswith("skylake (NUMBA_CPU_NAME)")
    assert "(host; ALLIANCE_RISK_CPU_TARGET=host)" in _target_in_child(
        imp, ALLIANCE_RISK_CPU_TARGET="host"
    )
    late = _target_in_child("import numba\nnumba.njit(lambda x: x + 1)(1)\n" + imp)
    assert "(host; numba was already in use)" in late
    assert "results may differ bitwise from other CPUs'" in late
