"""Forecast questions: a registry, each forecast run's probabilities, and the track record.

A question (``data/questions.toml``, or a file of the same form) has resolution criteria, a
closing date and a stored variable: its probability in a run is that variable (for its
member) at the first record on or after the closing date. ``log_questions`` stores a run's
probabilities for the questions open on its date as ``questions/<run_id>``; ``score`` reads
every logged forecast of the questions a resolution file settles and computes the track
record with the validation scores (Brier, log score, reliability).
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from importlib import resources
from pathlib import Path

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alliance_risk.models.errors import InputError
from alliance_risk.pipeline.store import ForecastStore
from alliance_risk.pipeline.validation import scores

REGISTRY = "questions.toml"


class QuestionError(InputError):
    """A malformed registry or resolution file, or an unknown question."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Question(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    text: str = Field(min_length=1)
    resolution: str = Field(min_length=1)
    closes: date
    scenario: str = Field(min_length=1)
    variable: str = Field(pattern=r"^p_[a-z_]+$")
    member: str | None = None
    source: str = Field(min_length=1)


class Resolution(_Strict):
    question: str
    outcome: bool
    resolved: date
    source: str = Field(min_length=1)


def _load(path: Path | None, default: str, key: str, model) -> list:
    if path is None:
        text = (resources.files("alliance_risk.pipeline.products") / "data" / default).read_text()
        name = default
    else:
        if not Path(path).is_file():
            raise QuestionError(f"{path}: no such file")
        text, name = Path(path).read_text(encoding="utf-8"), Path(path).name
    try:
        rows = tomllib.loads(text).get(key, [])
    except tomllib.TOMLDecodeError as exc:
        raise QuestionError(f"{name}: not valid TOML: {exc}") from None
    out = []
    for j, row in enumerate(rows):
        try:
            out.append(model.model_validate(row, strict=False))
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"])
            got = e.get("input")
            raise QuestionError(
                f"{name}: {key}[{j}].{where} {e['msg'].lower()}, got {got!r}"
            ) from None
    return out


def load_questions(path: Path | None = None) -> list[Question]:
    """The registry: the shipped questions, or those of ``path``."""
    qs = _load(path, REGISTRY, "questions", Question)
    ids = [q.id for q in qs]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise QuestionError(f"{path or REGISTRY}: question ids must be unique, got {sorted(dup)}")
    return qs


def load_resolutions(path: Path, questions: list[Question]) -> list[Resolution]:
    """A resolution file's outcomes; an unknown question is an error naming it."""
    res = _load(path, "", "resolution", Resolution)
    known = {q.id for q in questions}
    for j, r in enumerate(res):
        if r.question not in known:
            raise QuestionError(
                f"{Path(path).name}: resolution[{j}].question {r.question!r} is not a known "
                f"question (alliance-risk questions lists them)"
            )
    return res


def _issued(attrs: dict) -> date:
    return datetime.fromisoformat(str(attrs["created"]).replace("Z", "+00:00")).date()


def probability(ds: xr.Dataset, q: Question) -> tuple[float, float] | None:
    """(p, se) of question ``q`` in a run, or None when the run cannot answer it (another
    variable set, a member it lacks, a closing date beyond its horizon)."""
    if q.variable not in ds:
        return None
    var, se = ds[q.variable], ds[f"{q.variable}_se"]
    if "member" in var.dims:
        if q.member is None or q.member not in ds["member"].values:
            return None
        var, se = var.sel(member=q.member), se.sel(member=q.member)
    times = ds["time"].values.astype("datetime64[D]")
    k = int(np.searchsorted(times, np.datetime64(q.closes, "D")))
    if k >= len(times):
        return None
    return float(var[k]), float(se[k])


def log_questions(
    fs: ForecastStore, run_id: str, questions: list[Question] | None = None
) -> tuple[str, xr.Dataset] | None:
    """Store the run's probability for every question of its scenario open on its date, as
    ``questions/<run_id>``; None when no question applies."""
    if run_id in {e["id"] for e in fs.products("questions")}:  # logged already: as it was
        return run_id, fs.open_product("questions", run_id)
    attrs = fs.run_attrs(run_id)
    issued = _issued(attrs)
    ds = fs.open_run(run_id)
    rows = []
    for q in questions if questions is not None else load_questions():
        if q.scenario == attrs["scenario_name"] and q.closes >= issued:
            p = probability(ds, q)
            if p is not None:
                rows.append((q, *p))
    if not rows:
        return None
    out = xr.Dataset(
        {
            "probability": ("question", [r[1] for r in rows], {"units": "1"}),
            "probability_se": ("question", [r[2] for r in rows], {"units": "1"}),
            "closes": ("question", np.array([str(r[0].closes) for r in rows], dtype=object)),
        },
        coords={"question": np.array([r[0].id for r in rows], dtype=object)},  # vlen-utf8
        attrs={
            "run_id": run_id,
            "scenario": attrs["scenario_name"],
            "issued": str(issued),
            "texts": {r[0].id: r[0].text for r in rows},
        },
    )
    entry = {"id": run_id, "run_id": run_id, "issued": str(issued), "questions": len(rows)}
    fs.publish_product("questions", run_id, out, entry)
    return run_id, fs.open_product("questions", run_id)


def forecasts(fs: ForecastStore) -> list[tuple[str, str, str, float, float]]:
    """Every logged forecast: (question, run id, issued date, p, se), oldest first."""
    out = []
    for entry in fs.products("questions"):
        ds = fs.open_product("questions", entry["id"])
        for q, p, se in zip(
            ds["question"].values, ds["probability"].values, ds["probability_se"].values,
            strict=True,
        ):  # fmt: skip
            out.append((str(q), ds.attrs["run_id"], ds.attrs["issued"], float(p), float(se)))
    return out


def score(fs: ForecastStore, resolutions: Path, questions: list[Question] | None = None) -> dict:
    """The track record on the resolved questions: per question its forecasts' mean Brier
    and log score; overall, each question weighted equally (its forecasts are one repeated
    judgement, not independent evidence), with the reliability of the latest forecasts."""
    qs = questions if questions is not None else load_questions()
    res = {r.question: r for r in load_resolutions(resolutions, qs)}
    logged = [
        f for f in forecasts(fs) if f[0] in res and date.fromisoformat(f[2]) <= res[f[0]].resolved
    ]
    if not logged:
        raise QuestionError(
            f"{fs.root}: no logged forecast of the {len(res)} resolved question(s) "
            "(forecast runs log them: alliance-risk forecast, or alliance-risk questions --log)"
        )
    per = {}
    for qid in res:
        mine = [f for f in logged if f[0] == qid]
        if mine:
            p = np.array([f[3] for f in mine])
            y = np.full(len(p), float(res[qid].outcome))
            per[qid] = {
                "forecasts": len(mine),
                "outcome": res[qid].outcome,
                "latest": float(p[-1]),
                "brier": scores.brier(p, y),
                "log_score": scores.log_score(p, y),
            }
    latest = np.array([v["latest"] for v in per.values()])
    outcome = np.array([float(v["outcome"]) for v in per.values()])
    return {
        "questions": per,
        "brier": float(np.mean([v["brier"] for v in per.values()])),
        "log_score": float(np.mean([v["log_score"] for v in per.values()])),
        "brier_latest": scores.brier(latest, outcome),
        "reliability": scores.brier_decomposition(latest, outcome, bins=5),
    }


def markdown_score(record: dict) -> str:
    lines = [
        "| question | forecasts | outcome | latest p | Brier | log score |",
        "|---|---|---|---|---|---|",
    ]
    for qid, v in record["questions"].items():
        lines.append(
            f"| {qid} | {v['forecasts']} | {'yes' if v['outcome'] else 'no'} | "
            f"{v['latest']:.3f} | {v['brier']:.4f} | {v['log_score']:.4f} |"
        )
    d = record["reliability"]
    lines += [
        "",
        f"Mean over questions: Brier {record['brier']:.4f}, log score {record['log_score']:.4f} "
        f"(latest forecasts: Brier {record['brier_latest']:.4f}; reliability "
        f"{d.reliability:.4f}, resolution {d.resolution:.4f}, uncertainty {d.uncertainty:.4f}).",
    ]
    return "\n".join(lines) + "\n"


__all__ = [
    "Question",
    "QuestionError",
    "forecasts",
    "load_questions",
    "load_resolutions",
    "log_questions",
    "probability",
    "score",
]
