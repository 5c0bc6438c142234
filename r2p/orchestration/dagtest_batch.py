"""Run ``dag.test()`` for several logical dates in one process (what ``airflow dags test``
does per call), so Airflow, GX and Feast are imported once for a whole range of days.

    python -m r2p.orchestration.dagtest_batch DAG_ID LOGICAL_DATE [LOGICAL_DATE ...]

Prints one JSON line per run: ``{"logical_date", "run_id", "state"}`` after a marker.
"""

from __future__ import annotations

import json
import sys

MARKER = "R2P-DAGTEST-RESULT "
# Set in the environment of every dag.test() run r2p starts: the DAG factory then builds no
# deadline (r2p.orchestration.factory.deadline says why).
DAG_TEST_ENV = "R2P_DAG_TEST"


def main(argv: list[str]) -> int:
    from airflow.utils import timezone
    from airflow.utils.cli import get_bagged_dag

    dag_id, dates = argv[0], argv[1:]
    dag = get_bagged_dag(bundle_names=None, dag_id=dag_id, dagfile_path=None)
    failed = 0
    for date in dates:
        run = dag.test(logical_date=timezone.parse(date))
        state = str(getattr(run.state, "value", run.state)) if run else None
        failed += state != "success"
        print(
            MARKER
            + json.dumps(
                {"logical_date": date, "run_id": run.run_id if run else None, "state": state}
            ),
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
