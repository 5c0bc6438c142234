"""Seconds from a task failure to its Jandi message arriving (target: under 5 s when the
webhook answers at once).

Runs the churn data DAG through ``airflow dags test`` on a day with a refused batch, with the
data-engineering route pointing at a local HTTP server that answers 200 at once. Failure time
= the end of the failed stage as its stage record says; arrival = when the server received the
message (both wall clock, one machine). Each repetition uses a fresh home (a new problem, so
deduplication does not hold the message back). Also: the hook's own post against a plain
``requests.post`` of the same payload (the peer). Prints JSON.

    .venv/bin/python benchmarks/bench_alerts.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DAY = dt.date(2026, 11, 16)


class _Inbox(BaseHTTPRequestHandler):
    arrivals: list[tuple[float, dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Inbox.arrivals.append((time.time(), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> int:
    from _common import quiet

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/webhook/tokbench"
    os.environ["AIRFLOW_CONN_JANDI_DATA_ENG"] = json.dumps({"conn_type": "http", "host": url})
    quiet()
    with tempfile.TemporaryDirectory(prefix="r2p-bench-") as tmp:
        os.environ["AIRFLOW_HOME"] = f"{tmp}/airflow"
        print(json.dumps(run(args.repeat, tmp, url), indent=2))
    server.shutdown()
    return 0


def run(repeat: int, tmp: str, url: str) -> dict:
    import requests

    from r2p.config import load_pipeline
    from r2p.orchestration.dagtest import run_dag_test
    from r2p.runner import RunInfo, manifest
    from r2p.sample.landing import Defect, generate_days

    latencies, walls = [], []
    for i in range(repeat):
        os.environ["R2P_HOME"] = f"{tmp}/home{i}"
        cfg = load_pipeline("churn")
        generate_days(cfg, DAY, 1, entities=100, inject=[Defect("missing_column", "profile", DAY)])
        before = len(_Inbox.arrivals)
        t0 = time.perf_counter()
        result = run_dag_test("churn_data", DAY)
        walls.append(time.perf_counter() - t0)
        record = manifest(RunInfo("churn", result.run_id))["stages"]["ingest_profile"]
        failed_at = dt.datetime.fromisoformat(record["ended_at"]).timestamp()
        arrived = [a for a, m in _Inbox.arrivals[before:] if "Batch refused" in m["body"]]
        if len(arrived) != 1:
            raise SystemExit(f"expected one message, got {len(arrived)}")
        latencies.append(arrived[0] - failed_at)
    from r2p_jandi import JandiHook, JandiMessage

    message = JandiMessage("bench", "info", [("a", "b")])
    hook = JandiHook("jandi_data_eng")
    hook.send(message)
    t0 = time.perf_counter()
    for _ in range(50):
        hook.send(message)
    hook_ms = (time.perf_counter() - t0) / 50 * 1000
    headers = {
        "Accept": "application/vnd.tosslab.jandi-v2+json",
        "Content-Type": "application/json",
    }
    t0 = time.perf_counter()
    for _ in range(50):
        requests.post(url, json=message.payload(), headers=headers, timeout=(3, 10))
    raw_ms = (time.perf_counter() - t0) / 50 * 1000
    return {
        "failure_to_arrival_seconds": [round(x, 3) for x in latencies],
        "median_seconds": round(statistics.median(latencies), 3),
        "target_seconds": 5.0,
        "dags_test_wall_seconds": [round(x, 1) for x in walls],
        "hook_send_ms": round(hook_ms, 2),
        "peer_requests_post_ms": round(raw_ms, 2),
        "ratio_hook_to_requests": round(hook_ms / raw_ms, 2),
    }


if __name__ == "__main__":
    raise SystemExit(main())
