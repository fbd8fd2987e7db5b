"""What drives the risk: input rankings and scenario discovery on a run's kept samples.

From a run stored with ``--keep-samples`` (any sampler):
- ``rank_importance``: Spearman rank correlation of every uncertain input with each outcome,
  with a 95% interval (Fisher z), and the rank of its absolute value: a cheap global ranking
  that needs no special design;
- ``sobol_indices`` (runs with ``--sampler saltelli``): first-order and total Sobol' indices
  with bootstrap intervals (SALib's estimators, vectorised and seeded, on the pipeline's own
  Saltelli design, which runs distributed like any other run);
- ``prim``: Friedman & Fisher's Patient Rule Induction Method. It peels a box of input ranges
  in which a bad outcome (e.g. conflict within 5 years) is concentrated, and reports the
  peeling trajectory (coverage, density, support) and the chosen box.
Results are stored as ``analyses/<id>`` (docs/store.md).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import xarray as xr
from scipy import stats

from alliance_risk.models.layout import NEVER
from alliance_risk.models.sampling import varying_columns
from alliance_risk.pipeline.api import run_scenario
from alliance_risk.pipeline.outputs import horizon_index
from alliance_risk.pipeline.store import ForecastStore
from alliance_risk.pipeline.store.samples import open_samples, read
from alliance_risk.pipeline.store.schema import SCHEMA_VERSION

# outcome -> (description, function of the samples group and the horizon T)
OUTCOMES = {
    "any_withdrawal": "a member withdraws within the horizon",
    "dissolution": "the alliance dissolves within the horizon",
    "conflict": "conflict onset within the horizon",
    "conflict_5y": "conflict onset within 5 years",
    "cohesion_final": "cohesion at the horizon (0 after dissolution)",
}
BINARY = ("any_withdrawal", "dissolution", "conflict", "conflict_5y")


def load_samples(fs: ForecastStore, run_id: str) -> tuple[np.ndarray, list[str], dict]:
    """(inputs (sims, inputs), input names, outcomes {name: (sims,)}) of a kept-samples run."""
    g = open_samples(fs, run_id)
    time = fs.open_run(run_id)["time"].values
    T, five = len(time) - 1, horizon_index(time, 5)
    X = read(g, "parameters")
    names = [str(n) for n in read(g, "parameter")]
    wd = read(g, "withdrawal_step")
    onset = read(g, "onset_step").astype(np.int64)
    outcomes = {
        "any_withdrawal": (wd.min(axis=1) <= T).astype(np.float64),
        "dissolution": (read(g, "dissolution_step") <= T).astype(np.float64),
        "conflict": (onset <= T).astype(np.float64),
        "conflict_5y": (onset <= five).astype(np.float64),
        "cohesion_final": read(g, "final_cohesion").astype(np.float64),
    }
    assert NEVER > T  # events that did not happen are stored as NEVER
    return X, names, outcomes


def standard_ranks(X: np.ndarray) -> np.ndarray:
    """Column ranks of X, centred and scaled (0 for constant columns); compute once per run."""
    r = stats.rankdata(X, axis=0)
    sd = r.std(axis=0)
    return np.where(sd > 0, (r - r.mean(axis=0)) / np.where(sd > 0, sd, 1.0), 0.0)


def rank_importance(
    X: np.ndarray, y: np.ndarray, ranks: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Spearman correlation of each column of X with y, its 95% interval, and its rank.

    Constant inputs (fixed in the scenario) get NaN and no rank. ``ranks`` (from
    ``standard_ranks(X)``) saves re-ranking X for every outcome.
    """
    n, p = X.shape
    rx = standard_ranks(X) if ranks is None else ranks
    ranks_y = stats.rankdata(y)
    rho = np.full(p, np.nan)
    varying = X.std(axis=0) > 0
    if ranks_y.std() > 0:
        ry = (ranks_y - ranks_y.mean()) / ranks_y.std()
        rho[varying] = rx[:, varying].T @ ry / n
    z = np.arctanh(np.clip(rho, -0.999999, 0.999999))
    half = 1.959964 / np.sqrt(max(n - 3, 1))
    finite = int(np.isfinite(rho).sum())
    order = np.argsort(-np.nan_to_num(np.abs(rho), nan=-1.0))
    rank = np.full(p, -1)
    rank[order[:finite]] = np.arange(1, finite + 1)
    return {"rho": rho, "low": np.tanh(z - half), "high": np.tanh(z + half), "rank": rank}


@dataclass
class PrimResult:
    lower: np.ndarray  # (inputs,) box bounds; -inf/inf where not restricted
    upper: np.ndarray
    coverage: np.ndarray  # (steps,) trajectory
    density: np.ndarray
    support: np.ndarray
    chosen: int  # index of the chosen box in the trajectory


def prim(
    X: np.ndarray,
    y: np.ndarray,
    alpha: float = 0.05,
    min_support: float = 0.02,
    min_coverage: float = 0.3,
) -> PrimResult:
    """PRIM with a holdout: peel on the even simulations, judge on the odd ones.

    Each step removes the ``alpha`` share of the remaining training points from one side of
    one input, whichever leaves the highest mean. The trajectory (coverage = share of all
    y=1 inside the box, density = mean of y inside, support = share of points inside) is
    measured on the holdout; the chosen box is the densest there with coverage >=
    ``min_coverage``, and restrictions that do not raise its holdout density are dropped.
    """
    y = np.asarray(y)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("PRIM needs a binary outcome (0 or 1 in every simulation)")
    if y.sum() <= 0:
        raise ValueError("the outcome never happens in this run: nothing to discover")
    X = np.asarray(X, dtype=np.float32)  # halves the memory traffic of each peeling step
    Xt, yt, Xh, yh = X[0::2], y[0::2], X[1::2], y[1::2]
    p = X.shape[1]
    lo, hi = np.full(p, -np.inf), np.full(p, np.inf)
    boxes = [(lo.copy(), hi.copy())]
    varying = np.flatnonzero(X.std(axis=0) > 0)
    # the training points still in the box, one row per varying input (contiguous for the
    # order statistics), shrunk as the box is peeled
    Xi, yi = np.ascontiguousarray(Xt[:, varying].T), np.asarray(yt, bool)
    while Xi.shape[1] > min_support * len(yt):
        n = Xi.shape[1]
        k_lo, k_hi = int(alpha * (n - 1)), int(np.ceil((1 - alpha) * (n - 1)))
        part = np.partition(Xi, (k_lo, k_hi), axis=1)  # order statistics: O(n), not a sort
        a, b = part[:, k_lo], part[:, k_hi]
        cut_lo, cut_hi = Xi < a[:, None], Xi > b[:, None]  # what each peel would remove
        n_lo = n - np.count_nonzero(cut_lo, axis=1)
        n_hi = n - np.count_nonzero(cut_hi, axis=1)
        y_all = np.count_nonzero(yi)
        y_lo = y_all - np.count_nonzero(cut_lo[:, yi], axis=1)
        y_hi = y_all - np.count_nonzero(cut_hi[:, yi], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.concatenate([y_lo / n_lo, y_hi / n_hi])
        m[np.concatenate([n_lo == n, n_hi == n])] = -np.inf  # a peel that removes nothing
        k = int(np.nanargmax(m))
        if not np.isfinite(m[k]):
            break
        row = k % len(varying)
        j = varying[row]
        if k < len(varying):
            lo[j], keep = a[row], ~cut_lo[row]
        else:
            hi[j], keep = b[row], ~cut_hi[row]
        Xi, yi = Xi[:, keep], yi[keep]
        boxes.append((lo.copy(), hi.copy()))
    cov, dens, supp = _trajectory(Xh, yh, boxes)
    ok = np.flatnonzero(cov >= min_coverage)
    chosen = int(ok[np.nanargmax(dens[ok])]) if len(ok) else 0
    lo, hi = _prune(Xh, yh, *boxes[chosen])
    return PrimResult(lo, hi, cov, dens, supp, chosen)


def _trajectory(X, y, boxes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coverage, density, support) of each box of a peeling trajectory on (X, y). Each box
    adds one restriction to the one before, so membership is updated column by column:
    O(rows) a box, not O(rows x inputs)."""
    inside = np.ones(len(y), bool)
    total, out = max(float(y.sum()), 1e-300), []
    prev_lo, prev_hi = boxes[0]
    for lo, hi in boxes:
        for j in np.flatnonzero((lo != prev_lo) | (hi != prev_hi)):
            inside &= (X[:, j] >= lo[j]) & (X[:, j] <= hi[j])
        prev_lo, prev_hi = lo, hi
        hits = float(y[inside].sum())
        out.append((hits / total, hits / max(int(inside.sum()), 1), inside.mean()))
    cov, dens, supp = np.array(out).T
    return cov, dens, supp


def _prune(X, y, lo, hi):
    """Drop restrictions one at a time while the (holdout) density does not fall: each
    round drops the one whose removal gives the highest density (the first on ties)."""
    lo, hi = lo.copy(), hi.copy()
    while True:
        cols = np.flatnonzero(np.isfinite(lo) | np.isfinite(hi))
        if not len(cols):
            return lo, hi
        sub = X[:, cols]
        outside = (sub < lo[cols]) | (sub > hi[cols])  # (rows, restrictions)
        misses = outside.sum(axis=1)
        inside, once = misses == 0, misses == 1
        n_in, y_in = int(inside.sum()), float(y[inside].sum())
        current = y_in / max(n_in, 1)
        # without restriction j, a row is in when it misses nothing, or only j
        n_j = n_in + outside[once].sum(axis=0)
        y_j = y_in + y[once].astype(np.float64) @ outside[once]
        dens = y_j / np.maximum(n_j, 1)
        dens[dens < current] = -np.inf
        k = int(np.argmax(dens))
        if not np.isfinite(dens[k]):
            return lo, hi
        lo[cols[k]], hi[cols[k]] = -np.inf, np.inf


def sobol_indices(
    Y: np.ndarray, d: int, num_resamples: int = 100, seed: int = 0
) -> dict[str, np.ndarray]:
    """First-order (Saltelli 2010) and total (Jansen) Sobol' indices with bootstrap 95%
    half-widths, from outputs in the order of ``models.sampling.saltelli_unit`` (per base
    point: A, AB_1..AB_d, B; a run's extra A' row removed). An output that never varies
    gives NaN.

    The estimators and the bootstrap are SALib's (``SALib.analyze.sobol``, second order off:
    the output standardised, base points resampled with replacement, half-width = z x the
    standard deviation of the resampled estimates), vectorised over inputs and resamples,
    and seeded (SALib draws from numpy's global generator when ``seed`` is 0)."""
    Y = np.asarray(Y, dtype=np.float64)
    if Y.size % (d + 2):
        raise ValueError(f"{Y.size} outputs are not whole base points of {d + 2} rows")
    if Y.var() == 0:
        nan = np.full(d, np.nan)
        return {"S1": nan, "S1_conf": nan, "ST": nan, "ST_conf": nan}
    rows = ((Y - Y.mean()) / Y.std()).reshape(-1, d + 2)
    A, AB, B = rows[:, 0], rows[:, 1 : d + 1], rows[:, d + 1]
    est = _sobol(A[:, None], AB[:, None, :], B[:, None])  # one "resample": the sample
    n = len(A)
    r = np.random.default_rng(seed).integers(n, size=(n, num_resamples))
    z = stats.norm.ppf(0.975)
    conf: dict[str, list] = {"S1": [], "ST": []}
    for lo in range(0, d, 16):  # inputs in slices: memory n x resamples x 16
        boot = _sobol(A[r], AB[r, lo : lo + 16], B[r])
        for k in conf:
            conf[k].append(z * boot[k].std(axis=0, ddof=1))
    flat = np.ptp(np.r_[A[r], B[r]]) == 0
    return {
        "S1": est["S1"][0],
        "S1_conf": np.zeros(d) if flat else np.concatenate(conf["S1"]),
        "ST": est["ST"][0],
        "ST_conf": np.zeros(d) if flat else np.concatenate(conf["ST"]),
    }


def _sobol(A: np.ndarray, AB: np.ndarray, B: np.ndarray) -> dict[str, np.ndarray]:
    """S1 and ST of every input for every resample: A, B (n, R); AB (n, R, inputs)."""
    var = np.var(np.concatenate([A, B]), axis=0)[:, None]  # (R, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s1 = np.mean(B[..., None] * (AB - A[..., None]), axis=0) / var
        st = 0.5 * np.mean((A[..., None] - AB) ** 2, axis=0) / var
    return {"S1": np.where(var > 0, s1, 0.0), "ST": st}


def explained_share(Y: np.ndarray, d: int, num_resamples: int = 200, seed: int = 0):
    """Share of an outcome's variance the uncertain inputs can explain, Var E[Y|X] / Var Y,
    with a bootstrap 95% half-width over base points.

    Rows per base point as ``models.sampling.saltelli_block`` (A, AB_1..AB_d, B, A'): A and A'
    share the inputs, not the innovations, so Cov(Y_A, Y_A') = Var E[Y|X]; the rest of Var Y
    is the model's own randomness (aleatory), which no input drives.
    """
    Y = np.asarray(Y, np.float64).reshape(-1, d + 3)
    a, a2, b = Y[:, 0], Y[:, d + 2], Y[:, d + 1]

    def share(i):
        both = np.concatenate([a[i], b[i]])
        var = both.var()
        cov = np.mean(a[i] * a2[i]) - np.mean(a[i]) * np.mean(a2[i])
        return cov / var if var > 0 else np.nan

    n = len(a)
    est = share(np.arange(n))
    rng = np.random.default_rng(seed)
    boot = [share(rng.integers(0, n, n)) for _ in range(num_resamples)]
    return est, 1.959964 * np.nanstd(boot)


def _add_sobol(ds: xr.Dataset, X: np.ndarray, outcomes: dict, cols: list[int]) -> None:
    p, d = X.shape[1], len(cols)
    out = {k: np.full((len(OUTCOMES), p), np.nan) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    explained = np.full((len(OUTCOMES), 2), np.nan)
    for i, name in enumerate(OUTCOMES):
        Y = np.asarray(outcomes[name], np.float64).reshape(-1, d + 3)
        est = sobol_indices(Y[:, : d + 2].ravel(), d)  # SALib's rows: A, AB_1..AB_d, B
        for k, v in est.items():
            out[k][i, cols] = v
        explained[i] = explained_share(Y, d)
    longs = {
        "S1": "first-order Sobol' index (Saltelli 2010 estimator)",
        "S1_conf": "half-width of its bootstrap 95% interval",
        "ST": "total Sobol' index (Jansen estimator)",
        "ST_conf": "half-width of its bootstrap 95% interval",
    }
    for k, v in out.items():
        ds[f"sobol_{k.lower()}"] = (
            ("outcome", "parameter"),
            v,
            {"units": "1", "long_name": longs[k], "description": longs[k] + "; NaN: fixed"},
        )
    ds["explained_share"] = (
        ("outcome",),
        explained[:, 0],
        {
            "units": "1",
            "long_name": "share of the outcome's variance the uncertain inputs can explain",
            "description": "Var E[Y|inputs] / Var Y from the A/A' rows (same inputs, other "
            "innovations); the rest is the model's own randomness, which no input drives",
        },
    )
    ds["explained_share_conf"] = (
        ("outcome",),
        explained[:, 1],
        {"units": "1", "long_name": "half-width of its bootstrap 95% interval"},
    )
    share = np.where(explained[:, :1] > 0, explained[:, :1], np.nan)
    ds["sobol_s1_conditional_mean"] = (
        ("outcome", "parameter"),
        out["S1"] / share,
        {
            "units": "1",
            "long_name": "first-order index of the conditional mean E[Y|inputs]",
            "description": "S1 / explained_share = Var E[Y|x_j] / Var E[Y|inputs]: the share of "
            "what the inputs can explain that x_j explains alone (so 'drives the risk' is not "
            "read off a noise-dominated S1)",
        },
    )


def analyse_run(
    fs: ForecastStore, run_id: str, prim_outcomes: tuple[str, ...] = BINARY
) -> xr.Dataset:
    """Rank correlations for every outcome and PRIM boxes for the binary ones."""
    X, names, outcomes = load_samples(fs, run_id)
    ds = xr.Dataset(
        coords={
            "outcome": np.array(list(OUTCOMES), dtype=object),
            "parameter": np.array(names, dtype=object),
        }
    )
    ranks = standard_ranks(X)
    res = {o: rank_importance(X, outcomes[o], ranks) for o in OUTCOMES}
    for key, long in (
        ("rho", "Spearman rank correlation of the input with the outcome"),
        ("low", "lower end of its 95% interval (Fisher z)"),
        ("high", "upper end of its 95% interval (Fisher z)"),
    ):
        values = np.stack([res[o][key] for o in OUTCOMES])
        ds[f"spearman{'' if key == 'rho' else '_' + key}"] = (
            ("outcome", "parameter"),
            values,
            {"units": "1", "long_name": long, "description": long},
        )
    ds["importance_rank"] = (
        ("outcome", "parameter"),
        np.stack([res[o]["rank"] for o in OUTCOMES]).astype(np.int32),
        {"units": "1", "long_name": "rank of |Spearman| (1 = strongest; -1 = fixed input)"},
    )
    attrs = fs.run_attrs(run_id)
    if attrs["sampler"] == "saltelli":
        _add_sobol(ds, X, outcomes, varying_columns(run_scenario(attrs)))
    _add_prim(ds, X, outcomes, prim_outcomes)
    ds["outcome_description"] = ("outcome", np.array(list(OUTCOMES.values()), dtype=object))
    ds.attrs.update(
        title=f"alliance-risk analysis of run {run_id}",
        run_id=run_id,
        sims=int(X.shape[0]),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        schema_version=SCHEMA_VERSION,
        methods="Spearman rank correlation with Fisher-z intervals; PRIM (alpha 0.05, "
        "densest box with coverage >= 0.3)",
    )
    return ds


def _add_prim(ds: xr.Dataset, X: np.ndarray, outcomes: dict, which: tuple[str, ...]) -> None:
    p = X.shape[1]
    lower = np.full((len(which), p), np.nan)
    upper = np.full((len(which), p), np.nan)
    summary = np.full((len(which), 3), np.nan)
    X32 = np.asarray(X, dtype=np.float32)  # once for every outcome
    found = [k for k, name in enumerate(which) if outcomes[name].sum() > 0]
    # the outcomes peel in parallel threads: numpy's partitions and comparisons release the GIL
    with ThreadPoolExecutor(max_workers=max(min(len(found), os.cpu_count() or 1), 1)) as pool:
        results = pool.map(lambda k: prim(X32, outcomes[which[k]]), found)
    for k, r in zip(found, results, strict=True):
        restricted_lo = np.isfinite(r.lower)
        restricted_hi = np.isfinite(r.upper)
        lower[k] = np.where(restricted_lo, r.lower, np.nan)
        upper[k] = np.where(restricted_hi, r.upper, np.nan)
        summary[k] = r.coverage[r.chosen], r.density[r.chosen], r.support[r.chosen]
    dims = ("prim_outcome", "parameter")
    ds.coords["prim_outcome"] = np.array(list(which), dtype=object)
    note = "NaN = not restricted"
    ds["prim_lower"] = (dims, lower, {"long_name": f"PRIM box lower bound ({note})"})
    ds["prim_upper"] = (dims, upper, {"long_name": f"PRIM box upper bound ({note})"})
    for i, key in enumerate(("coverage", "density", "support")):
        ds[f"prim_{key}"] = (
            ("prim_outcome",),
            summary[:, i],
            {"units": "1", "long_name": f"PRIM box {key}"},
        )


def publish_analysis(fs: ForecastStore, run_id: str) -> tuple[str, xr.Dataset]:
    """Analyse a run and store it as ``analyses/<id>``; returns the id and the Dataset."""
    ds = analyse_run(fs, run_id)
    aid = f"{run_id}-analysis-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    entry = {"id": aid, "run_id": run_id, "created": ds.attrs["created"], "kind": "ranking+prim"}
    fs.publish_product("analyses", aid, ds, entry)
    return aid, fs.open_product("analyses", aid)
