"""The stage table: each stage declared once; the DAGs and the CLI are built from it."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from r2p.orchestration import factory, tasks
from r2p.orchestration.stages import STAGES, stage, task_order
from r2p.runner import RunInfo, run_stage

REPO = Path(__file__).resolve().parents[2]


def test_every_stage_names_a_function_that_exists() -> None:
    for entry in STAGES:
        fn = entry.load()
        assert callable(fn), entry.name
        params = list(inspect.signature(fn).parameters)
        assert params[0] == "cfg", entry.name
        for name in entry.params:
            assert name in params, (entry.name, name)
    with pytest.raises(KeyError, match="no stage 'nope'; known: "):
        stage("nope")


def test_the_dags_are_the_table(churn) -> None:
    data = factory.build_data_dag(churn)
    per_source = {s.name for s in STAGES if s.per == "source"}
    expected = {
        f"{s.name}_{src}" if s.name in per_source else s.name
        for s in STAGES
        if s.dag == "data"
        for src in churn.source_names
    }
    waits = {f"wait_{src}" for src in churn.source_names}
    assert set(data.task_dict) == expected | waits | {"notify"}
    training = factory.build_training_dag(churn)
    assert [t.task_id for t in training.topological_sort()] == list(task_order("training"))
    for entry in STAGES:
        dag = data if entry.dag == "data" else training
        tasks_ = [t for t in dag.tasks if t.task_id.startswith(entry.name)]
        assert tasks_, entry.name
        for t in tasks_:
            assert t.pool == (entry.pool or "default_pool"), t.task_id
            assert t.trigger_rule == entry.trigger_rule, t.task_id
    mapped = {t.task_id for t in training.tasks if t.get_closest_mapped_task_group() is not None}
    assert mapped == {s.name for s in STAGES if s.per == "model"}


def test_the_factory_does_not_guess_from_the_command_line(churn, monkeypatch) -> None:
    source = (REPO / "r2p" / "orchestration" / "factory.py").read_text()
    assert "sys.argv" not in source
    monkeypatch.delenv("R2P_DAG_TEST", raising=False)
    assert factory.build_training_dag(churn).deadline is not None
    monkeypatch.setenv("R2P_DAG_TEST", "1")
    assert factory.build_training_dag(churn).deadline is None


def test_a_candidates_record_is_named_for_it_when_there_are_several() -> None:
    proto, ingest = stage("prototype"), stage("ingest")
    assert proto.label(of=1, model="mlp") == "prototype"
    assert proto.label(of=2, model="mlp") == "prototype[mlp]"
    assert ingest.label(source="profile") == "ingest_profile"
    assert stage("evaluate").label(of=3) == "evaluate"


def _two_models(cfg):
    second = cfg.models[0].model_copy(update={"name": "wide"})
    return cfg.model_copy(update={"models": [cfg.models[0], second]})


def test_failed_candidates_are_named_with_their_stage_and_error(churn) -> None:
    cfg = _two_models(churn)
    run = RunInfo(cfg.pipeline, "manual__failures")

    def broken() -> None:
        raise ValueError("weights exploded")

    with pytest.raises(ValueError):
        run_stage(run, "retrain[wide]", broken)
    run_stage(run, "prototype[wide]", dict)
    passed = [{"model": cfg.models[0].name, "export": {"uri": "x"}, "parity": {}}]
    out = tasks.with_failures(cfg, run, passed)
    assert out[0] == passed[0]
    assert out[1] == {
        "model": "wide",
        "failed": {"stage": "retrain", "error": "ValueError: weights exploded"},
    }
    # a model with no record at all (its chain never started) is still accounted for
    missing = tasks.with_failures(cfg, RunInfo(cfg.pipeline, "manual__none"), passed)
    assert missing[1]["failed"]["stage"] == "-"


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [(None, []), ({"model": "a"}, [{"model": "a"}]), ([{"model": "a"}], [{"model": "a"}])],
)
def test_mapped_outputs_are_always_a_list(outputs, expected) -> None:
    assert tasks._collected(outputs) == expected


def test_r2p_stages_prints_the_table(capsys) -> None:
    from r2p.cli import main

    assert main(["stages"]) == 0
    text = capsys.readouterr().out
    for entry in STAGES:
        assert entry.name in text and entry.function in text
    assert main(["stages", "--dag", "training", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(task_order("training"))[:-1]
    with pytest.raises(SystemExit) as exc:
        main(["stages", "--dag", "nope"])
    assert exc.value.code == 2
