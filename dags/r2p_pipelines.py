"""Airflow DAGs: every pipeline config in ``configs/`` becomes its DAGs (r2p.orchestration.factory).

Wiring only: configs are small YAML files; the stages' heavy imports happen inside tasks.
"""

from __future__ import annotations

from r2p.config import load_all
from r2p.orchestration.factory import (
    build_data_dag,
    build_freshness_dag,
    build_promotion_dag,
    build_training_dag,
)

_cfgs = load_all()
r2p_freshness = build_freshness_dag(_cfgs)
for _cfg in _cfgs:
    for _build in (build_data_dag, build_training_dag, build_promotion_dag):
        _dag = _build(_cfg)
        globals()[_dag.dag_id] = _dag
