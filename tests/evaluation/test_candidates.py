"""The candidate set without training: the shapes the stage takes, NoCandidate when nothing
passed, the decision's rows and the sentence that says why one was chosen."""

from __future__ import annotations

import pickle

import pytest

from r2p.errors import DataError
from r2p.evaluation import candidates as c
from r2p.evaluation.candidates import Candidate, NoCandidate, Selection
from r2p.evaluation.ranking import rank

FAILED = [
    {"model": "mlp", "failed": {"stage": "retrain", "error": "ValueError: loss is NaN"}},
    {"model": "wide", "failed": {"stage": "parity", "error": "ParityFailed: agreement 80%"}},
]


def test_the_three_shapes_of_a_candidate() -> None:
    export = {"uri": "file:///x/exports/a", "pb_uri": "file:///x/exports/a/model.pb", "key": "k"}
    (bare,) = c.parse(export)  # today's call: one export stage output
    assert bare.model is None and bare.export == export and bare.failed is None
    passed, failed = c.parse(
        [{"model": "a", "export": export, "parity": {"passed": True}}, FAILED[0]]
    )
    assert passed.model == "a" and passed.export == export and passed.parity == {"passed": True}
    assert failed.model == "mlp" and failed.failed["stage"] == "retrain" and failed.export is None
    assert c.parse([export])[0].export == export  # a bare export output in a list counts too
    with pytest.raises(ValueError, match="got the keys"):
        c.parse([{"model": "a"}])


def test_no_candidate_names_every_model_its_stage_and_error(churn) -> None:
    from r2p.evaluation.stage import evaluate_stage

    with pytest.raises(NoCandidate) as caught:
        evaluate_stage(churn, {}, "run", FAILED)
    message = str(caught.value)
    for entry in FAILED:
        assert f"{entry['model']} failed at {entry['failed']['stage']}" in message
        assert entry["failed"]["error"] in message
    assert isinstance(caught.value, DataError)  # never retried: the orchestration skips
    assert caught.value.failures == [{"model": e["model"], **e["failed"]} for e in FAILED]
    copy = pickle.loads(pickle.dumps(caught.value))  # it crosses processes whole
    assert str(copy) == message and copy.failures == caught.value.failures
    with pytest.raises(NoCandidate, match="none given"):
        c.select(churn, [])


def _selection(values: dict[str, float], failed: list[dict], parity: bool = True) -> Selection:
    passed = tuple(
        Candidate(
            model,
            export={"uri": f"file:///e/{model}"},
            parity={"agreement": 0.99} if parity else None,
            lineage={"export_uri": f"file:///e/{model}", "export_key": f"key-{model}"},
            record={"metrics": {"valid": {"roc_auc": v, "log_loss": 0.5}}},
        )
        for model, v in values.items()
    )
    given = passed + tuple(c.parse(failed))
    ranking = rank([(p.model, p.record) for p in passed], "roc_auc", 2, list(values))
    return Selection(given, passed, ranking)


def test_why_names_the_figure_the_count_and_the_failures() -> None:
    sel = _selection({"mlp": 0.8, "mlp_b": 0.842}, FAILED[1:])
    assert sel.chosen.model == "mlp_b"
    assert c.why(sel) == (
        "best validation roc_auc 0.8420 of 2 candidates that passed parity; "
        "1 failed: wide at parity"
    )
    one = _selection({"mlp": 0.8}, [], parity=False)
    assert c.why(one) == "the only candidate that passed (validation roc_auc 0.8000)"


def test_rows_rank_the_passed_and_keep_the_failed_with_stage_and_error() -> None:
    sel = _selection({"mlp": 0.8, "mlp_b": 0.842}, FAILED[1:])
    rows = c.rows(sel)
    assert [(r["model"], r["rank"], r["chosen"]) for r in rows] == [
        ("mlp_b", 1, True),
        ("mlp", 2, False),
        ("wide", None, False),
    ]
    assert rows[0]["metrics"] == {"roc_auc": 0.842, "log_loss": 0.5}
    assert rows[0]["export_uri"] == "file:///e/mlp_b" and rows[2]["export_uri"] is None
    assert rows[2]["failed"] == FAILED[1]["failed"] and rows[0]["failed"] is None
    assert c.compact(rows)[2] == {
        "model": "wide", "rank": None, "chosen": False, "value": None, "failed": "parity"
    }  # fmt: skip


def test_the_reuse_key_changes_with_any_candidate_or_failure(churn) -> None:
    base = c.key_parts(churn, _selection({"mlp": 0.8, "mlp_b": 0.842}, FAILED[1:]))
    assert base == c.key_parts(churn, _selection({"mlp_b": 0.842, "mlp": 0.8}, FAILED[1:]))
    assert base != c.key_parts(churn, _selection({"mlp": 0.8, "mlp_b": 0.842}, []))
    other = [{"model": "wide", "failed": {"stage": "export", "error": "OSError: disk"}}]
    assert base != c.key_parts(churn, _selection({"mlp": 0.8, "mlp_b": 0.842}, other))
    assert base != c.key_parts(churn, _selection({"mlp": 0.8}, FAILED[1:]))
