"""Runs that learned nothing are told (issue 20, item 5): ``r2p train``'s verdict line, the
demo's closing lines and the team's Jandi message name the deciding check and its figures,
and say what became of the champion or why there is none."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from r2p import demo, storage
from r2p.evaluation import gates as g
from r2p.orchestration import shell
from r2p.orchestration.dagtest import DagTestResult
from tests.evaluation.test_guards import _binary, _cfg, _judge, _rows

DAY = dt.date(2026, 11, 10)


def _guarded(cfg: Any) -> dict[str, Any]:
    logit, y = _rows()
    return _judge(_cfg(cfg), {"candidate": _binary(4 * logit), "baseline": _binary(logit)}, y)


def _stages(d: dict[str, Any], champion_version: int | None, uri: str = "-") -> dict:
    ev = {"verdict": d["verdict"], "reason": d["reason"], "champion_version": champion_version,
          "metric": "roc_auc", "metrics": {}, "rows": 2000, "report_uri": "file:///r.html",
          "decision_uri": uri, "candidate_model": "mlp", "candidates": []}  # fmt: skip
    return {"evaluate": {"outputs": ev}, "promote": {"outputs": {"promoted": False}}}


def _result() -> DagTestResult:
    tasks = {t: ("success", 1) for t in shell.TRAINING_TASKS}
    return DagTestResult("churn_training", DAY, 0, "manual__x", "success", Path("/log"), tasks)


def test_r2p_train_says_the_check_the_metric_and_both_values(churn, monkeypatch) -> None:
    d = _guarded(churn)
    cand, base = d["point"]["candidate"]["log_loss"], d["point"]["baseline"]["log_loss"]
    for version, tail in ((None, g.NO_CHAMPION), (2, "champion v2 kept")):
        monkeypatch.setattr(shell, "_stages", lambda r, p, v=version: _stages(d, v))
        line = shell.verdict_line(shell.training_summary(_result(), "churn"))
        assert line.startswith(
            f"verdict: rejected: baseline_guard — log_loss {cand:.4f} vs baseline {base:.4f} "
            "(baseline better with 95% confidence"
        ), line
        assert line.endswith(f"; {tail}") and "every run succeeded" not in line


def test_the_demo_never_ends_with_a_bare_every_run_succeeded(churn, monkeypatch) -> None:
    d = _guarded(churn)
    monkeypatch.setattr(demo, "manifest", lambda info: {"stages": _stages(d, None)})
    told = demo.training_outcome(_result(), "churn")
    assert told.startswith("rejected: baseline_guard — log_loss ") and g.NO_CHAMPION in told
    out = demo.closing(0, {"churn": told, "fleet": "promoted, champion v1"})
    assert out.splitlines() == [
        "demo finished: every run succeeded, but no model was promoted for 1 of 2 pipeline(s)",
        f"  churn: {told}",
        "  fleet: promoted, champion v1",
    ]
    assert demo.closing(1, {"fleet": "promoted, champion v1"}).splitlines()[0] == (
        "demo finished with 1 failed run(s); every pipeline promoted a model"
    )


def test_the_team_message_names_the_guard_and_why_there_is_no_champion(churn, home) -> None:
    from r2p.alerts.run_end import training_message

    d = _guarded(churn)
    decision = {"candidate": {"model": "mlp", "data_end": "2026-11-20"}, "champion": None,
                "checks": [c.as_json() for c in d["checks"].values()], "guards": d["guards"],
                "metrics": {"candidate": d["point"]["candidate"]}, "deltas": {}}  # fmt: skip
    uri = f"file://{home}/decision.json"
    storage.write_json(storage.path(uri), decision)
    msg = training_message(churn, _stages(d, None, uri), "run")
    sections = dict(msg.sections)
    assert sections["Why"] == g.told(d["verdict"], d["reason"])
    assert sections["Why"].startswith("rejected: baseline_guard — log_loss ")
    assert sections["Champion"] == g.NO_CHAMPION
    guards = sections["Guards"].splitlines()
    assert [line.split()[0] for line in guards] == ["log_loss", "accuracy", "f1"]
    assert guards[0].endswith("FAILED") and guards[1].endswith("held")
