"""Public tables that ship inside packages, each taken as a new user would: ``r2p init`` drafts
the config from the package's own file, ``r2p land`` lands that file, ``r2p run`` runs the data
DAG and the training DAG through Airflow; no edit of the draft. Each ends in a champion or a
reasoned rejection, and the candidate is reported beside the logistic-regression baseline on
the same evaluation rows (the note quotes these figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r2p import storage
from r2p.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
DS = "2026-12-06"


def _package_file(package: str, *parts: str) -> Path:
    module = __import__(package)
    return Path(module.__file__).parent.joinpath(*parts)


TABLES = [
    pytest.param(
        "penguins", ("palmerpenguins", "data", "penguins.csv"), "species", 3, id="penguins"
    ),
    pytest.param(
        "anes96", ("statsmodels", "datasets", "anes96", "anes96.csv"), "vote", 2, id="anes96"
    ),
    pytest.param(
        "modechoice",
        ("statsmodels", "datasets", "modechoice", "modechoice.csv"),
        "choice",
        2,
        id="modechoice",
    ),
]


def _decision(pipeline: str) -> dict:
    folder = storage.root() / "evaluations" / pipeline
    pointers = [storage.pointer(f"evaluations/{pipeline}/{p.name}") for p in folder.iterdir()]
    pointers = [p for p in pointers if p]
    assert len(pointers) == 1, pointers  # one training run, one evaluation
    return storage.read_json(storage.path(pointers[0]["uri"]) / "decision.json")


@pytest.mark.parametrize(("name", "where", "label", "classes"), TABLES)
def test_init_land_run(home, tmp_path, monkeypatch, capsys, name, where, label, classes) -> None:
    from r2p.config import load_pipeline

    configs = tmp_path / "configs"
    configs.mkdir()
    monkeypatch.setenv("R2P_CONFIGS", str(configs))
    source = _package_file(where[0], *where[1:])
    assert main(["init", name, "--from", str(source), "--label", label]) == 0
    draft = (configs / f"{name}.yaml").read_text()
    cfg = load_pipeline(name)  # the draft validates as written
    assert len(cfg.dataset.label.classes) == classes
    assert main(["land", name, str(source), "--ds", DS]) == 0
    capsys.readouterr()
    assert main(["run", name, "--json"]) == 0, capsys.readouterr()
    assert (configs / f"{name}.yaml").read_text() == draft  # nothing edited the draft
    decision = _decision(name)
    assert decision["verdict"] in ("promote", "reject"), decision["verdict"]
    if decision["verdict"] == "reject":
        assert decision["reason"], decision  # a rejection always says why
    metrics = decision["metrics"]
    figures = {
        who: {m: round(metrics[who][m], 4) for m in ("accuracy", "log_loss", "roc_auc", "f1")}
        for who in ("candidate", "baseline")
    }
    print(json.dumps({"table": name, "rows": decision["window"]["rows"], **figures}))
