"""``r2p_health``: every 15 minutes, a DAG file that does not import pages on-call.

A file of its own that imports only ``airflow.sdk`` when parsed, so it keeps running when a
pipeline DAG file, its configs or the r2p code it imports are broken (a DAG import error runs
no task, so no task callback could say so). The checks are ``r2p ready``'s: the pipeline
configs (one message per broken config) and the DAG folder parsed as the DAG processor does
plus Airflow's import-error table; one message per file and line, "resolved" once it imports
again, shared with a cron ``r2p ready --notify``.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, CronTriggerTimetable, task

with DAG(
    dag_id="r2p_health",
    schedule=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "r2p", "retries": 1, "retry_delay": dt.timedelta(minutes=1)},
    tags=["r2p", "health"],
    doc_md=__doc__,
):

    @task(execution_timeout=dt.timedelta(minutes=10))
    def dag_imports() -> dict:
        """Parse the configs and the DAG folder; page on-call once per broken config, file
        and line."""
        from r2p.readiness import notify, run_checks

        results = run_checks(["configs", "dag_imports"])
        return {
            **{r.item: {"ok": r.ok, "detail": r.detail} for r in results},
            "alerts": notify(results),
        }

    dag_imports()
