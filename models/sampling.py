"""Sampling of the uncertain inputs: unit-cube designs mapped through inverse CDFs.

``sample_parameters`` returns an (S x P) float64 table whose columns follow
``Scenario.parameter_names`` (a stable order that becomes a coordinate of the stored
data). Three designs: plain Monte Carlo, Latin hypercube and scrambled Sobol'
(``scipy.stats.qmc``); all draw only from the ``numpy.random.Generator`` they are given.
"""

from __future__ import annotations

import ctypes
import math
import warnings
from functools import lru_cache
from typing import Literal, NamedTuple, cast

import numba
import numpy as np
from llvmlite import binding as llvm
from numba.extending import get_cython_function_address

from alliance_risk.models import numerics
from alliance_risk.models.distributions import (
    EDGE,
    HALVINGS,
    TABLE_Z,
    Beta,
    Fixed,
    Gamma,
    LogNormal,
    Mixture,
    Normal,
    Triangular,
    Uniform,
    quantile_table,
)
from alliance_risk.models.scenario import Scenario

Sampler = Literal["mc", "lhs", "sobol"]


def _cython_special_double(name: str) -> int:
    """The address of scipy.special.cython_special's ``double name(double, int)`` (a fused
    function's double specialisation is one of its ``__pyx_fuse_<k><name>`` entries)."""
    from scipy.special import cython_special

    capsule_name = ctypes.pythonapi.PyCapsule_GetName
    capsule_name.restype, capsule_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    for key, capsule in cython_special.__pyx_capi__.items():
        fused = key.startswith("__pyx_fuse_") and key[11:].lstrip("0123456789") == name
        signature = capsule_name(capsule) or b""  # Cython names its capsules by signature
        if (key == name or fused) and signature.startswith(b"double (double, int"):
            return get_cython_function_address("scipy.special.cython_special", key)
    raise ImportError(f"scipy.special.cython_special has no double {name}(double)")


# scipy's ndtri for doubles (the function behind scipy.special.ndtri, so the compiled mapping
# gives its values bit for bit), called from compiled code by a symbol name, so a numba cache
# stays valid. Its C signature is double (double, int skip_dispatch).
llvm.add_symbol("alliance_risk_ndtri", _cython_special_double("ndtri"))
_C_SIG = numba.float64(numba.float64, numba.int32)
_ndtri_c = numba.types.ExternalFunction("alliance_risk_ndtri", _C_SIG)


@numba.njit(cache=True, nogil=True, inline="always")
def _ndtri(x):
    return _ndtri_c(x, np.int32(1))


SAMPLERS: tuple[str, ...] = ("mc", "lhs", "sobol")


def _qmc():
    """scipy.stats.qmc, imported when a quasi-random design is asked for: importing
    scipy.stats costs about 0.5 s, paid otherwise by every Dask worker's first block."""
    from scipy.stats import qmc

    return qmc


def unit_design(n: int, d: int, method: Sampler, rng: np.random.Generator) -> np.ndarray:
    """An (n x d) design in the open unit cube.

    Sobol' points are balanced only for n a power of two; scipy warns otherwise.
    """
    if n <= 0 or d <= 0:
        raise ValueError(f"need n > 0 and d > 0, got n={n}, d={d}")
    if method == "mc":
        u = rng.random((n, d))
    elif method == "lhs":
        u = _qmc().LatinHypercube(d, rng=rng).random(n)
    elif method == "sobol":
        u = _qmc().Sobol(d, scramble=True, rng=rng).random(n)
    else:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {method!r}")
    return np.clip(u, EDGE, 1.0 - EDGE, out=u)  # u is ours: clipped in place


def map_design(scenario: Scenario, u: np.ndarray) -> np.ndarray:
    """Map an (n x P) unit-cube design to parameter values through each inverse CDF.

    One compiled pass over tiles of rows (``_map_columns``) maps the closed-form and
    tabulated families in place, calling scipy's own ``ndtri``; the log-normal's ``exp``
    comes from the C library (``numerics.exp``: numpy's differs on AVX-512 CPUs); mixtures
    of uniforms bisect compiled (``_mixture_column``), other mixtures in numpy (a compiled
    bisection through a CDF call measured no faster). Every column is bit for bit its
    distribution's ``ppf`` (tested), without the numpy mapping's transposed copies and
    per-column temporaries (docs/model.md §2).
    """
    dists = scenario.distributions
    if u.shape[1] != len(dists):
        raise ValueError(f"design has {u.shape[1]} columns, scenario has {len(dists)} parameters")
    u = np.ascontiguousarray(u, dtype=np.float64)
    plan = _plan(tuple(dists))
    out = np.empty(u.shape, dtype=np.float64)
    _map_columns(u, plan.codes, plan.consts, plan.tables, out)
    for j in plan.exp_columns:
        out[:, j] = numerics.exp(out[:, j])
    for j, (params, weights) in plan.mixtures.items():
        col = np.empty(len(u))
        _mixture_column(np.ascontiguousarray(u[:, j]), params, weights, col)
        out[:, j] = col
    for j in plan.numpy_columns:
        out[:, j] = dists[j].ppf(np.ascontiguousarray(u[:, j]))
    return out


class _Plan(NamedTuple):
    """How ``_map_columns`` maps each column: a family code and three constants per column,
    the quantile tables of the tabulated columns, and the columns finished in numpy."""

    codes: np.ndarray  # (P,) int64: one of _FIXED .. _NUMPY
    consts: np.ndarray  # (P, 3) float64
    tables: np.ndarray  # (tables, len(TABLE_Z)) float64
    exp_columns: tuple[int, ...]  # log-normal: exp of the mapped normal, in numpy
    mixtures: dict  # column -> (params, weights) of a mixture of uniforms, bisected compiled
    numpy_columns: tuple[int, ...]  # mapped by the distribution's own ppf


_FIXED, _UNIFORM, _NORMAL, _TABLE, _TRIANGULAR, _MIXTURE, _NUMPY = range(7)


@lru_cache(maxsize=32)
def _plan(dists: tuple) -> _Plan:
    codes = np.full(len(dists), _NUMPY, dtype=np.int64)
    consts = np.zeros((len(dists), 3))
    tables: list[np.ndarray] = []
    exp_columns = []
    mixtures = {}
    for j, d in enumerate(dists):
        if isinstance(d, Fixed):
            codes[j], consts[j, 0] = _FIXED, d.value
        elif isinstance(d, Uniform):
            codes[j], consts[j, :2] = _UNIFORM, (d.low, d.high - d.low)
        elif isinstance(d, Normal):
            codes[j], consts[j, :2] = _NORMAL, (d.mean_, d.sd)
        elif isinstance(d, LogNormal):
            codes[j], consts[j, :2] = _NORMAL, d.log_params
            exp_columns.append(j)
        elif isinstance(d, Beta | Gamma):
            codes[j], consts[j, 0] = _TABLE, len(tables)
            tables.append(quantile_table(d.table_key))
        elif isinstance(d, Triangular):
            width = d.high - d.low
            codes[j], consts[j] = _TRIANGULAR, (d.low, width, (d.mode - d.low) / width)
        elif isinstance(d, Mixture) and all(isinstance(c, Uniform) for c in d.components):
            codes[j] = _MIXTURE
            mixtures[j] = _mixture_plan(d)
    stacked = np.array(tables) if tables else np.zeros((1, len(TABLE_Z)))
    numpy_columns = tuple(int(j) for j in np.flatnonzero(codes == _NUMPY))
    return _Plan(codes, consts, stacked, tuple(exp_columns), mixtures, numpy_columns)


def _mixture_plan(d: Mixture) -> tuple[np.ndarray, np.ndarray]:
    """The (low, width) of a uniform mixture's two components, and their weights."""
    comps = cast(tuple[Uniform, Uniform], d.components)  # ``_plan`` checked they are
    params = np.array([(c.low, c.high - c.low) for c in comps])
    return params, np.array(d.weights, dtype=np.float64)


_Z0, _DZ = float(TABLE_Z[0]), float(TABLE_Z[1] - TABLE_Z[0])
_LAST = len(TABLE_Z) - 1
_TILE = 64  # rows per tile: 64 x P doubles of design and of table stay in L1 and L2


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _map_columns(u, codes, consts, tables, out):
    """The expressions of the families' ``ppf`` methods, in the same order of operations
    (``distributions``), over row tiles; columns coded _MIXTURE or _NUMPY are left alone."""
    n, P = u.shape
    for i0 in range(0, n, _TILE):
        i1 = min(i0 + _TILE, n)
        for j in range(P):
            code, c0, c1, c2 = codes[j], consts[j, 0], consts[j, 1], consts[j, 2]
            if code == _FIXED:
                for i in range(i0, i1):
                    out[i, j] = c0
            elif code == _UNIFORM:
                for i in range(i0, i1):
                    out[i, j] = c0 + c1 * u[i, j]
            elif code == _NORMAL:
                for i in range(i0, i1):
                    out[i, j] = c0 + c1 * _ndtri(u[i, j])
            elif code == _TABLE:
                t = tables[int(c0)]
                for i in range(i0, i1):
                    pos = min(max((_ndtri(u[i, j]) - _Z0) / _DZ, 0.0), float(_LAST))
                    k = min(int(pos), _LAST - 1)
                    out[i, j] = t[k] + (pos - k) * (t[k + 1] - t[k])
            elif code == _TRIANGULAR:
                for i in range(i0, i1):
                    x = u[i, j]
                    if x < c2:
                        y = math.sqrt(c2 * x)
                    else:
                        y = 1.0 - math.sqrt((1.0 - c2) * (1.0 - x))
                    out[i, j] = c0 + c1 * y


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _mixture_column(u, params, weights, out):
    """``Mixture.ppf`` for two uniform components (``params[c]`` = low, width): the same
    ``HALVINGS`` halvings between the components' quantiles, comparing the same weighted sum
    of their CDFs with u; one pass over the column per halving, which runs in SIMD (0.4 ms
    for 10,000 values against numpy's 5.5 ms)."""
    a0, b0, a1, b1 = params[0, 0], params[0, 1], params[1, 0], params[1, 1]
    lo, hi = np.empty(u.shape[0]), np.empty(u.shape[0])
    for i in range(u.shape[0]):
        q0, q1 = a0 + b0 * u[i], a1 + b1 * u[i]
        lo[i], hi[i] = min(q0, q1), max(q0, q1)
    for _ in range(HALVINGS):
        for i in range(u.shape[0]):
            mid = 0.5 * (lo[i] + hi[i])
            total = 0.0 + weights[0] * min(max((mid - a0) / b0, 0.0), 1.0)
            total += weights[1] * min(max((mid - a1) / b1, 0.0), 1.0)
            below = total < u[i]
            lo[i] = mid if below else lo[i]
            hi[i] = hi[i] if below else mid
    out[:] = hi


def sample_parameters(
    scenario: Scenario, n: int, rng: np.random.Generator, method: Sampler = "mc"
) -> np.ndarray:
    """Draw an (n x P) table of parameter values for n simulations."""
    return map_design(scenario, unit_design(n, len(scenario.parameter_names), method, rng))


# ---- Saltelli designs for variance-based (Sobol') sensitivity -------------------------------
SALTELLI_STREAM = 2**20  # SeedSequence spawn key of the base-point sequence (not a block)


def varying_columns(scenario: Scenario) -> list[int]:
    """Columns of the parameter table that are uncertain (not ``fixed``)."""
    return [j for j, d in enumerate(scenario.distributions) if getattr(d, "dist", "") != "fixed"]


def saltelli_unit(d: int, seed: int, first: int, count: int) -> np.ndarray:
    """Unit-cube rows of a Saltelli design for base points ``first .. first+count-1``.

    Base point i is point i of a scrambled Sobol' sequence in 2d dimensions (seeded by
    ``seed``): A_i = its first d coordinates, B_i the last d. Each base point gives d + 2
    rows in the order SALib expects without second-order terms: A_i, AB_i^(1..d) (A_i with
    column j taken from B_i), B_i. Any range of base points can be produced on its own.
    """
    ss = np.random.SeedSequence(seed, spawn_key=(SALTELLI_STREAM,))
    engine = _qmc().Sobol(d=2 * d, scramble=True, seed=np.random.default_rng(ss))
    if first:
        engine.fast_forward(first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # balance needs powers of two: noted
        pts = np.clip(engine.random(count), EDGE, 1.0 - EDGE)
    a, b = pts[:, :d], pts[:, d:]
    rows = np.repeat(a[:, None, :], d + 2, axis=1)  # (count, d + 2, d)
    idx = np.arange(d)
    rows[:, 1 + idx, idx] = b[:, idx]
    rows[:, d + 1] = b
    return rows.reshape(count * (d + 2), d)


def saltelli_rows(scenario: Scenario) -> int:
    """Rows of one Saltelli base point: A, AB_1..AB_d, B (SALib's order) and A' (A's inputs
    with B's innovations), for d uncertain inputs."""
    return len(varying_columns(scenario)) + 3


def saltelli_block(
    scenario: Scenario, seed: int, first: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Parameter rows for base points ``first..first+count-1`` and, for each row, the row
    (within these) whose innovations it must reuse.

    The A and AB rows of a base point share the A row's innovations and the B row keeps its
    own: the aleatory noise is then one more input that belongs to A, so the estimators stay
    valid for a stochastic model, and an input with no effect has a total index of exactly 0.
    The last row, A', repeats A's inputs with B's innovations: A and A' differ only in the
    noise, so Cov(Y_A, Y_A') estimates Var E[Y | inputs], the variance the inputs can explain.
    """
    cols = varying_columns(scenario)
    d = len(cols)
    m = d + 3
    unit = np.full((count, m, len(scenario.parameter_names)), 0.5)
    unit[:, : d + 2, cols] = saltelli_unit(d, seed, first, count).reshape(count, d + 2, d)
    unit[:, d + 2] = unit[:, 0]
    rows = np.arange(count * m)
    k = rows % m
    src = np.where(k <= d, rows - k, np.where(k == d + 1, rows, rows - 1))
    return map_design(scenario, unit.reshape(count * m, -1)), src
