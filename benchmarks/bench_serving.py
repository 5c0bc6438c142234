"""Load test of the model server on loopback: REST (aiohttp) and gRPC (grpc.aio) clients.

Trains the churn model cheaply and publishes it (or takes ``--serving-dir``), starts
``python -m r2p.serving`` as a subprocess, then measures batch-1 requests at concurrency 1, 4,
16 and 64 (p50/p95/p99, throughput, errors) beside the in-process ``FrozenModel.predict``
batch-1 latency (the peer: what the server adds is the difference), the entity endpoint
(Feast online read + model) at concurrency 1 and 4 when the home's feature store serves it;
then a sustained run at the lowest concurrency that reached 1,000 req/s, with a hot reload to
version 2 halfway through (failed requests, answers per version, how long the switch took);
server CPU and RSS (psutil) at idle and under load. Prints JSON.

    .venv/bin/python benchmarks/bench_serving.py [--seconds 5] [--sustain 60]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LEVELS = (1, 4, 16, 64)
TARGET_RPS = 1000
Reload = Callable[[], None]  # publishes version 2 (the hot reload of the sustained run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publish_model(home: Path) -> tuple[Path, Callable[[], None]]:
    """Train and export churn on generated days (loaded online too, for the entity endpoint),
    publish it as version 1; the serving dir and a function that publishes version 2."""
    os.environ["R2P_HOME"] = str(home)
    sys.path.insert(0, str(REPO))
    from r2p.config import load_pipeline
    from r2p.export.stage import export_stage
    from r2p.home import serving_dir
    from r2p.promotion import serving_folder
    from r2p.training.stage import prototype_stage, retrain_stage
    from r2p.training_set.build import build_training_set
    from tests.features.helpers import load_days

    cfg = load_pipeline("churn")
    today = dt.datetime.now(dt.UTC).date()  # days up to yesterday: fresh online (TTL)
    load_days(cfg, today - dt.timedelta(days=10), 10, entities=120, materialize=True)
    dataset = build_training_set(cfg, today, "bench")
    proto = prototype_stage(cfg, dataset, "bench")
    model = retrain_stage(cfg, dataset, "bench", proto)
    export = export_stage(cfg, dataset, "bench", model)
    serving_folder.switch("churn", serving_folder.stage("churn", 1, export["uri"]))
    second = serving_folder.stage("churn", 2, export["uri"])
    return serving_dir(), lambda: serving_folder.switch("churn", second)


def request_row(contract: dict[str, Any]) -> dict[str, Any]:
    """One typical row: numbers, a known-looking and an unseen category, one missing value."""
    row: dict[str, Any] = {}
    for i, item in enumerate(contract["inputs"]):
        if item["dtype"] == "string":
            row[item["name"]] = "basic" if i % 2 else "never-seen"
        else:
            row[item["name"]] = None if i == 3 else float(10 + i)
    return row


def grpc_request(contract: dict[str, Any], row: dict[str, Any]) -> Any:
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "churn"
    for item in contract["inputs"]:
        value = row[item["name"]]
        if item["dtype"] == "string":
            array = np.array([(value or "").encode()], dtype=object)
        else:
            array = np.array([np.nan if value is None else value], dtype=np.float64)
        request.inputs[item["name"]].CopyFrom(tf.make_tensor_proto(array))
    return request


def summary(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    """Percentiles in ms, throughput in req/s."""
    if not latencies:
        return {"requests": 0, "errors": errors}
    qs = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(qs[49] * 1000, 3),
        "p95_ms": round(qs[94] * 1000, 3),
        "p99_ms": round(qs[98] * 1000, 3),
        "max_ms": round(max(latencies) * 1000, 3),
    }


async def drive(call: Callable[[], Awaitable[bool]], concurrency: int, seconds: float) -> dict:
    """``concurrency`` workers calling ``call`` back to back for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            try:
                ok = await call()
            except Exception:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summary(latencies, errors, time.perf_counter() - t0)


class ServerUsage:
    """CPU (percent of one core, averaged over a phase) and RSS of the server process."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)

    def start(self) -> None:
        self.proc.cpu_percent(None)

    def read(self) -> dict[str, float]:
        return {
            "cpu_percent": round(self.proc.cpu_percent(None), 1),
            "rss_mb": round(self.proc.memory_info().rss / 2**20, 1),
        }


async def measure(
    args: argparse.Namespace,
    http: str,
    target: str,
    pid: int,
    row: dict,
    req: Any,
    reload: Reload | None,
) -> dict[str, Any]:
    import aiohttp
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    usage = ServerUsage(pid)
    usage.start()
    await asyncio.sleep(2)
    out: dict[str, Any] = {"server_idle": usage.read(), "rest": {}, "grpc": {}}
    answers: list[tuple[float, str | None]] = []  # (when, model version) of every answer
    body = json.dumps({"instances": [row]}).encode()
    headers = {"Content-Type": "application/json"}
    url = f"{http}/v1/models/churn:predict"
    connector = aiohttp.TCPConnector(limit=0)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        grpc.aio.insecure_channel(target) as channel,
    ):
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        async def rest() -> bool:
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
                answers.append((time.perf_counter(), r.headers.get("x-model-version")))
                return r.status == 200

        async def rpc() -> bool:
            response = await stub.Predict(req, timeout=5)
            answers.append((time.perf_counter(), str(response.model_spec.version.value)))
            return True

        for name, call in (("rest", rest), ("grpc", rpc)):
            await drive(call, 4, 1.0)  # warm connections
            for level in LEVELS:
                usage.start()
                result = await drive(call, level, args.seconds)
                out[name][f"c{level}"] = {**result, "server": usage.read()}
        out["entities"] = await entity_levels(args, session, http, usage)
        calls = {"rest": rest, "grpc": rpc}
        out["sustained"] = await sustain(args, out, calls, usage, answers, reload)
    return out


async def entity_levels(args: argparse.Namespace, session, http: str, usage: ServerUsage) -> dict:
    """The entity endpoint (a Feast online read, then the model) for one entity at
    concurrency 1 and 4; skipped when the server's feature store does not serve it."""
    async with session.get(f"{http}/v1/models/churn/entities") as r:
        if r.status != 200:
            return {"skipped": f"GET .../entities answered {r.status}"}
    body = json.dumps({"entities": [{"customer_id": args.entity_id}]}).encode()
    url = f"{http}/v1/models/churn/entities:predict"

    async def call() -> bool:
        async with session.post(url, data=body) as r:
            answer = await r.json()
            return r.status == 200 and "probabilities" in answer["results"][0]

    out: dict[str, Any] = {"entity_id": args.entity_id}
    await drive(call, 1, 1.0)
    for level in (1, 4):
        usage.start()
        out[f"c{level}"] = {**await drive(call, level, args.seconds), "server": usage.read()}
    return out


async def sustain(
    args, out: dict, calls: dict, usage: ServerUsage, answers: list, reload: Reload | None
) -> dict:
    """The sustained run: REST at the lowest concurrency that reached the target (else the
    fastest level of either protocol), with ``reload`` (publishing version 2) halfway."""
    levels = [
        (name, level)
        for name in ("rest", "grpc")
        for level in LEVELS
        if out[name][f"c{level}"].get("rps", 0) >= TARGET_RPS
    ]
    if not levels:
        best = max(
            ((n, lv) for n in ("rest", "grpc") for lv in LEVELS),
            key=lambda k: out[k[0]][f"c{k[1]}"].get("rps", 0),
        )
        levels = [best]
    name, level = levels[0]
    usage.start()
    answers.clear()
    run = asyncio.ensure_future(drive(calls[name], level, args.sustain))
    switched = None
    if reload is not None:
        await asyncio.sleep(args.sustain / 2)
        switched = time.perf_counter()
        await asyncio.to_thread(reload)
    result = await run
    out = {"protocol": name, "concurrency": level, **result, "server": usage.read()}
    out["rps_per_5s"] = timeline(answers, 5.0)
    if switched is not None:
        out["hot_reload"] = reload_report(answers, switched)
    return out


def timeline(answers: list[tuple[float, str | None]], window: float) -> list[float]:
    """Answers per second in each ``window`` seconds of the run (the last partial one left out)."""
    if not answers:
        return []
    start = answers[0][0]
    counts = [0] * int((answers[-1][0] - start) // window)
    for t, _ in answers:
        i = int((t - start) // window)
        if i < len(counts):
            counts[i] += 1
    return [round(c / window, 1) for c in counts]


def reload_report(answers: list[tuple[float, str | None]], switched: float) -> dict[str, Any]:
    """Answers per version around the switch to version 2 and how long it took to serve."""
    versions = [v for _, v in answers]
    first_new = next((t for t, v in answers if v == "2"), None)
    after = [v for t, v in answers if first_new is not None and t > first_new]
    return {
        "answers_by_version": {v: versions.count(v) for v in sorted(set(versions), key=str)},
        "seconds_from_switch_to_first_v2_answer": (
            round(first_new - switched, 3) if first_new is not None else None
        ),
        "v1_answers_after_first_v2": after.count("1"),
    }


def peer_latency(folder: Path, row: dict, repeat: int = 2000) -> dict[str, float]:
    """In-process ``FrozenModel.predict`` batch-1 latency (ms), in this process."""
    from r2p.serving.loader import FrozenModel

    model = FrozenModel.load(folder)
    columns = {k: [v] for k, v in row.items()}
    for _ in range(100):
        model.predict(columns)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        model.predict(columns)
        times.append(time.perf_counter() - t0)
    return summary(times, 0, sum(times)) | {"rps": round(repeat / sum(times), 1)}


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    serving, reload = (args.serving_dir, None) if args.serving_dir else publish_model(tmp / "home")
    folder = next(p for p in (serving / "churn").iterdir() if p.name.isdigit())
    contract = json.loads((folder / "contract.json").read_text())
    row = request_row(contract)
    http_port, grpc_port = _free_port(), _free_port()
    cmd = [sys.executable, "-m", "r2p.serving", "--model", "churn", "--serving-dir", str(serving)]
    cmd += ["--http-port", str(http_port), "--grpc-port", str(grpc_port), *args.server_arg]
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=REPO)
    try:
        url = f"http://127.0.0.1:{http_port}"
        wait_ready(url, proc)
        peer = peer_latency(folder, row)
        req = grpc_request(contract, row)
        import uvloop

        target = f"127.0.0.1:{grpc_port}"
        report = uvloop.run(measure(args, url, target, proc.pid, row, req, reload))
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
        log.close()
    low = {name: report[name]["c1"].get("p50_ms") for name in ("rest", "grpc")}
    sustained = report["sustained"]
    return {
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
        "seconds_per_level": args.seconds,
        "peer_inprocess_frozen_predict_batch1": peer,
        **report,
        "server_exit_code_after_sigterm": code,
        "targets": {
            "rest_p50_le_2ms_at_c1": (low["rest"] or 99) <= 2.0,
            "grpc_p50_le_1_5ms_at_c1": (low["grpc"] or 99) <= 1.5,
            "sustained_ge_1000rps_0_errors": sustained.get("rps", 0) >= TARGET_RPS
            and sustained["errors"] == 0,
            "hot_reload_under_that_load_0_failed": "hot_reload" in sustained
            and sustained["errors"] == 0
            and sustained["hot_reload"]["seconds_from_switch_to_first_v2_answer"] is not None,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per concurrency level")
    parser.add_argument("--sustain", type=float, default=60.0, help="the sustained run")
    parser.add_argument("--serving-dir", type=Path, help="serve this folder (no training)")
    parser.add_argument(
        "--entity-id",
        type=int,
        default=1,
        help="entity for the entity endpoint (measured when the home's Feast store serves it)",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="an extra argument for the server, e.g. --server-arg=--no-entities (repeatable)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import quiet

    quiet()
    # Libraries print to stdout while the model is trained: keep stdout for the JSON alone.
    stdout = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    with tempfile.TemporaryDirectory(prefix="r2p-bench-") as tmp:
        report = run(args, Path(tmp))
    print(json.dumps(report, indent=2), file=stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
