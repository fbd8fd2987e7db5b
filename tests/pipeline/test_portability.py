"""Results do not depend on the CPU a block runs on (models/numerics.py).

A run on this machine is compared, variable by variable, with the same run in a subprocess
whose numba code is compiled for the generic x86-64-v3 CPU (AVX2 and FMA, no AVX-512) and
whose numpy has its AVX-512 code turned off: what a worker on an AVX2 machine would compute.
Before numerics.py, an AVX-512 Xeon's blocks differed from those (the vectoriser chose other
partial sums, and numpy's float64 exp and log differ in the last bit on AVX-512). On an
AVX2-only machine the two sides are closer, and the test is weaker.
"""

from __future__ import annotations

import json
import os
import platform
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


def _has_avx2_fma() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx2" in flags and " fma" in flags


@pytest.mark.skipif(
    platform.machine() != "x86_64" or not _has_avx2_fma(),
    reason="the portability contract covers x86-64 CPUs with AVX2 and FMA",
)
def test_a_run_is_bitwise_the_same_when_compiled_for_a_generic_avx2_cpu(tmp_path):
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
    assert not differ, f"variables that differ on a generic AVX2 CPU: {differ}"
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


@pytest.mark.skipif(
    platform.machine() != "x86_64" or not _has_avx2_fma(),
    reason="the pin applies to x86-64 CPUs with AVX2 and FMA",
)
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
