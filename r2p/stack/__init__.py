"""The production-shaped stack: Airflow's api-server, scheduler, dag-processor and triggerer
(+ a Celery worker, + the model server) on PostgreSQL, run and kept up by r2p.supervisor.

``up`` migrates the database and starts them; ``down`` stops them by their own PIDs;
``status`` shows PIDs, uptime, restarts and Airflow's health answer. Logs: ``$R2P_HOME/stack``.
"""

from __future__ import annotations

from r2p.stack.commands import (
    StackError,
    client,
    down,
    format_status,
    recorded_config,
    status,
    up,
)
from r2p.stack.config import StackConfig, stack_env, state_dir

__all__ = [
    "StackConfig",
    "StackError",
    "client",
    "down",
    "format_status",
    "recorded_config",
    "stack_env",
    "state_dir",
    "status",
    "up",
]
