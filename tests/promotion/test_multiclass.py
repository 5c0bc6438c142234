"""The multiclass config (fleet, three classes): macro metrics, per-class curves, promotion."""

from __future__ import annotations

import pytest

from r2p import storage
from r2p.evaluation.stage import evaluate_stage
from r2p.export.stage import export_stage
from r2p.promotion import promote as p
from r2p.promotion import record
from r2p.promotion.stage import promote_stage
from r2p.training import stage
from tests.promotion.conftest import TRIGGER


@pytest.mark.slow
@pytest.mark.parametrize("built", ["fleet"], indirect=True)
def test_fleet_is_evaluated_with_macro_metrics_and_promoted(built, monkeypatch) -> None:
    cfg, dataset, _, home = built
    monkeypatch.setenv("R2P_HOME", str(home))
    cfg = cfg.model_copy(update={"gates": cfg.gates.model_copy(update={"min_eval_rows": 50})})
    proto = stage.prototype_stage(cfg, dataset, "m1")
    model = stage.retrain_stage(cfg, dataset, "m1", proto, TRIGGER)
    export = export_stage(cfg, dataset, "m1", model)
    ev = evaluate_stage(cfg, {**dataset, "trigger": TRIGGER}, "m1", export, TRIGGER)
    d = storage.read_json(storage.path(ev["decision_uri"]))
    assert d["verdict"] in ("promote", "reject") and d["window"]["rows"] >= 50, d["reason"]
    assert d["averaging"].startswith("3 classes: macro")
    assert set(d["per_class"]["candidate"]) == set(cfg.dataset.label.classes)
    for name in ("accuracy", "roc_auc", "f1", "log_loss"):
        assert 0 <= d["metrics"]["candidate"][name] < 10, name
    html = storage.path(ev["report_uri"]).read_text()
    for cls in cfg.dataset.label.classes:
        assert f"ROC, class {cls}" in html and f"Precision-recall, class {cls}" in html
    out = promote_stage(cfg, dataset, "m1", ev)
    assert out["promoted"] == (d["verdict"] == "promote")
    if not out["promoted"]:  # first run refused by a gate: a person can still decide
        from r2p.export.lineage import describe

        p.promote(cfg, describe(export["uri"]), reason="accepted by hand", who="ml-owner")
    assert record.read("fleet").champion["registry_version"] == 1
    again = evaluate_stage(cfg, {**dataset, "trigger": TRIGGER}, "m2", export, TRIGGER)
    assert again["verdict"] == "unchanged"
    assert not promote_stage(cfg, dataset, "m2", again)["promoted"]
