"""A movable home: copy ``R2P_HOME`` elsewhere, delete the original, point ``R2P_HOME`` at the
copy, and everything still resolves: pointers, the promotion record, the registry, MLflow's
artifacts and the serving folder's model."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from r2p import storage

D0 = dt.date(2026, 11, 2)
DAYS = 10


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory):
    """Real state built in one home (training set, PyTorch, TF, export, a promotion, the
    serving folder, MLflow), then the home moved: (old home, new home, state before)."""
    from r2p.config import load_pipeline
    from r2p.export.lineage import describe
    from r2p.export.stage import export_stage
    from r2p.promotion.promote import promote
    from r2p.training.stage import prototype_stage, retrain_stage
    from r2p.training_set.build import build_training_set
    from tests.features.helpers import load_days

    base = tmp_path_factory.mktemp("movable")
    old, new = base / "old" / "home", base / "elsewhere" / "r2p-home"
    saved = {k: os.environ.get(k) for k in ("R2P_HOME", "R2P_STORAGE", "R2P_SERVING")}
    os.environ["R2P_HOME"] = str(old)
    os.environ.pop("R2P_STORAGE", None)
    os.environ.pop("R2P_SERVING", None)
    try:
        cfg = load_pipeline("churn")
        spec = cfg.models[0].model_copy(update={"epochs": 3})
        cfg = cfg.model_copy(
            update={
                "training": cfg.training.model_copy(update={"window_days": DAYS}),
                "models": [spec],
            }
        )
        load_days(cfg, D0, DAYS, entities=200, materialize=False)
        trigger = {"run_type": "manual", "promotable": True, "from_backfill": False}
        dataset = build_training_set(cfg, D0 + dt.timedelta(days=DAYS), "run-a")
        dataset["trigger"] = trigger
        proto = prototype_stage(cfg, dataset, "run-a")
        model = retrain_stage(cfg, dataset, "run-a", proto, trigger)
        export = export_stage(cfg, dataset, "run-a", model)
        result = promote(
            cfg,
            describe(export["uri"]),
            reason="first champion",
            who="test",
            attachments={"dataset_manifest.json": dataset["manifest_uri"]},
        )
        assert result["outcome"] == "promoted"
        storage.commit("things/a", lambda p: (p / "data.txt").write_text("v1"))
        # a pointer as older code wrote it: an absolute URI under the (old) root
        legacy = storage.commit("things/legacy", lambda p: (p / "data.txt").write_text("old"))
        ptr_file = storage.root() / "things" / "legacy" / storage.POINTER
        ptr_file.write_text(json.dumps({**storage.read_json(ptr_file), "uri": legacy}))
        before = {
            "cfg": cfg,
            "dataset": dataset,
            "export": export,
            "result": result,
            "old_root": storage.uri_of(storage.root()),
            "mlflow_run": model["mlflow_run_id"],
        }

        shutil.copytree(old, new, symlinks=True)
        shutil.rmtree(base / "old")
        os.environ["R2P_HOME"] = str(new)
        yield old, new, before
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_pointers_are_relative_and_resolve_in_the_new_home(moved) -> None:
    old, new, _ = moved
    root = storage.uri_of(storage.root())
    assert root == f"file://{new / 'storage'}" and not old.exists()
    raw = storage.read_json(storage.root() / "things" / "a" / storage.POINTER)
    assert raw["uri"].startswith("_versions/")  # relative to the pointer's folder
    assert storage.pointer("things/a")["uri"].startswith(root + "/things/a/_versions/")
    assert (storage.current("things/a") / "data.txt").read_text() == "v1"
    # every pointer the pipeline wrote reads back under the new root
    pointers = list((new / "storage").rglob(storage.POINTER))
    assert len(pointers) > 10
    for p in pointers:
        name = str(p.parent.relative_to(new / "storage"))
        ptr = storage.pointer(name)
        assert ptr["uri"].startswith(root + "/"), (name, ptr["uri"])
        assert storage.path(ptr["uri"]).exists(), name


def test_old_absolute_pointers_are_rebased(moved) -> None:
    _, _, before = moved
    raw = storage.read_json(storage.root() / "things" / "legacy" / storage.POINTER)
    assert raw["uri"].startswith(before["old_root"] + "/")  # as older code wrote it
    ptr = storage.pointer("things/legacy")
    assert ptr["uri"] == raw["uri"].replace(before["old_root"], storage.uri_of(storage.root()))
    assert (storage.current("things/legacy") / "data.txt").read_text() == "old"
    # the URIs XCom and records carried before the move read too
    assert (storage.path(before["dataset"]["manifest_uri"])).exists()
    assert storage.read_json(storage.path(before["export"]["uri"]) / "contract.json")


def test_resolve_rules(moved) -> None:
    _, _, before = moved
    root = storage.uri_of(storage.root())
    assert storage.resolve("things/a") == f"{root}/things/a"
    assert storage.relative(f"{root}/things/a") == "things/a"
    assert storage.relative(f"{before['old_root']}/things/a") == "things/a"  # re-based
    gone = "file:///no/such/place/data.txt"  # no storage-relative part: kept as it is
    assert storage.resolve(gone) == gone and storage.relative(gone) == gone
    assert storage.resolve("s3://bucket/x") == "s3://bucket/x"
    assert storage.resolve("/abs/local/path") == "/abs/local/path"


def test_promotion_record_and_status_follow_the_home(moved) -> None:
    from r2p.cli import main

    old, new, _ = moved
    root = storage.uri_of(storage.root())
    texts = [p.read_text() for p in (new / "storage" / "promotions").rglob("*.json")]
    assert texts and not any(str(old) in t for t in texts), "the record holds absolute paths"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["promotion", "status", "churn"]) == 0
    status = json.loads(out.getvalue())
    champion = status["champion"]
    for key in ("export_uri", "dataset_uri", "manifest_uri", "model_uri"):
        if champion.get(key):
            assert champion[key].startswith(root + "/"), (key, champion[key])
            assert storage.path(champion[key]).exists()
    assert status["open_intent"] is None
    assert status["served"]["version"] == champion["registry_version"]
    assert status["served"]["path"].startswith(str(new / "serving"))


def test_serving_folder_model_loads(moved) -> None:
    from r2p.home import serving_dir
    from r2p.serving.loader import load_and_warm

    _, new, _ = moved
    link = serving_dir() / "churn"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    version = next(p for p in link.iterdir() if p.name.isdigit())
    assert str(version.resolve()).startswith(str(new.resolve()))
    assert load_and_warm(version)["ok"]


def test_registry_and_mlflow_follow_the_home(moved) -> None:
    from r2p.promotion import registry
    from r2p.promotion.promote import reconcile
    from r2p.training import tracking

    old, new, before = moved
    root = storage.uri_of(storage.root())
    version = before["result"]["champion"]["registry_version"]
    assert registry.version_export_uri("churn", version).startswith(root + "/")
    client = tracking.tracking_client()  # re-bases the embedded store's artifact URIs
    run = client.get_run(before["mlflow_run"])
    artifacts = (new / "mlflow" / "artifacts").as_uri()
    assert run.info.artifact_uri.startswith(artifacts + "/")
    mv = client.get_model_version(registry.model_name("churn"), str(version))
    assert mv.source.startswith(artifacts + "/")
    local = client.download_artifacts(before["mlflow_run"], "resolved_config.json")
    assert json.loads(Path(local).read_text())["pipeline"] == "churn"
    # the next operation finds the aliases and the serving folder following the record
    out = reconcile(before["cfg"], reason="after the move", who="test")
    assert out["outcome"] == "unchanged", out["detail"]
    assert not old.exists(), "nothing was written back under the old home"
