"""A promotion history built through the real stages, shared by the promotion tests.

churn, 250 entities: A is trained on drifted labels only (first run: promoted, v1); B on newer
clean days (beats A: promoted, v2); C on drifted days again, with clean newest days to be
judged on (loses to B: champion stays). Tests that change the record work on a copy.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

D0 = dt.date(2026, 11, 2)
ENTITIES = 400
TRIGGER = {"run_type": "manual", "source_run_types": [], "promotable": True, "from_backfill": False}


@dataclass
class World:
    home: Path
    cfg: Any
    datasets: dict[str, dict] = field(default_factory=dict)
    exports: dict[str, dict] = field(default_factory=dict)
    evaluations: dict[str, dict] = field(default_factory=dict)
    promotions: dict[str, dict] = field(default_factory=dict)


def candidate(world: World, name: str, cfg: Any, cutoff: dt.date) -> None:
    """Train and export a candidate (training set -> PyTorch -> TF -> .pb) for ``cutoff``."""
    from r2p.export.stage import export_stage
    from r2p.training.stage import prototype_stage, retrain_stage
    from r2p.training_set.build import build_training_set

    dataset = build_training_set(cfg, cutoff, f"run-{name}")
    dataset["trigger"] = dict(TRIGGER)
    proto = prototype_stage(cfg, dataset, f"run-{name}")
    model = retrain_stage(cfg, dataset, f"run-{name}", proto, TRIGGER)
    world.datasets[name] = dataset
    world.exports[name] = export_stage(cfg, dataset, f"run-{name}", model)


def judge(world: World, name: str, cfg: Any | None = None) -> dict:
    """Evaluate candidate ``name`` and carry out the verdict, as the DAG's two tasks do."""
    from r2p.evaluation.stage import evaluate_stage
    from r2p.promotion.stage import promote_stage

    cfg = cfg or world.cfg
    dataset = world.datasets[name]
    ev = evaluate_stage(cfg, dataset, f"run-{name}", world.exports[name], TRIGGER)
    world.evaluations[name] = ev
    world.promotions[name] = promote_stage(cfg, dataset, f"run-{name}", ev)
    return ev


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory):
    from r2p.config import load_pipeline
    from tests.features.helpers import load_days

    home = tmp_path_factory.mktemp("promotion-world")
    old = os.environ.get("R2P_HOME")
    os.environ["R2P_HOME"] = str(home)
    try:
        cfg = load_pipeline("churn")
        spec = cfg.models[0].model_copy(update={"epochs": 40, "learning_rate": 0.005})
        short = cfg.model_copy(
            update={
                "training": cfg.training.model_copy(update={"window_days": 12}),
                "models": [spec],
            }
        )
        w = World(home, cfg)
        day = dt.timedelta(days=1)
        load_days(cfg, D0, 12, entities=ENTITIES, materialize=False, drift_from=D0 - 10 * day)
        candidate(w, "A", short, D0 + 12 * day)
        judge(w, "A")
        load_days(cfg, D0 + 12 * day, 12, entities=ENTITIES, materialize=False)
        candidate(w, "B", short, D0 + 24 * day)
        judge(w, "B")
        load_days(cfg, D0 + 24 * day, 8, entities=ENTITIES, materialize=False, drift_from=D0)
        load_days(cfg, D0 + 32 * day, 4, entities=ENTITIES, materialize=False)
        candidate(w, "C", short, D0 + 36 * day)
        judge(w, "C")
        yield w
    finally:
        if old is None:
            os.environ.pop("R2P_HOME", None)
        else:
            os.environ["R2P_HOME"] = old


@pytest.fixture
def in_world(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The shared world, read-only."""
    monkeypatch.setenv("R2P_HOME", str(world.home))
    return world


@pytest.fixture
def world_copy(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """A private copy of the world's home (record, registry, serving folder) to change."""
    home = tmp_path / "home"
    shutil.copytree(world.home, home, symlinks=True)
    monkeypatch.setenv("R2P_HOME", str(home))
    return World(home, world.cfg, world.datasets, world.exports, world.evaluations)
