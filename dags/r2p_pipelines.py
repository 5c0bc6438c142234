"""Airflow DAGs: every pipeline config in ``configs/`` becomes its DAGs (r2p.orchestration.factory).

Wiring only: configs are small YAML files; the stages' heavy imports happen inside tasks.
Each config is loaded on its own: a broken one is left out here (its other pipelines keep
their DAGs) and reported by ``r2p_config_errors.py`` as that file's DAG import error. They are
two files because Airflow marks every DAG of a file with an import error stale.
"""

from __future__ import annotations

from r2p.config.loader import load_each
from r2p.orchestration.factory import (
    build_data_dag,
    build_freshness_dag,
    build_promotion_dag,
    build_training_dag,
)

_cfgs = load_each()[0]  # the broken ones are r2p_config_errors.py's import error
r2p_freshness = build_freshness_dag(_cfgs)
for _cfg in _cfgs:
    for _build in (build_data_dag, build_training_dag, build_promotion_dag):
        _dag = _build(_cfg)
        globals()[_dag.dag_id] = _dag
