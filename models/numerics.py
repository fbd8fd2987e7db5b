"""Floating-point choices that make results the same on every x86-64 CPU with AVX2 and FMA.

Two things made a block's results depend on the CPU that computed it (measured: the kernel
compiled for AMD Zen 4 gave other nato-2025 blocks than compiled for eight other Intel and
AMD models; numpy's AVX-512 code changed the stored conflict-hazard quantiles):

- **numba compiled for the host CPU.** LLVM's vectoriser picks the vector width and the
  number of interleaved partial sums per CPU model, and the fused step's sums over members
  (reassociated, ``fused._FAST``) are split into that many partial sums. Importing this
  module pins numba's target to ``TARGET``, Haswell's instruction set (x86-64-v3: AVX2, FMA,
  BMI2; every Intel and AMD server CPU since 2013-2017 runs it) with its own features only,
  so every such machine runs the same machine code. Measured on an AVX-512 Xeon, the kernel
  is 5-9% slower than compiled for that host (docs/store.md, Reproducibility).
  This is process-wide: other numba code compiled in the process gets the same target. A
  user's own ``NUMBA_CPU_NAME`` is respected, and ``ALLIANCE_RISK_CPU_TARGET=host`` turns
  the pin off (results then follow the CPU again).
- **numpy's float64 ``exp`` and ``log``** have an AVX-512 implementation that differs in the
  last bit from glibc's, which numpy calls on AVX2 machines. ``exp`` and ``log`` below call
  the C library from compiled loops (glibc picks the same FMA variant on every x86-64-v3
  CPU), so they give what numpy gives on AVX2, everywhere. numpy's float32 ``exp`` and
  ``log`` are the same code on AVX2 and AVX-512 and are kept.

Not covered: CPUs without AVX2 and FMA and other architectures (numba then compiles for the
host, and ``TARGET_USED`` says so), and other versions of numpy, numba or glibc.
tests/pipeline/test_portability.py runs a forecast with numpy's AVX-512 code turned off and
compares every stored variable.
"""

from __future__ import annotations

import math
import os
import platform
import warnings

import llvmlite.binding as llvm
import numba
import numpy as np
from numba.core import registry

TARGET = "haswell"
# LLVM's names of the x86-64-v3 features beyond x86-64-v2: what TARGET's code needs
_V3 = ("avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe")


def _x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def host_runs_target() -> bool:
    """Whether this machine can run TARGET's code: x86-64 with AVX2, FMA and the rest of v3."""
    if not _x86_64():
        return False
    features = llvm.get_host_cpu_features()
    return all(features.get(f, False) for f in _V3)


def _pin_target() -> str:
    """Make numba compile for TARGET where it can; returns the target in words."""
    host = llvm.get_host_cpu_name()
    if os.environ.get("ALLIANCE_RISK_CPU_TARGET", TARGET) == "host":
        return f"{host} (host; ALLIANCE_RISK_CPU_TARGET=host)"
    chosen = os.environ.get("NUMBA_CPU_NAME")
    if chosen == TARGET and os.environ.get("NUMBA_CPU_FEATURES") == "":
        return TARGET  # pinned by the process that started this one
    if chosen:
        return f"{chosen} (NUMBA_CPU_NAME)"
    if not _x86_64():
        return f"{host} (host; not x86-64)"
    if not host_runs_target():
        return f"{host} (host; no AVX2/FMA)"
    if "_toplevel_target_context" in registry.cpu_target.__dict__:
        warnings.warn(
            "numba compiled code before alliance_risk was imported, for this CPU: results "
            "may differ bitwise from other CPUs' (import alliance_risk first)",
            stacklevel=3,
        )
        return f"{host} (host; numba was already in use)"
    # in the environment, so numba's reload of it and worker processes see the same
    os.environ["NUMBA_CPU_NAME"], os.environ["NUMBA_CPU_FEATURES"] = TARGET, ""
    numba.core.config.reload_config()
    return TARGET


TARGET_USED = _pin_target()


@numba.njit(cache=True, nogil=True)
def _exp(x, out):
    for i in range(x.size):
        out[i] = math.exp(x[i])


@numba.njit(cache=True, nogil=True)
def _log(x, out):
    for i in range(x.size):
        out[i] = math.log(x[i])


def _apply(kernel, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    kernel(flat, out)
    return out.reshape(x.shape)[()]  # a scalar for a scalar, as numpy


def exp(x: np.ndarray) -> np.ndarray:
    """e**x of a float64 array, element by element from the C library (see the module)."""
    return _apply(_exp, x)


def log(x: np.ndarray) -> np.ndarray:
    """Natural logarithm of a float64 array from the C library (see the module)."""
    return _apply(_log, x)
