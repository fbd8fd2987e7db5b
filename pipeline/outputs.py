"""The registry of stored outputs, and the run's time axis.

Every output a run stores is declared here once (``OUTPUTS``); the engine's block reduction,
the published Dataset (``store.schema``), the headline tables and docs/store.md all read it.
Horizons in years come from the time coordinate, so any step length (3, 6, 12 months) works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from alliance_risk.models import numerics

DAYS_PER_YEAR = 365.25


def years_ahead(time: np.ndarray) -> np.ndarray:
    """Years from the first date of a time coordinate (datetime64) to each date."""
    t = np.asarray(time, dtype="datetime64[D]")
    return (t - t[0]).astype(np.float64) / DAYS_PER_YEAR


def horizon_index(time: np.ndarray, years: float) -> int:
    """Index of the date nearest ``years`` after the start (the last date at most)."""
    return int(np.argmin(np.abs(years_ahead(time) - years)))


def horizon_label(years: float) -> str:
    """ "1 yr", "2.5 yr": a column heading for a horizon."""
    return f"{years:g} yr"


# ---- the registry ------------------------------------------------------------------------

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
N_BINS = 200  # histogram bins of each continuous output
BURDEN_BINS = (0.0, 15.0, 300)  # per-member burden histogram: % of GDP, 0.05 pp bins
HONOUR_BINS = 100  # bins of the Article 5 honour rate at onset
T, TM = ("time",), ("time", "member")


@dataclass(frozen=True)
class Histogram:
    """Fixed edges of a continuous output's histogram (quantiles are read from it)."""

    low: float
    high: float
    log: bool = False
    bins: int = N_BINS

    @property
    def edges(self) -> np.ndarray:
        if self.log:  # as np.geomspace, whose float64 power differs on AVX-512 CPUs
            lo, hi = math.log(self.low), math.log(self.high)
            edges = numerics.exp(np.linspace(lo, hi, self.bins + 1))
            edges[0], edges[-1] = self.low, self.high
            return edges
        return np.linspace(self.low, self.high, self.bins + 1)


@dataclass(frozen=True)
class Output:
    """One stored output: what it is (name, dims, units, long name, description), how a
    block reduces it (``reduce``: a reducer of ``engine.block``, reading the kernel record
    ``source``, into the additive statistic ``total``) and how the totals become stored
    variables (``kind``: a finaliser of ``store.schema``, whose variables ``variables`` lists).
    """

    name: str
    kind: str
    dims: tuple[str, ...]
    units: str
    long_name: str
    description: str = ""
    reduce: str = "none"
    source: str = ""
    total: str = ""
    clustered: bool = False  # Saltelli runs keep per-cluster sums of squares: robust errors
    tables: tuple[str, ...] = ()  # "headlines" (run attribute, --target-se), "summary" (CLI)
    hist: Histogram | None = None
    denominator: str = ""  # the total a conditional probability divides by

    @property
    def histogram(self) -> Histogram:
        """The histogram of a continuous or quantile output."""
        if self.hist is None:
            raise ValueError(f"output {self.name} has no histogram")
        return self.hist


def _p(name, source, long_name, description="", *, dims=T, total="", **kw) -> Output:
    """A probability counted from an indicator (alliance level) or event steps (members)."""
    reduce = "count" if dims == T else "cumulative"
    return Output(
        name, "probability", dims, "1", long_name, description,
        reduce=reduce, source=source, total=total or f"n_{source}", **kw,
    )  # fmt: skip


def _c(name, low, high, units, long_name, log=False) -> Output:
    """A continuous alliance-level output: mean, its error, histogram quantiles."""
    return Output(
        name, "continuous", T, units, long_name, reduce="continuous", source=name,
        total=name, hist=Histogram(low, high, log),
    )  # fmt: skip


H, S = ("headlines", "summary"), ("summary",)
OUTPUTS: tuple[Output, ...] = (
    _p("p_intact", "intact", "probability the alliance is intact", clustered=True, tables=H),
    _p(
        "p_intact_with_hegemon", "intact_with_hegemon",
        "probability the alliance is intact and the hegemon a member", clustered=True, tables=H,
    ),
    _p(
        "p_any_withdrawal", "any_withdrawal", "probability at least one member has withdrawn",
        "cumulative, effective exits", clustered=True, tables=H,
    ),
    _p(
        "p_any_notice", "any_notice",
        "probability at least one member has given notice of withdrawal",
        "cumulative, Article 13 notices (including one observed at the start)", clustered=True,
    ),
    _p(
        "p_hegemon_withdrawn", "hegemon_withdrawn", "probability the hegemon has withdrawn",
        clustered=True, tables=H,
    ),
    _p(
        "p_conflict", "conflict", "probability of conflict onset by this date",
        "first attack on the alliance, cumulative", clustered=True, tables=H,
    ),
    Output(
        "p_conflict_given_intact", "conditional", T, "1",
        "probability of conflict onset by this date, given the alliance is intact then",
        "P(onset by t | intact at t): onsets while the alliance stands; p_conflict also "
        "counts onsets after a dissolution (docs/model.md)",
        reduce="count", source="conflict_intact", total="n_conflict_intact", clustered=True,
        tables=S, denominator="n_intact",
    ),
    Output(
        "conflict_after_dissolution_share", "share", T, "1",
        "share of onsets by this date that came after the alliance dissolved",
        "rests on two uncalibrated assumptions: Q = 0 and R from the target's own capability",
        reduce="count", source="conflict_after_dissolution",
        total="n_conflict_after_dissolution", denominator="n_conflict",
    ),
    _p(
        "p_intra_dispute", "dispute",
        "probability of a militarised dispute within a designated member dyad by this date",
        "E15b, cumulative; dyads in the run's scenario (alliance.dyads)", clustered=True,
    ),
    _p("p_pandemic", "pandemic", "probability of at least one pandemic"),
    _p("p_arms_race", "arms_race", "probability of a mutual arms build-up in the last year"),
    Output(
        "p_dissolved_by_cause", "probability", ("time", "cause"), "1",
        "probability the alliance has dissolved, by cause", "cumulative",
        reduce="causes", source="dissolution_cause", total="n_dissolved_by_cause",
    ),
    Output(
        "members_pmf", "pmf", ("time", "n_members"), "1", "distribution of members remaining",
        reduce="pmf", source="members", total="members_pmf_count",
    ),
    Output(
        "members_mean", "pmf_mean", T, "1", "expected members remaining",
        source="members", total="members_pmf_count",
    ),
    Output(
        "n_meeting_mean", "mean_count", ("time", "threshold"), "1",
        "expected number of active members at or above the threshold",
        reduce="meeting", source="n_meeting", total="n_meeting_sum",
    ),
    _c("cohesion", 0, 1, "1", "political cohesion C (0 after dissolution)"),
    _c("credibility", 0, 1, "1", "military credibility Q (capability-weighted commitment)"),
    _c("retention", 0, 1, "1", "capability retention of the original members"),
    _c("local_balance", 0, 20, "1", "expected local balance R against the adversary"),
    _c("hhi", 0, 1, "1", "concentration (HHI) of capability shares"),
    _c("alliance_spending", 0, 8000, "USD bn/yr", "defence spending of active members"),
    _c("alliance_burden", 0, 10, "% of GDP", "GDP-weighted defence burden of active members"),
    _c("adversary_spending", 0, 500, "USD bn/yr", "adversary military spending"),
    _c("hostility", -4, 6, "1", "adversary hostility H (log scale, 0 at start)"),
    _c("friction", 0, 8, "1", "hegemon friction F"),
    _c("conflict_hazard", 1e-6, 10, "1/yr", "annual hazard of an attack on the alliance", True),
    *(
        Output(
            f"{name}_given_intact_mean", "intact_mean", T, "1",
            f"mean {name} among simulations where the alliance is intact",
            source=name, total=f"{name}_given_intact_sum", denominator="n_intact",
        )
        for name in ("cohesion", "credibility")
    ),
    _p("p_withdrawn", "withdrawal_step", "probability the member has withdrawn", dims=TM,
       total="n_withdrawn"),
    _p("p_notice", "notice_step", "probability the member has given notice of withdrawal",
       "cumulative, Article 13", dims=TM, total="n_notice"),
    *(
        Output(name, "probability", TM, "1", long_name, reduce="kernel", total=total)
        for name, total, long_name in (
            ("p_disengaged", "n_disengaged", "probability the member is partially disengaged"),
            ("p_sceptical_government", "n_sceptical",
             "probability the member has a sceptical government"),
            ("p_meets_target", "n_meets_target",
             "probability the member is active and at or above its spending target"),
        )
    ),
    Output("commitment", "mean", TM, "1", "probability of honouring Article 5", reduce="kernel",
           total="commitment"),
    Output("burden", "mean", TM, "% of GDP", "defence burden", reduce="kernel", total="burden"),
    Output(
        "burden_quantile", "member_quantile", ("time", "member", "quantile"), "% of GDP",
        "quantiles of member burden", reduce="kernel", total="burden_hist",
        hist=Histogram(*BURDEN_BINS[:2], bins=BURDEN_BINS[2]),
    ),
    Output("target", "target", TM, "% of GDP", "spending target of the member"),
    Output(
        "art5_honour_rate", "onset_mean", (), "1",
        "mean share of allies honouring Article 5 at conflict onset",
        reduce="honour_rate", source="honour_rate", total="honour",
    ),
    Output(
        "art5_honour_rate_hist", "onset_hist", ("honour_bin",), "1",
        "number of onsets by share of allies honouring Article 5", total="honour_hist",
    ),
    Output(
        "p_art5_fewer_than_half", "onset_probability", (), "1",
        "probability that fewer than half of the allies honour Article 5, given an onset",
        "joint abandonment: the allies' decisions share a common factor (E15)",
        total="honour_hist", denominator="n_art5",
    ),
    Output(
        "p_hegemon_honours", "onset_probability", (), "1",
        "probability the hegemon honours Article 5 at onset",
        reduce="hegemon_honours", source="hegemon_honours", total="n_hegemon_honours",
        denominator="n_hegemon_asked",
    ),
)  # fmt: skip
BY_NAME = {o.name: o for o in OUTPUTS}
CONTINUOUS = tuple(o for o in OUTPUTS if o.kind == "continuous")
EDGES = {o.name: o.histogram.edges for o in CONTINUOUS}
HEADLINES = tuple(o.name for o in OUTPUTS if "headlines" in o.tables)
TABLE = tuple(o.name for o in OUTPUTS if "summary" in o.tables)  # rows of headline tables
CLUSTERED = tuple(o.total for o in OUTPUTS if o.clustered)


# ---- what each output stores ---------------------------------------------------------------


class Variable(NamedTuple):
    """One stored variable of an output (an output stores one to four)."""

    name: str
    dims: tuple[str, ...]
    dtype: str
    units: str
    long_name: str


def _probability_vars(o: Output) -> list[Variable]:
    return [
        Variable(o.name, o.dims, "float64", "1", o.long_name),
        Variable(f"{o.name}_se", o.dims, "float64", "1", f"Monte Carlo standard error of {o.name}"),
        Variable(
            f"{o.name}_ci95", (*o.dims, "bound"), "float64", "1", f"95% Wilson interval of {o.name}"
        ),
    ]


def _mean_vars(o: Output, dims: tuple[str, ...]) -> list[Variable]:
    return [
        Variable(f"{o.name}_mean", dims, "float64", o.units, f"mean {o.long_name}"),
        Variable(
            f"{o.name}_mean_se", dims, "float64", o.units,
            f"Monte Carlo standard error of {o.name}_mean",
        ),
    ]  # fmt: skip


def variables(o: Output) -> list[Variable]:
    """The variables an output stores in a run's Dataset, in order."""
    if o.kind in ("probability", "conditional", "onset_probability"):
        return _probability_vars(o)
    if o.kind == "continuous":
        q = ("time", "quantile")
        return [
            *_mean_vars(o, o.dims),
            Variable(
                f"{o.name}_quantile_se", q, "float64", o.units,
                f"sampling standard error of {o.name}_quantile",
            ),
            Variable(f"{o.name}_quantile", q, "float64", o.units, f"quantiles of {o.long_name}"),
        ]  # fmt: skip
    if o.kind == "mean":
        return _mean_vars(o, o.dims)
    if o.kind == "onset_mean":
        return [
            Variable(f"{o.name}_mean", (), "float64", o.units, o.long_name),
            *_mean_vars(o, ())[1:],
        ]
    dtype = "int64" if o.kind == "onset_hist" else "float64"
    return [Variable(o.name, o.dims, dtype, o.units, o.long_name)]


def stored_variables() -> list[Variable]:
    """Every data variable of a run's Dataset (schema 2), in order."""
    return [v for o in OUTPUTS for v in variables(o)]


def markdown_tables() -> str:
    """The variable tables of docs/store.md (alliance level, member level), generated from
    the registry; ``python -m alliance_risk.pipeline.outputs`` prints them."""
    lines = []
    for title, member in (("Alliance level", False), ("Member level", True)):
        lines += [f"{title}:", "", "| variable | dims | units | meaning |", "|---|---|---|---|"]
        for o in OUTPUTS:
            if ("member" in o.dims) != member:
                continue
            names = ", ".join(f"`{v.name}`" for v in variables(o))
            all_dims = [d for v in variables(o) for d in v.dims if d != "bound"]
            dims = ", ".join(dict.fromkeys(all_dims)) or "scalar"
            meaning = o.long_name + (f"; {o.description}" if o.description else "")
            meaning = meaning.replace("|", "\\|")  # a pipe inside a Markdown table cell
            lines.append(f"| {names} | {dims} | {o.units} | {meaning} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(markdown_tables(), end="")
