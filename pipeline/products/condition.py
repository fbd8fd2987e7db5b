"""Conditional forecasts from a run's kept samples: "given that ..., how likely is ...".

A condition is a small boolean language over the per-simulation samples (docs/events.md):

    withdrawn(USA) by 2029Q4      notice(TUR) by 2027      onset after 2030Q1
    dissolved by 2034Q4           any_withdrawal           event(us-isolationist)
    ... combined with and, or, not and parentheses.

``by Q`` means by the end of quarter Q (a bare year is its Q4); ``after Q`` is its
negation (the event had not happened by the end of Q, or never did); without a date, by the
horizon. Conditioning keeps the simulations where the condition holds, each with equal
weight, so the effective sample size is their number; probabilities come with their
binomial standard error and quantiles with a distribution-free 95% interval (order
statistics). Conditioning is observational: P(conflict | the US gave notice) mixes the
effect of a notice with the reasons a notice was given; a forced ``[[events]]`` entry is the
intervention (the two agree for an event drawn independently of the state, which the tests
check).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from alliance_risk.models.errors import InputError
from alliance_risk.models.scenario import quarter_index
from alliance_risk.pipeline.api import run_scenario
from alliance_risk.pipeline.products.compare import SURVIVAL, _event_times
from alliance_risk.pipeline.store import ForecastStore
from alliance_risk.pipeline.store.samples import open_samples, read

MIN_SIMS = 100
QUANTILES = (0.05, 0.5, 0.95)
FINALS = ("cohesion", "credibility", "alliance_burden", "adversary_spending", "members")


class ConditionError(InputError):
    """A condition that cannot be read, names something the run does not have, or holds in
    too few simulations."""


_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_TIMED = ("withdrawn", "notice", "onset", "dissolved", "any_withdrawal")


@dataclass
class _Parser:
    """Recursive descent over the condition's tokens; ``atom`` evaluates on the samples."""

    text: str
    atom: object
    tokens: list[str] = field(default_factory=list)
    pos: int = 0

    def __post_init__(self):
        self.tokens = _TOKEN.findall(self.text)

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, want: str | None = None) -> str:
        tok = self._peek()
        if tok is None or (want is not None and tok.lower() != want):
            got = f"{tok!r}" if tok is not None else "the end"
            raise ConditionError(
                f"condition {self.text!r}: expected {want or 'more'} at token "
                f"{self.pos + 1}, got {got}"
            )
        self.pos += 1
        return tok

    def parse(self) -> np.ndarray:
        value = self._or()
        if self._peek() is not None:
            raise ConditionError(
                f"condition {self.text!r}: unexpected {self._peek()!r} at token {self.pos + 1} "
                "(join terms with and / or)"
            )
        return value

    def _or(self):
        value = self._and()
        while (self._peek() or "").lower() == "or":
            self._take()
            value = value | self._and()
        return value

    def _and(self):
        value = self._not()
        while (self._peek() or "").lower() == "and":
            self._take()
            value = value & self._not()
        return value

    def _not(self):
        tok = (self._peek() or "").lower()
        if tok == "not":
            self._take()
            return ~self._not()
        if tok == "(":
            self._take()
            value = self._or()
            self._take(")")
            return value
        return self._atom()

    def _atom(self):
        name = self._take().lower()
        arg = None
        if self._peek() == "(":
            self._take()
            arg = self._take()
            self._take(")")
        when, quarter = None, None
        if name in _TIMED and (self._peek() or "").lower() in ("by", "after"):
            when = self._take().lower()
            quarter = self._take()
        return self.atom(name, arg, when, quarter)


@dataclass
class Conditional:
    """A conditional forecast: every row given the condition and unconditionally."""

    run_id: str
    condition: str
    n_sims: int
    n_given: int
    horizon: str
    probabilities: list[tuple[str, float, float, float, float]]  # name, p|c, se, p, se
    quantiles: list[tuple[str, list[float], list[float], list[float]]]  # given, all, CI

    @property
    def p_condition(self) -> tuple[float, float]:
        p = self.n_given / self.n_sims
        return p, float(np.sqrt(p * (1 - p) / self.n_sims))

    def markdown(self) -> str:
        p, se = self.p_condition
        lines = [
            f"Run {self.run_id}, given: {self.condition}",
            f"P(condition) = {p:.4f} ± {se:.4f}; effective sample size {self.n_given} "
            f"of {self.n_sims} simulations; probabilities by {self.horizon}",
            "",
            "| outcome | given the condition | unconditional | difference |",
            "|---|---|---|---|",
        ]
        quiet = 0
        for name, pc, sc, pu, su in self.probabilities:
            if name.startswith("p_withdrawn[") and abs(pc - pu) < 2 * np.hypot(sc, su):
                quiet += 1  # a member whose exit risk the condition does not move
                continue
            lines.append(f"| {name} | {pc:.4f} ± {sc:.4f} | {pu:.4f} ± {su:.4f} | {pc - pu:+.4f} |")
        if quiet:
            lines.append(f"| p_withdrawn of {quiet} other members | within 2 s.e. | | |")
        lines += ["", "| at the horizon | given: 5% / 50% / 95% | unconditional |", "|---|---|---|"]
        for name, qc, qu, ci in self.quantiles:
            given = " / ".join(f"{v:.3g}" for v in qc)
            lines.append(
                f"| {name} | {given} (median 95% CI [{ci[0]:.3g}, {ci[1]:.3g}]) | "
                + " / ".join(f"{v:.3g}" for v in qu)
                + " |"
            )
        return "\n".join(lines) + "\n"


def _by_step(sc, quarter: str, text: str) -> int:
    """The record step at the end of ``quarter`` (a year means its Q4)."""
    q = f"{quarter}Q4" if re.fullmatch(r"\d{4}", quarter) else quarter
    try:
        qi = quarter_index(q)
    except ValueError:
        raise ConditionError(
            f"condition {text!r}: {quarter!r} is not a quarter (2029Q4) or a year"
        ) from None
    if not quarter_index(sc.time.start) <= qi <= quarter_index(sc.last_quarter):
        raise ConditionError(
            f"condition {text!r}: {quarter} is outside the run's horizon "
            f"[{sc.time.start}, {sc.last_quarter}]"
        )
    return sc.step_of(q) + 1


class _Samples:
    """The arrays a condition reads, loaded once each."""

    def __init__(self, fs: ForecastStore, run_id: str):
        self.group = open_samples(fs, run_id)
        attrs = fs.run_attrs(run_id)
        self.sc = run_scenario(attrs)
        self.n = int(attrs["sims"])
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name not in self.group:
                raise ConditionError(
                    f"this run's samples have no {name!r} (kept by an older version): "
                    "rerun it with --keep-samples"
                )
            self._cache[name] = read(self.group, name)[: self.n]
        return self._cache[name]

    def member(self, code: str | None, text: str) -> int:
        if code is None or code.upper() not in self.sc.codes:
            raise ConditionError(
                f"condition {text!r}: {code!r} is not a member of {self.sc.name} "
                f"(members: {', '.join(self.sc.codes)})"
            )
        return self.sc.codes.index(code.upper())

    def atom(self, text: str):
        def evaluate(name, arg, when, quarter):
            if name == "event":
                names = self.sc.event_names
                if arg not in names:
                    known = ", ".join(names) or "the scenario has none"
                    raise ConditionError(
                        f"condition {text!r}: no event {arg!r} in the run's scenario ({known})"
                    )
                return self["event_occurred"][:, names.index(arg)].astype(bool)
            times = {
                "withdrawn": lambda: self["withdrawal_step"][:, self.member(arg, text)],
                "notice": lambda: self["notice_step"][:, self.member(arg, text)],
                "onset": lambda: self["onset_step"],
                "dissolved": lambda: self["dissolution_step"],
                "any_withdrawal": lambda: self["withdrawal_step"].min(axis=1),
            }
            if name not in times:
                raise ConditionError(
                    f"condition {text!r}: unknown term {name!r} (known: "
                    f"{', '.join((*_TIMED, 'event'))})"
                )
            t = times[name]().astype(np.int64)
            k = self.sc.time.steps if quarter is None else _by_step(self.sc, quarter, text)
            hit = t <= k
            return ~hit if when == "after" else hit

        return evaluate


def _p_se(x: np.ndarray) -> tuple[float, float]:
    p = float(x.mean()) if x.size else float("nan")
    return p, float(np.sqrt(p * (1 - p) / max(x.size, 1)))


def _quantile_ci(x: np.ndarray, q: float = 0.5) -> list[float]:
    """Distribution-free 95% interval of the q-quantile: order statistics n q ∓ 1.96 √(n q(1-q))."""
    s = np.sort(x)
    n = len(s)
    half = 1.96 * np.sqrt(n * q * (1 - q))
    lo, hi = int(np.floor(n * q - half)), int(np.ceil(n * q + half))
    return [float(s[max(lo, 0)]), float(s[min(hi, n - 1)])]


def condition(
    fs: ForecastStore, run_id: str | None, given: str, min_sims: int = MIN_SIMS
) -> Conditional:
    """The run's headline probabilities (at the horizon) and final-state quantiles, given
    ``given``; ``ConditionError`` (exit 2) when it cannot be read or holds in fewer than
    ``min_sims`` simulations."""
    rid = fs.resolve(run_id)
    s = _Samples(fs, rid)
    if not given.strip():
        raise ConditionError("condition is empty: e.g. --given 'withdrawn(USA) by 2029Q4'")
    mask = np.asarray(_Parser(given, s.atom(given)).parse(), dtype=bool)
    n_given = int(mask.sum())
    if n_given < min_sims:
        raise ConditionError(
            f"condition {given!r} holds in {n_given} of {s.n} simulations of run {rid}; "
            f"at least {min_sims} are needed (--min-sims) for a usable estimate"
        )
    T = s.sc.time.steps
    rows = []
    times = _event_times(s.group, 0, s.n, s.sc.hegemon_index)
    outcomes = {name: (t > T) if SURVIVAL[name] else (t <= T) for name, t in times.items()}
    wd = s["withdrawal_step"]
    for i, code in enumerate(s.sc.codes):
        outcomes[f"p_withdrawn[{code}]"] = wd[:, i] <= T
    for name, x in outcomes.items():
        rows.append((name, *_p_se(x[mask]), *_p_se(x)))
    quantiles = []
    for name in FINALS:
        x = s[f"final_{name}"].astype(np.float64)
        quantiles.append(
            (
                name,
                list(np.quantile(x[mask], QUANTILES)),
                list(np.quantile(x, QUANTILES)),
                _quantile_ci(x[mask]),
            )
        )
    horizon = s.sc.last_quarter
    return Conditional(rid, given, s.n, n_given, horizon, rows, quantiles)


__all__ = ["MIN_SIMS", "ConditionError", "Conditional", "condition"]
