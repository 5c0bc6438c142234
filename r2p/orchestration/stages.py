"""The stage table: every stage of every DAG, declared once.

Each entry names the plain function that does the work (imported only when the task runs, so
DAG files stay light), what it reads and writes, its retry class, pool and timeout, and how
the task builds the function's arguments. The DAG factory builds the tasks from it, the one
task wrapper (:func:`r2p.orchestration.tasks.run_task`) runs any of them, and the CLI
(``r2p stages``, ``r2p train``/``r2p run`` summaries) reads its order.

A new stage is one entry here, one plain function in its package, and (when it has inputs
other than the usual ones) one wiring line in the factory.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from r2p.orchestration import pools

# transient: data errors fail at once, network/database/file-system errors are retried with
# backoff (factory.RETRY_POLICY); manual: no retries (the promotion DAG's operations)
Retry = Literal["transient", "manual"]
# How a task calls its function (the context supplies the config snapshot, interval, run id):
#   interval  fn(cfg, *params, interval, run_id)             the data DAG's stages
#   cutoff    fn(cfg, cutoff, run_id)                         the training set
#   dataset   fn(cfg, dataset, run_id, *upstream, **params)   the training DAG's stages
Call = Literal["interval", "cutoff", "dataset"]


@dataclass(frozen=True)
class Stage:
    name: str
    dag: Literal["data", "training"]
    function: str  # "module:function"
    reads: str
    writes: str
    call: Call
    retry: Retry = "transient"
    pool: str | None = None
    per: Literal["source", "model"] | None = None  # one task per source / mapped per model
    params: tuple[str, ...] = ()  # the per-task keyword arguments passed to the function
    trigger_rule: str = "all_success"
    skip_on: tuple[str, ...] = ()  # data errors that skip the task instead of failing it

    def load(self) -> Callable[..., Any]:
        """The stage's function (imports its package: call inside a task, never at parse)."""
        module, _, attr = self.function.partition(":")
        return getattr(importlib.import_module(module), attr)

    def label(self, **params: Any) -> str:
        """The stage record's name: ``ingest_<source>``; ``<stage>[<model>]`` per candidate
        (plain ``<stage>`` when the run has one model, as before candidates were mapped)."""
        if self.per == "source":
            return f"{self.name}_{params['source']}"
        if self.per == "model" and params.get("of", 1) > 1:
            return f"{self.name}[{params['model']}]"
        return self.name

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        "data",
        "r2p.ingest.stage:ingest_source",
        reads="landing/<dataset>/<source>/ds=…",
        writes="offline/<dataset>/<source>/ds=… (or quarantine/…)",
        call="interval",
        per="source",
        params=("source",),
    ),
    Stage(
        "validate",
        "data",
        "r2p.validation.stage:validate_partition",
        reads="offline/<dataset>/*/ds=…",
        writes="validation/<dataset>/ds=… (GX results, Data Docs)",
        call="interval",
        trigger_rule="none_failed_min_one_success",
    ),
    Stage(
        "materialize",
        "data",
        "r2p.features.store:materialize_interval",
        reads="offline/<dataset>/*/ds=…",
        writes="Feast registry + online store; asset features/<pipeline>",
        call="interval",
        pool=pools.FEAST,
    ),
    Stage(
        "training_set",
        "training",
        "r2p.training_set.build:build_training_set",
        reads="offline partitions in the training window (point in time)",
        writes="training_sets/<pipeline>/<service>/cutoff=…",
        call="cutoff",
    ),
    Stage(
        "eager_check",
        "training",
        "r2p.training.stage:eager_check_stage",
        reads="training set",
        writes="- (shapes and dtypes checked)",
        call="dataset",
        per="model",
        params=("model",),
    ),
    Stage(
        "prototype",
        "training",
        "r2p.training.stage:prototype_stage",
        reads="training set",
        writes="prototypes/<pipeline>/<model>/<key>",
        call="dataset",
        per="model",
        params=("model",),
    ),
    Stage(
        "retrain",
        "training",
        "r2p.training.stage:retrain_stage",
        reads="training set, prototype",
        writes="models/<pipeline>/<model>/<key>; MLflow run",
        call="dataset",
        per="model",
        params=("model",),
    ),
    Stage(
        "export",
        "training",
        "r2p.export.stage:export_stage",
        reads="retrained model (its saved spec)",
        writes="exports/<pipeline>/<model>/<key> (.pb, SavedModel, contract)",
        call="dataset",
        per="model",
    ),
    Stage(
        "infra_validate",
        "training",
        "r2p.export.stage:infra_validate_stage",
        reads="export",
        writes="- (fresh-process load, golden inputs)",
        call="dataset",
        per="model",
    ),
    Stage(
        "parity",
        "training",
        "r2p.export.stage:parity_stage",
        reads="prototype, export, retrain",
        writes="- (TF vs PyTorch on the test split); MLflow metrics",
        call="dataset",
        per="model",
    ),
    Stage(
        "evaluate",
        "training",
        "r2p.evaluation.stage:evaluate_stage",
        reads="every candidate that passed parity; champion; evaluation window",
        writes="evaluations/<pipeline>/<key> (decision.json, report.html)",
        call="dataset",
        trigger_rule="all_done",  # a failed candidate does not stop the others' evaluation
        skip_on=("NoCandidate",),  # every candidate failed: each already alerted on its own
    ),
    Stage(
        "promote",
        "training",
        "r2p.promotion.stage:promote_stage",
        reads="decision",
        writes="promotion record, registry aliases, serving folder; model/<pipeline>/champion",
        call="dataset",
        pool=pools.PROMOTION,
    ),
)
BY_NAME = {s.name: s for s in STAGES}


def stage(name: str) -> Stage:
    """The table entry of ``name`` (KeyError names the known stages)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no stage {name!r}; known: {sorted(BY_NAME)}") from None


def task_order(dag: str) -> tuple[str, ...]:
    """The task ids of a DAG kind in the order data flows, ``notify`` last."""
    return (*(s.name for s in STAGES if s.dag == dag), "notify")
