"""Alliance histories from ATOP v4.01 (defence pacts) and Leeds & Savun threat scores.

``load`` reads the package's extract (models/data/history, see SOURCES.md) into ``History``:
pacts with their member spells. ``censor(history, origin)`` is the only way the hindcast
sees the data: what ATOP recorded after ``origin`` (ends, exits, entries, pacts, threat
scores) is replaced by "not known yet", so no forecast can read the future (the leakage test
changes everything after an origin and checks the forecasts do not move).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

from alliance_risk.models.errors import InputError

# Member states that ceased to exist (COW State System Membership, v2016): their spells end
# then without any decision to leave. COW code -> year.
STATE_DEATHS = {
    260: 1990,  # German Federal Republic: unification
    265: 1990,  # German Democratic Republic: unification
    678: 1990,  # Yemen Arab Republic: unification
    680: 1990,  # Yemen People's Republic: unification
    365: 1991,  # USSR: dissolution (Russia continues as 365 in COW; a spell may go on)
    315: 1992,  # Czechoslovakia: dissolution
    345: 2006,  # Yugoslavia / Serbia and Montenegro: separation of Montenegro
}
FIRST_YEAR = 1945  # hazards are estimated on post-1945 histories
LAST_YEAR = 2016  # ATOP v4.01 records ends and exits up to 2016; later years are censored


class HistoryError(InputError):
    """Bad input to a historical query (an unknown pact, an origin outside the data)."""


@dataclass(frozen=True)
class Spell:
    member: int  # COW country code
    entry: int
    exit: int | None  # None: still a member (or not known at the view's last year)


@dataclass(frozen=True)
class Pact:
    atopid: int
    begyr: int
    endyr: int | None  # None: in force at the view's last year
    bilateral: bool
    spells: tuple[Spell, ...]
    term_months: int = 0  # the treaty's stated length (ATOP LENGTH), 0: none stated
    renewal_months: int = 0  # its automatic renewal period (ATOP RENEWLGT), 0: none

    def term_due(self, year: int) -> bool:
        """Whether the treaty's text puts an expiry or a renewal point in ``year``: a date the
        parties agreed at signing, so known before any origin (Leeds & Savun 2007: pacts end
        most often when their terms run out)."""
        if self.term_months <= 0:
            return False
        first = self.begyr + self.term_months // 12
        if year <= first or self.renewal_months <= 0:
            return year == first
        return (year - first) * 12 % self.renewal_months < 12

    def members_at(self, year: int) -> tuple[int, ...]:
        return tuple(
            s.member for s in self.spells if s.entry <= year and (s.exit is None or s.exit > year)
        )

    def in_force(self, year: int) -> bool:
        return self.begyr <= year and (self.endyr is None or self.endyr > year)

    def exits(self) -> list[Spell]:
        """Spells that ended while the pact went on: a withdrawal, not the pact's end nor the
        end of the member state itself (``STATE_DEATHS``)."""
        return [
            s
            for s in self.spells
            if s.exit is not None
            and (self.endyr is None or s.exit < self.endyr)
            and STATE_DEATHS.get(s.member) != s.exit
        ]


@dataclass(frozen=True)
class History:
    pacts: tuple[Pact, ...]
    threat: dict[tuple[int, int], float]  # (COW code, year) -> Leeds & Savun threat score
    last_year: int  # nothing after this year is known

    def pact(self, atopid: int) -> Pact:
        for p in self.pacts:
            if p.atopid == atopid:
                return p
        raise HistoryError(f"unknown ATOP id {atopid}: not a defence pact in ATOP v4.01")

    def threat_of(self, members, year: int) -> float:
        """Mean threat score of ``members`` in ``year`` (the latest known year up to it)."""
        if year > self.last_year:
            raise HistoryError(f"threat asked for {year}, after the view's last year")
        vals = []
        for m in members:
            for y in range(year, year - 5, -1):
                if (m, y) in self.threat:
                    vals.append(self.threat[(m, y)])
                    break
        return sum(vals) / len(vals) if vals else MEAN_THREAT


MEAN_THREAT = 0.35  # Leeds & Savun, mean over all country-years (used where a score is missing)


def _rows(name: str) -> list[dict[str, str]]:
    path = resources.files("alliance_risk.models.data") / "history" / name
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _spells(rows: list[dict[str, str]]) -> tuple[Spell, ...]:
    """Merge a member's phase rows into continuous spells."""
    by_member: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for r in rows:
        by_member[int(r["member"])].append((int(r["yrent"]), int(r["yrexit"])))
    out = []
    for member, spans in by_member.items():
        spans.sort()
        start, end = spans[0]
        for s, e in spans[1:]:
            if end == 0 or s <= end + 1:  # next phase of the same membership
                end = 0 if (end == 0 or e == 0) else max(end, e)
            else:
                out.append(Spell(member, start, end or None))
                start, end = s, e
        out.append(Spell(member, start, end or None))
    return tuple(sorted(out, key=lambda s: (s.entry, s.member)))


@cache
def load() -> History:
    """Every ATOP defence pact with its member spells, and the threat scores."""
    members: dict[int, list] = defaultdict(list)
    for r in _rows("atop_pact_members.csv"):
        members[int(r["atopid"])].append(r)
    pacts = tuple(
        Pact(
            atopid=int(r["atopid"]),
            begyr=int(r["begyr"]),
            endyr=int(r["endyr"]) or None,
            bilateral=r["bilat"] == "1",
            spells=_spells(members[int(r["atopid"])]),
            term_months=int(r["length"]),
            renewal_months=int(r["renewlgt"]),
        )
        for r in _rows("atop_defence_pacts.csv")
    )
    threat = {
        (int(r["ccode"]), int(r["year"])): float(r["lsthreat"])
        for r in _rows("leeds_savun_threat.csv")
    }
    return History(pacts, threat, LAST_YEAR)


def _cut(year: int | None, origin: int) -> int | None:
    return year if year is not None and year <= origin else None


def censor(history: History, origin: int) -> History:
    """What was known at the end of ``origin``: later pacts, entries, ends, exits and threat
    scores are dropped or marked unknown."""
    if not FIRST_YEAR <= origin <= history.last_year:
        raise HistoryError(
            f"origin {origin} is outside the data: origins run from {FIRST_YEAR} to "
            f"{history.last_year - 5} (five years of outcomes are needed after it)"
        )
    pacts = []
    for p in history.pacts:
        if p.begyr > origin:
            continue
        spells = tuple(replace(s, exit=_cut(s.exit, origin)) for s in p.spells if s.entry <= origin)
        pacts.append(replace(p, endyr=_cut(p.endyr, origin), spells=spells))
    threat = {k: v for k, v in history.threat.items() if k[1] <= origin}
    return History(tuple(pacts), threat, origin)
