"""Scenario files: one self-contained TOML file -> validated, frozen objects.

A scenario holds the alliance's members (with the source of every figure), the adversary,
the time grid, the spending-target path, dissolution thresholds, a switch per coupling, and
every uncertain input as a named distribution (``distributions``). ``load_scenario``
accepts a path or the name of a built-in scenario and raises ``ScenarioError`` with one
line per problem, naming the file, the field and the value, before any work starts.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from alliance_risk.models.distributions import (
    DIST_TAGS,
    EDGE,
    Distribution,
    Fixed,
    Listed,
    Mixture,
)
from alliance_risk.models.errors import ScenarioError
from alliance_risk.models.parameters import GLOBAL_NAMES, PER_MEMBER_NAMES, SPECS

QUARTER_RE = re.compile(r"^(\d{4})Q([1-4])$")
BUILTIN_PACKAGE = "alliance_risk.models.data"


class _Frozen(BaseModel):
    """Strict: a number is a number (``true`` is not 1.0), a boolean is true or false."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, strict=True, allow_inf_nan=False
    )


def upto(limit: float, why: str) -> AfterValidator:
    """``<= limit``, with the reason in the message: the domain the model is meant for."""

    def check(value):
        if value is not None and not value <= limit:
            raise ValueError(f"must be <= {limit:g} ({why})")
        return value

    return AfterValidator(check)


WORLD = upto(1e6, "USD bn: ten times world GDP")
FAR = upto(20_037, "km: half the Earth's circumference")
SHARE = upto(100, "% of GDP")
SHOCK = upto(5, "hostility is on a logit-like scale where 5 is far beyond any observed crisis")


def _check_quarter(value: str) -> str:
    if not QUARTER_RE.match(value):
        raise ValueError(f"must look like 2025Q1, got {value!r}")
    return value


def quarter_index(value: str) -> int:
    """Quarters since year 0 for a 'YYYYQn' string (2025Q1 -> 8100)."""
    match = QUARTER_RE.match(value)
    if match is None:
        raise ValueError(f"a quarter is written YYYYQn (e.g. 2025Q1), got {value!r}")
    year, q = match.groups()
    return int(year) * 4 + int(q) - 1


Quarter = Annotated[str, Field(pattern=r"^\d{4}Q[1-4]$")]


class Meta(_Frozen):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    alliance: str = "NATO"


class TimeGrid(_Frozen):
    start: Quarter
    steps: int = Field(gt=0, le=400)
    step_months: int = 3

    @field_validator("step_months")
    @classmethod
    def _months(cls, v: int) -> int:
        if v not in (3, 6, 12):
            raise ValueError(f"must be 3, 6 or 12, got {v}")
        return v

    @property
    def dt(self) -> float:
        """Step length in years."""
        return self.step_months / 12.0


class Targets(_Frozen):
    initial: Annotated[float, Field(ge=0), SHARE]
    final: Annotated[float, Field(ge=0), SHARE]
    ramp_start: Quarter
    ramp_end: Quarter
    incremental: bool = True
    report_thresholds: Annotated[tuple[float, ...], Listed] = (2.0, 3.5)
    # model 2: a compliant government keeps a target (or the initial guideline) it has met,
    # except through a slippage event (parameter slippage_rate)
    hold_when_met: bool = True


class Adversary(_Frozen):
    name: str = "adversary"
    spending: Annotated[float, Field(gt=0), WORLD]  # USD bn, A_0
    spending_source: str = ""
    growth: float = Field(ge=-1, le=1)  # real growth of spending at t0, /yr
    gdp: Annotated[float, Field(gt=0), WORLD]  # USD bn
    gdp_source: str = ""
    # H-bar: 0 persists, < 0 detente, > 0 escalation; H_0 relative to 2025
    hostility_level: Annotated[float, Field(ge=-5), SHOCK] = 0.0
    hostility_start: Annotated[float, Field(ge=-5), SHOCK] = 0.0


class Alliance(_Frozen):
    hegemon: str | None = "USA"
    notice_quarters: int = Field(ge=0, le=40)
    friction0: Annotated[float, Field(ge=0), upto(100, "friction is O(1) at the worst")]
    hegemon_min_share: float = Field(ge=0, le=1)  # rho_min
    burden_min: float = Field(ge=0)
    burden_max: Annotated[float, Field(gt=0), SHARE]
    arms_race_growth: Annotated[float, Field(gt=0), upto(1, "/yr: 100% growth a year")]
    # member pairs with a dispute hazard (E15b)
    dyads: Annotated[tuple[Annotated[tuple[str, str], Listed], ...], Listed] = ()
    dyads_source: str = ""


class Deterrence(_Frozen):
    """The fixed reference state of the attack hazard (E15, model 2), with its provenance."""

    credibility_ref: float = Field(gt=0, lt=1)  # Q_ref
    balance_ref: float = Field(gt=0)  # R_ref
    reference: str = Field(min_length=1)


class Dissolution(_Frozen):
    cohesion_fraction: float = Field(ge=0, le=1)
    cohesion_quarters: int = Field(ge=1)
    min_retention: float = Field(ge=0, le=1)
    min_members: int = Field(ge=0)


class Couplings(_Frozen):
    threat_burden: bool = True
    burden_friction: bool = True
    friction_withdrawal: bool = True
    politics_withdrawal: bool = True
    power_withdrawal: bool = True
    threat_withdrawal: bool = True
    capability_deterrence: bool = True
    arms_race_war: bool = True


class Elections(_Frozen):
    """Calendar mode of E6 for one member: its government can change only at these quarters,
    with probability ``turnover`` (the orientation then drawn as E6), instead of at the
    constant hazard h_gov."""

    quarters: Annotated[tuple[Quarter, ...], Listed] = Field(min_length=1)
    turnover: float = Field(ge=0, le=1)
    source: str = Field(min_length=1)


class Member(_Frozen):
    code: str = Field(pattern=r"^[A-Z]{3}$")
    name: str = Field(min_length=1)
    accession: int | None = None
    region: str = ""
    gdp: Annotated[float, Field(gt=0), WORLD]  # USD bn
    gdp_source: str
    burden: float = Field(ge=0, le=100)  # % of GDP
    burden_source: str
    distance_km: Annotated[float, Field(gt=0), FAR]
    frontline: bool
    support: float = Field(gt=0, lt=100)  # % favourable to the alliance
    support_source: str
    has_forces: bool = True
    sceptical_government: bool | None = None  # observed orientation; None = draw
    notice_pending: int = Field(default=0, ge=0, le=40)  # quarters left on an observed notice
    disengaged: bool = False  # observed: outside the integrated military structure
    state_source: str = ""  # source of the observed starting state
    plan_burden: float | None = Field(default=None, ge=0, le=100)  # declared national plan
    plan_quarter: Quarter | None = None  # ... reached by this quarter
    plan_source: str = ""
    growth: Distribution | None = None
    sceptical_share: Distribution | None = None
    elections: Elections | None = None  # calendar mode of E6 (scheduled elections)


EVENT_TYPES = (
    "hostility_jump",
    "target_pull",
    "government",
    "notice",
    "return",
    "hegemon_presence",
    "target",
    "pandemic",
)
# what each type needs (beyond quarter and source) and what it may have; docs/events.md
EVENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "hostility_jump": (("size",), ("probability",)),
    "target_pull": (("scale",), ("duration",)),
    "government": (("member", "sceptical"), ("probability", "duration")),
    "notice": (("member",), ("probability",)),
    "return": (("member",), ("probability",)),
    "hegemon_presence": (("value",), ("probability", "duration")),
    "target": (("value",), ("duration",)),
    "pandemic": ((), ("probability", "duration")),
}
OPTIONAL_EVENT_FIELDS = ("member", "sceptical", "size", "scale", "value", "probability", "duration")


class Event(_Frozen):
    """A dated input (a back-test's observed shocks, a what-if), during ``quarter``.

    ``hostility_jump``: H jumps by ``size`` in that quarter's update (then reverts, E3).
    ``target_pull``: λ_T is multiplied by ``scale`` from then on (or for ``duration``).
    ``government``: ``member``'s government becomes sceptical (``sceptical = true``) or
    pro-alliance, held for ``duration`` quarters if given. ``notice``: ``member`` gives notice
    (it leaves ``alliance.notice_quarters`` later unless it rescinds). ``return``: ``member``
    rescinds a pending notice and ends a disengagement. ``hegemon_presence``: the hegemon's
    forward-presence share becomes ``value``. ``target``: the spending target becomes
    ``value`` % of GDP for every member. ``pandemic``: a pandemic starts (GDP loss and
    squeeze as E1), lasting ``duration`` quarters (default: the sampled pandemic_quarters).
    ``probability`` < 1 makes the event happen in that share of the simulations (drawn per
    simulation, recorded in the kept samples); policy events (target, target_pull) apply to
    every simulation. Docs: docs/events.md.
    """

    quarter: Quarter
    type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    member: str | None = None
    sceptical: bool | None = None
    size: Annotated[float | None, Field(ge=-5), SHOCK] = None
    scale: Annotated[float | None, Field(gt=0), upto(100, "a regime 100 times the prior")] = None
    value: Annotated[float | None, Field(ge=0), SHARE] = None
    probability: float = Field(default=1.0, gt=0, le=1)
    duration: int | None = Field(default=None, ge=1, le=400)  # quarters
    source: str = Field(min_length=1)

    @property
    def label(self) -> str:
        """The event's name: its own, or ``<type>[-<member>]-<quarter>``."""
        return self.name or f"{self.type}-{self.member + '-' if self.member else ''}{self.quarter}"


class Scenario(_Frozen):
    """A validated scenario. Build with ``load_scenario`` or ``parse_scenario``."""

    scenario: Meta
    time: TimeGrid
    targets: Targets
    adversary: Adversary
    alliance: Alliance
    dissolution: Dissolution
    couplings: Couplings = Couplings()
    deterrence: Deterrence
    parameters: dict[str, Distribution]
    member_parameters: dict[str, Distribution]
    members: Annotated[tuple[Member, ...], Listed] = Field(min_length=1)
    events: Annotated[tuple[Event, ...], Listed] = ()
    source_text: str = Field(default="", exclude=True, repr=False)

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(m.code for m in self.members)

    @property
    def sha256(self) -> str:
        """sha256 of the scenario's TOML text (provenance, as in pangeo-forge)."""
        return hashlib.sha256(self.source_text.encode()).hexdigest()

    @cached_property
    def parameter_names(self) -> tuple[str, ...]:
        """Column names of the sampled parameter table, in their stable order."""
        per_member = [f"{p}[{code}]" for p in PER_MEMBER_NAMES for code in self.codes]
        return GLOBAL_NAMES + tuple(per_member)

    @cached_property
    def distributions(self) -> tuple[Any, ...]:
        """The distribution of every column of the parameter table."""
        out = [self.parameters[n] for n in GLOBAL_NAMES]
        for p in PER_MEMBER_NAMES:
            for m in self.members:
                out.append(getattr(m, p) or self.member_parameters[p])
        return tuple(out)

    def member_array(self, field: str, dtype=np.float64) -> np.ndarray:
        return np.array([getattr(m, field) for m in self.members], dtype=dtype)

    @property
    def hegemon_index(self) -> int:
        """Position of the hegemon among the members, or -1 if none."""
        h = self.alliance.hegemon
        return self.codes.index(h) if h in self.codes else -1

    def target_path(self) -> np.ndarray:
        """Spending target (% of GDP) for each update k = 0..steps-1 and member, (steps, N)."""
        t = self.targets
        dt = self.time.dt
        t0 = quarter_index(self.time.start)
        start = (quarter_index(t.ramp_start) - t0) / 4.0
        end = (quarter_index(t.ramp_end) - t0) / 4.0
        years = np.arange(self.time.steps) * dt
        frac = np.clip((years - start) / max(end - start, 1e-12), 0.0, 1.0)[:, None]
        common = t.initial + (t.final - t.initial) * frac
        if not t.incremental:
            out = np.broadcast_to(common, (self.time.steps, len(self.members))).copy()
        else:
            b0 = self.member_array("burden")
            b0 = np.clip(b0, min(t.initial, t.final), max(t.initial, t.final))
            out = np.maximum(common, b0 + (t.final - b0) * frac)
        for k, end, e in self._event_steps("target"):  # dated changes of the target
            out[k:end] = e.value
        return out

    def plan_path(self) -> np.ndarray:
        """Anchor of each member's desired burden for each update, (steps, N).

        A member's declared plan runs linearly from its starting burden to ``plan_burden``
        at ``plan_quarter`` and stays there; a member without a plan is anchored at b_0.
        """
        dt, steps = self.time.dt, self.time.steps
        t0 = quarter_index(self.time.start)
        years = np.arange(steps) * dt
        out = np.empty((steps, len(self.members)))
        for i, m in enumerate(self.members):
            out[:, i] = m.burden
            if m.plan_burden is not None and m.plan_quarter is not None:
                end = max((quarter_index(m.plan_quarter) - t0) / 4.0, 1e-12)
                frac = np.clip(years / end, 0.0, 1.0)
                out[:, i] = m.burden + (m.plan_burden - m.burden) * frac
        return out

    def step_of(self, quarter: str) -> int:
        """The update (0..steps-1) that runs during ``quarter``."""
        return (quarter_index(quarter) - quarter_index(self.time.start)) // (
            self.time.step_months // 3
        )

    def steps_for(self, quarters: int) -> int:
        """Updates spanned by ``quarters`` quarters (at least one)."""
        return max(1, -(-quarters // (self.time.step_months // 3)))

    @cached_property
    def event_names(self) -> tuple[str, ...]:
        """Each event's name, in file order (the ``event`` dimension of kept samples)."""
        return tuple(e.label for e in self.events)

    @property
    def last_quarter(self) -> str:
        """The horizon's last quarter ('2034Q4' for 40 quarterly steps from 2025Q1)."""
        end = quarter_index(self.time.start) + self.time.steps * self.time.step_months // 3
        return _quarter_name(end - 1)

    def _event_steps(self, kind: str):
        """(update, end update, event) of the events of ``kind`` that happen in every
        simulation (those with a probability < 1 are ``models.events``')."""
        for e in self.events:
            if e.type == kind and e.probability == 1.0:
                k = self.step_of(e.quarter)
                end = self.time.steps if e.duration is None else k + self.steps_for(e.duration)
                yield k, min(end, self.time.steps), e

    def hostility_shocks(self) -> np.ndarray:
        """Dated hostility jumps that happen in every simulation, added in each update
        k = 0..steps-1, (steps,). Jumps with probability < 1 are applied per simulation by
        ``models.events``."""
        out = np.zeros(self.time.steps)
        for k, _, e in self._event_steps("hostility_jump"):
            out[k] += e.size or 0.0
        return out

    def pull_scale(self) -> np.ndarray:
        """Multiplier of the target pull in each update k = 0..steps-1, (steps,)."""
        out = np.ones(self.time.steps)
        for k, end, e in self._event_steps("target_pull"):
            out[k:end] *= e.scale or 1.0
        return out

    def replace(self, **changes: Any) -> Scenario:
        """A copy with top-level sections replaced (used by tests and stress variants)."""
        data = self.model_dump(by_alias=True)
        data.update(changes)
        return parse_scenario(data, source=f"{self.name} (modified)", text=self.source_text)


# --- loading and error reporting -----------------------------------------------------------

_MESSAGES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "string_pattern_mismatch": "has the wrong form (expected pattern {pattern})",
    "too_short": "must not be empty",
    "union_tag_not_found": "needs a 'dist' key (one of " + ", ".join(DIST_TAGS) + ")",
    "union_tag_invalid": "dist must be one of " + ", ".join(DIST_TAGS),
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "tuple_type": "must be an array",
}


def _loc(parts: tuple) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p in DIST_TAGS or str(p).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(p)
    return out or "<top level>"


def _format_error(source: str, err: Any) -> str:
    template = _MESSAGES.get(err["type"])
    if template is None:
        msg = err["msg"].removeprefix("Value error, ")
    else:
        ctx = {
            k: f"{v:g}" if isinstance(v, float) else v for k, v in (err.get("ctx") or {}).items()
        }
        msg = template.format(**ctx)
    loc = _loc(err["loc"])
    if err["type"] in ("missing", "union_tag_not_found"):
        return f"{source}: {loc} {msg}"
    value = err.get("input")
    if err["type"] == "union_tag_invalid":
        value = (err.get("ctx") or {}).get("tag", value)
    if isinstance(value, dict):
        return f"{source}: {loc} {msg}"
    if isinstance(value, tuple):  # an array of the file, taken as a tuple
        value = list(value)
    return f"{source}: {loc} {msg}, got {value!r}"


def _support(dist) -> tuple[float, float]:
    """The range of values the samplers can draw: the inverse CDF at the unit-cube points
    nearest 0 and 1 they use (``sampling.EDGE``), where an unbounded prior is finite."""
    if isinstance(dist, Mixture):
        lows, highs = zip(*(_support(c) for c in dist.components), strict=True)
        return min(lows), max(highs)
    if isinstance(dist, Fixed):
        return dist.value, dist.value
    with np.errstate(all="ignore"):
        lo, hi = dist.ppf(np.array([EDGE, 1.0 - EDGE]))
    return float(lo), float(hi)


def _check_distribution(source: str, where: str, name: str, dist) -> list[str]:
    spec = SPECS[name]
    low, high, why = spec.domain
    lo, hi = _support(dist)
    if not (low <= lo and hi <= high):  # also refuses NaN
        span = "is" if lo == hi else "ranges over"
        return [
            f"{source}: {where} must lie in [{low:g}, {high:g}] ({spec.description}; {why}), "
            f"but its {dist.dist} distribution {span} [{lo:g}, {hi:g}]"
        ]
    return []


def _event_checks(sc: Scenario, source: str) -> list[str]:
    problems = []
    start, end = quarter_index(sc.time.start), quarter_index(sc.last_quarter) + 1
    horizon = f"[{sc.time.start}, {sc.last_quarter}]"
    seen: dict[str, int] = {}
    for j, e in enumerate(sc.events):
        where = f"{source}: events[{j}]"
        if not start <= quarter_index(e.quarter) < end:
            problems.append(f"{where}.quarter must lie in the horizon {horizon}, got {e.quarter!r}")
        need, may = EVENT_FIELDS[e.type]
        for f in need:
            if getattr(e, f) is None:
                problems.append(f"{where}.{f} is required for a {e.type} event")
        for f in OPTIONAL_EVENT_FIELDS:
            given = getattr(e, f) != (1.0 if f == "probability" else None)
            if given and f not in need and f not in may:
                why = " (a policy applies to every simulation)" if f == "probability" else ""
                problems.append(
                    f"{where}.{f} is not used by a {e.type} event{why}, got {getattr(e, f)!r}"
                )
        if e.member is not None and e.member not in sc.codes:
            problems.append(f"{where}.member {e.member!r} is not a member")
        if e.type == "hegemon_presence" and e.value is not None and e.value > 1:
            problems.append(f"{where}.value must be a share in [0, 1], got {e.value!r}")
        if e.type == "hegemon_presence" and sc.hegemon_index < 0:
            problems.append(f"{where}: a hegemon_presence event needs alliance.hegemon")
        label = e.label
        if label in seen:
            problems.append(
                f"{where}.name {label!r} is also the name of events[{seen[label]}]: "
                "give each event its own name"
            )
        seen.setdefault(label, j)
    for i, m in enumerate(sc.members):
        for j, q in enumerate(m.elections.quarters if m.elections else ()):
            if not start <= quarter_index(q) < end:
                problems.append(
                    f"{source}: members[{i}].elections.quarters[{j}] must lie in the horizon "
                    f"{horizon}, got {q!r}"
                )
    return problems


def _quarter_name(index: int) -> str:
    return f"{index // 4}Q{index % 4 + 1}"


def _cross_checks(sc: Scenario, source: str) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, m in enumerate(sc.members):
        if m.code in seen:
            problems.append(
                f"{source}: members[{i}].code {m.code!r} duplicates members[{seen[m.code]}].code"
            )
        seen.setdefault(m.code, i)
        for p in PER_MEMBER_NAMES:
            if getattr(m, p) is not None:
                problems += _check_distribution(source, f"members[{i}].{p}", p, getattr(m, p))
    if sc.alliance.hegemon is not None and sc.alliance.hegemon not in seen:
        problems.append(
            f"{source}: alliance.hegemon {sc.alliance.hegemon!r} is not a member "
            f"(members: {', '.join(seen)})"
        )
    for table, names in (("parameters", GLOBAL_NAMES), ("member_parameters", PER_MEMBER_NAMES)):
        given = getattr(sc, table)
        for n in given:
            if n not in names:
                problems.append(f"{source}: {table}.{n} is not a known parameter")
        for n in names:
            if n not in given:
                problems.append(f"{source}: {table}.{n} is required ({SPECS[n].description})")
            else:
                problems += _check_distribution(source, f"{table}.{n}", n, given[n])
    for i, m in enumerate(sc.members):
        if (m.plan_burden is None) != (m.plan_quarter is None):
            problems.append(
                f"{source}: members[{i}] ({m.code}) needs both plan_burden and plan_quarter, "
                f"got plan_burden={m.plan_burden!r}, plan_quarter={m.plan_quarter!r}"
            )
        elif m.plan_quarter is not None and not m.plan_source:
            problems.append(f"{source}: members[{i}].plan_source is required with a plan")
        elif m.plan_quarter is not None and quarter_index(m.plan_quarter) <= quarter_index(
            sc.time.start
        ):
            problems.append(
                f"{source}: members[{i}].plan_quarter must be after time.start "
                f"({sc.time.start}), got {m.plan_quarter!r}"
            )
        observed = m.sceptical_government is not None or m.notice_pending or m.disengaged
        if observed and not m.state_source:
            problems.append(
                f"{source}: members[{i}].state_source is required with an observed starting "
                f"state (sceptical_government, notice_pending, disengaged)"
            )
    problems += _event_checks(sc, source)
    for j, pair in enumerate(sc.alliance.dyads):
        for code in pair:
            if code not in seen:
                problems.append(
                    f"{source}: alliance.dyads[{j}] names {code!r}, which is not a member"
                )
        if pair[0] == pair[1]:
            problems.append(f"{source}: alliance.dyads[{j}] pairs {pair[0]!r} with itself")
    if sc.alliance.dyads and not sc.alliance.dyads_source:
        problems.append(f"{source}: alliance.dyads_source is required with dyads")
    if sc.alliance.burden_max <= sc.alliance.burden_min:
        problems.append(
            f"{source}: alliance.burden_max must be > alliance.burden_min, "
            f"got {sc.alliance.burden_max} <= {sc.alliance.burden_min}"
        )
    if sc.dissolution.min_members > len(sc.members):
        problems.append(
            f"{source}: dissolution.min_members must not exceed the number of members, "
            f"got {sc.dissolution.min_members} > {len(sc.members)}"
        )
    if quarter_index(sc.targets.ramp_end) < quarter_index(sc.targets.ramp_start):
        problems.append(
            f"{source}: targets.ramp_end must not be before targets.ramp_start, "
            f"got {sc.targets.ramp_end} < {sc.targets.ramp_start}"
        )
    return problems


def parse_scenario(data: dict, source: str = "<scenario>", text: str = "") -> Scenario:
    """Validate a scenario given as a dict (parsed TOML); raise ``ScenarioError``."""
    try:
        sc = Scenario.model_validate({**data, "source_text": text})
    except ValidationError as exc:
        raise ScenarioError([_format_error(source, e) for e in exc.errors()]) from None
    problems = _cross_checks(sc, source)
    if problems:
        raise ScenarioError(problems)
    return sc


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with the package."""
    folder = resources.files(BUILTIN_PACKAGE) / "scenarios"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def forecast_names() -> list[str]:
    """The built-in forecast scenarios: every built-in but the back-tests (``backtest-*``),
    which start in the past and are scored, not forecast."""
    return [n for n in builtin_names() if not n.startswith("backtest-")]


def builtin_path(name: str) -> Path:
    return Path(str(resources.files(BUILTIN_PACKAGE) / "scenarios" / f"{name}.toml"))


def load_scenario(spec: str | Path) -> Scenario:
    """Load a scenario from a TOML path or a built-in name (see ``builtin_names``)."""
    path = Path(spec)
    if not path.exists() and str(spec) in builtin_names():
        path = builtin_path(str(spec))
    if not path.exists():
        raise ScenarioError(
            [
                f"{spec}: no such file and no built-in scenario of that name "
                f"(built-in: {', '.join(builtin_names())})"
            ]
        )
    if path.is_dir():
        raise ScenarioError([f"{spec}: is a directory, expected a .toml file"])
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path.name}: not valid TOML: {exc}"]) from None
    return parse_scenario(data, source=path.name, text=text)
