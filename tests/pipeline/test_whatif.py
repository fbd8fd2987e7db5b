"""What-ifs through the pipeline: conditioning kept samples, the forecast's history and the
forecast questions, on real runs in a real Zarr store (in-process executor: same blocks,
bitwise the same results as on Dask)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import zarr

from alliance_risk.models.scenario import builtin_path, load_scenario
from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.apps.cli import main
from alliance_risk.pipeline.products.condition import ConditionError, condition
from alliance_risk.pipeline.products.history import HistoryError, changes, history
from alliance_risk.pipeline.products.questions import (
    QuestionError,
    load_questions,
    log_questions,
    probability,
    score,
)
from alliance_risk.pipeline.store import StoreError, open_store
from alliance_risk.pipeline.store.samples import open_samples, read

EVENT = """
[[events]]
name = "us-isolationist"
quarter = "2029Q1"
type = "government"
member = "USA"
sceptical = true
duration = 16
probability = {p}
source = "what-if: an alliance-sceptical US administration from 2029, one term"
"""


def whatif(tmp: Path, p: float, name: str = "us-isolationist") -> Path:
    text = (
        builtin_path("nato-2025").read_text().replace('name = "nato-2025"', f'name = "{name}"', 1)
    )
    path = tmp / f"{name}-{p}.toml"
    path.write_text(text + EVENT.format(p=p))
    return path


def _run(spec, store, sims, seed, **kw):
    return run_forecast(
        spec, sims, seed, store, executor="inprocess", progress=False, block_size=5_000, **kw
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run where the what-if happens in half the simulations (samples kept), and one where
    it is forced, with another seed (independent)."""
    tmp = tmp_path_factory.mktemp("whatif")
    store = tmp / "w.zarr"
    half = _run(load_scenario(whatif(tmp, 0.5)), store, 30_000, 11, keep_samples=True)
    forced = _run(load_scenario(whatif(tmp, 1.0)), store, 20_000, 12)
    return store, half.run_id, forced.run_id


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_conditioning_on_an_event_agrees_with_forcing_it(runs):
    """The what-if is drawn independently of the state, so P(outcome | it happened) from the
    kept samples estimates what forcing it gives: every headline agrees within 3 standard
    errors of the difference (independent runs), and the event happened in half the runs."""
    store, half, forced = runs
    fs = open_store(store, create=False)
    res = condition(fs, half, "event(us-isolationist)")
    assert abs(res.n_given / res.n_sims - 0.5) < 4 * np.sqrt(0.25 / res.n_sims)
    ds = fs.open_run(forced)
    rows = {name: (pc, sc) for name, pc, sc, _, _ in res.probabilities}
    for name in ("p_intact", "p_intact_with_hegemon", "p_any_withdrawal", "p_conflict"):
        pf, sf = float(ds[name][-1]), float(ds[f"{name}_se"][-1])
        pc, sc = rows[name]
        assert abs(pc - pf) < 3 * np.hypot(sc, sf), (name, pc, pf)
    # and the unconditional column is the run's own stored probability
    full = fs.open_run(half)
    for name, _, _, pu, _ in res.probabilities[:5]:
        assert pu == pytest.approx(float(full[name][-1]), abs=1e-12)


def test_a_condition_selects_exactly_the_simulations_it_describes(runs):
    store, half, _ = runs
    fs = open_store(store, create=False)
    g = open_samples(fs, half)
    sc = load_scenario(builtin_path("nato-2025"))
    wd, notice = read(g, "withdrawal_step"), read(g, "notice_step")
    onset = read(g, "onset_step")
    hun, tur = sc.codes.index("HUN"), sc.codes.index("TUR")
    # 2028 ends at record 16 (2029-01-01), 2027Q2 at record 10
    want = ((wd[:, hun] <= 16) | (notice[:, tur] <= 10)) & ~(onset <= 20)
    res = condition(
        fs,
        half,
        "(withdrawn(HUN) by 2028 or notice(tur) by 2027Q2) and onset after 2029Q4",
        min_sims=1,
    )
    assert res.n_given == int(want.sum()) > 0
    rows = {name: pc for name, pc, *_ in res.probabilities}
    assert rows["p_conflict"] == pytest.approx(np.mean(onset[want] <= 40))  # onsets after 2029
    assert rows["p_withdrawn[HUN]"] == pytest.approx(np.mean(wd[want, hun] <= 40))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("withdrawn(USA) by 2025Q1", "holds in 0 of 30000 simulations"),
        ("event(no-such)", "no event 'no-such' in the run's scenario (us-isolationist)"),
        ("withdrawn(XYZ)", "'XYZ' is not a member of us-isolationist"),
        ("onset by 2040Q1", "2040Q1 is outside the run's horizon [2025Q1, 2034Q4]"),
        ("onset by", "expected more at token 3, got the end"),
        ("coup(USA)", "unknown term 'coup'"),
    ],
)
def test_a_bad_condition_is_one_line_exit_2_and_the_store_is_unchanged(
    runs, given, message, capsys
):
    store, half, _ = runs
    before = _digest(store)
    with pytest.raises(ConditionError, match=re.escape(message)):
        condition(open_store(store, create=False), half, given)
    assert main(["condition", str(store), half, "--given", given]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert _digest(store) == before


def test_conditioning_a_run_without_samples_says_how_to_get_them(runs):
    store, _, forced = runs
    with pytest.raises(Exception, match="--keep-samples"):
        condition(open_store(store, create=False), forced, "onset")


def test_history_needs_two_runs_and_reports_a_scenario_change(runs, capsys):
    store, half, forced = runs
    fs = open_store(store, create=False)
    before = _digest(store)
    assert main(["history", str(store), "us-isolationist"]) == 0
    h = history(fs, "us-isolationist")
    assert list(h["run"].values) == [half, forced]
    np.testing.assert_allclose(h["p_conflict"][:, -1], [
        float(fs.open_run(r)["p_conflict"][-1]) for r in (half, forced)])  # fmt: skip
    rep = changes(fs, half, forced)
    assert rep["scenario_changes"] == ["events[us-isolationist].probability: 0.5 -> 1.0"]
    assert {p[0] for r in rep["rows"] for p in r.parts} == {"scenario"}
    out = capsys.readouterr().out
    assert "events[us-isolationist].probability: 0.5 -> 1.0" in out and "| p_conflict |" in out
    with pytest.raises(HistoryError, match="needs at least two published runs, the store has none"):
        history(fs, "nato-2025")
    assert main(["history", str(store), "nato-2025"]) == 2
    assert _digest(store) == before


def test_what_changed_separates_model_scenario_and_noise(tmp_path):
    """Runs A (scenario 1) and B (scenario 2); A is relabelled as made by an older package,
    so both sources changed. Without a bridge the change is not separable; a rerun of A's
    scenario under this model (the bridge) splits it, and its model part is exactly 0 here
    (the code is in fact the same), its scenario part the whole difference."""
    store = tmp_path / "h.zarr"
    a = _run(load_scenario(whatif(tmp_path, 0.2, "w")), store, 10_000, 3).run_id
    b = _run(load_scenario(whatif(tmp_path, 0.9, "w")), store, 10_000, 3).run_id
    fs = open_store(store, create=False)
    zarr.open_group(str(fs.run_path(a)), mode="r+").attrs["package_version"] = "0.0.9"
    rep = changes(fs, a, b)
    assert rep["bridge"] is None
    assert rep["rows"][0].parts[0][0].startswith("scenario and model (not separable")
    assert main(["rerun", str(store), a, "--executor", "inprocess"]) == 0
    rep = changes(fs, a, b)
    assert rep["bridge"] is not None and rep["bridge"] not in (a, b)
    for row in rep["rows"]:
        (m, dm, _), (s, ds_, _) = row.parts
        assert (m, s) == ("model", "scenario")
        assert dm == 0 and ds_ == pytest.approx(row.new - row.old, abs=1e-12)
        assert row.label(dm, 0.01) == "no change"
    same = changes(fs, rep["bridge"], rep["bridge"])
    assert all(r.parts[0][0] == "Monte Carlo noise" and r.parts[0][1] == 0 for r in same["rows"])


def test_shipped_questions_are_answerable_by_a_nato_2025_run(tmp_path):
    store = tmp_path / "q.zarr"
    rid = _run("nato-2025", store, 5_000, 1).run_id
    fs = open_store(store, create=False)
    ds = fs.open_run(rid)
    qs = load_questions()
    assert len(qs) >= 8 and all(q.source and q.resolution for q in qs)
    for q in qs:
        assert probability(ds, q) is not None, q.id
    _, logged = log_questions(fs, rid)
    p = dict(zip(logged.question.values, logged.probability.values, strict=True))
    assert p["us-notice-2028"] == float(ds.p_notice.sel(member="USA", time="2029-01-01"))
    assert p["intact-with-us-2034"] == float(ds.p_intact_with_hegemon[-1])
    # the track record: Brier and log score of the logged probabilities, by hand
    res = tmp_path / "resolved.toml"
    res.write_text(
        '[[resolution]]\nquestion = "us-notice-2028"\noutcome = false\nresolved = 2028-12-31\n'
        'source = "test"\n[[resolution]]\nquestion = "intact-with-us-2034"\noutcome = true\n'
        'resolved = 2034-12-31\nsource = "test"\n'
    )
    record = score(fs, res)
    pu, pi = p["us-notice-2028"], p["intact-with-us-2034"]
    assert record["brier"] == pytest.approx((pu**2 + (1 - pi) ** 2) / 2)
    assert record["log_score"] == pytest.approx((-np.log1p(-pu) - np.log(pi)) / 2)
    res.write_text(res.read_text().replace("us-notice-2028", "no-such-question"))
    before = _digest(store)
    with pytest.raises(QuestionError, match=r"resolution\[0\].question 'no-such-question' is not"):
        score(fs, res)
    assert main(["score", str(store), str(res)]) == 2
    assert _digest(store) == before


def test_a_question_log_killed_before_its_listing_is_logged_on_retry(tmp_path):
    """A product (here the questions' log of a run) is renamed into place, then listed: a
    retry after a kill in between replaces the unlisted group and lists it (it failed with
    'already exists' on every retry); a listed product still refuses to be overwritten."""
    import shutil

    store = tmp_path / "q.zarr"
    rid = _run("nato-2025", store, 5_000, 1).run_id
    fs = open_store(store, create=False)
    _, logged = log_questions(fs, rid)
    stranded = fs.product_path("questions", rid)
    other = _run("nato-2025", store, 5_000, 2).run_id  # its log, renamed but never listed
    shutil.copytree(stranded, fs.product_path("questions", other))
    _, again = log_questions(fs, other)
    assert [e["id"] for e in fs.products("questions")] == [rid, other]
    assert again.attrs["run_id"] == other and logged.attrs["run_id"] == rid
    with pytest.raises(StoreError, match="already exists"):
        fs.publish_product("questions", rid, again, {"id": rid})


def test_a_question_closed_before_the_run_is_not_logged(tmp_path):
    reg = tmp_path / "q.toml"
    reg.write_text(
        '[[questions]]\nid = "old"\ntext = "t"\nresolution = "r"\ncloses = 2020-01-01\n'
        'scenario = "nato-2025"\nvariable = "p_conflict"\nsource = "s"\n'
        '[[questions]]\nid = "open"\ntext = "t"\nresolution = "r"\ncloses = 2030-12-31\n'
        'scenario = "nato-2025"\nvariable = "p_conflict"\nsource = "s"\n'
    )
    store = tmp_path / "q.zarr"
    rid = _run("nato-2025", store, 5_000, 1).run_id
    _, logged = log_questions(open_store(store, create=False), rid, load_questions(reg))
    assert list(logged.question.values) == ["open"]
    reg.write_text(reg.read_text().replace('variable = "p_conflict"', 'variable = "conflict"', 1))
    with pytest.raises(
        QuestionError, match=r"q\.toml: questions\[0\]\.variable string should match"
    ):
        load_questions(reg)
