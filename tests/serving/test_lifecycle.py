"""The server's life: start before any model, hot reload under load, a version that cannot
load, SIGTERM under load, bad command lines."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from tests.serving.conftest import (
    REPO,
    Published,
    Server,
    as_columns,
    free_port,
    predict_request,
    publish,
    sample_rows,
)

pytestmark = pytest.mark.slow
PREDICT = "/v1/models/churn:predict"


@dataclass
class Answer:
    t: float
    protocol: str
    ok: bool
    version: str
    detail: str = ""


@dataclass
class Load:
    """A thread sending batch-1 predictions (REST, and gRPC when ``grpc_too``) until stopped."""

    server: Server
    contract: dict[str, Any]
    grpc_too: bool = False
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def failures(self, until: float = float("inf")) -> list[Answer]:
        return [a for a in self.answers if not a.ok and a.t < until]

    def _run(self) -> None:
        body = {"instances": sample_rows(self.contract, 1, seed=11)}
        request = self._grpc_request() if self.grpc_too else None
        with (
            httpx.Client(base_url=self.server.url, timeout=5) as client,
            grpc.insecure_channel(self.server.grpc_target) as channel,
        ):
            stub = self._stub(channel)
            while not self.stop.is_set():
                self._rest(client, body)
                if request is not None:
                    self._grpc(stub, request)

    def _rest(self, client: httpx.Client, body: dict) -> None:
        t = time.monotonic()
        try:
            r = client.post(PREDICT, json=body)
            version = r.headers.get("x-model-version", "")
            self.answers.append(Answer(t, "rest", r.status_code == 200, version, r.text[:200]))
        except httpx.HTTPError as exc:
            self.answers.append(Answer(t, "rest", False, "", repr(exc)))

    def _grpc(self, stub: Any, request: Any) -> None:
        t = time.monotonic()
        try:
            response = stub.Predict(request, timeout=5)
            version = str(response.model_spec.version.value)
            self.answers.append(Answer(t, "grpc", True, version))
        except grpc.RpcError as exc:
            self.answers.append(Answer(t, "grpc", False, "", f"{exc.code()} {exc.details()}"))

    def _stub(self, channel: grpc.Channel) -> Any:
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        return prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def _grpc_request(self) -> Any:
        return predict_request(self.contract, as_columns(sample_rows(self.contract, 1, seed=11)))


def metric(server: Server, pattern: str) -> str | None:
    """The first line of ``/metrics`` matching ``pattern`` (a regex), or None."""
    text = httpx.get(server.url + "/metrics").text
    return next((ln for ln in text.splitlines() if re.search(pattern, ln)), None)


def grpc_health(channel: grpc.Channel) -> str:
    """The server's status from the standard gRPC health service."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)


def wait_for(condition: Any, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_reload_under_load(start_server, published: Published) -> None:
    """No model yet -> 503/UNAVAILABLE; v1 published -> ready; v2 under load -> no failed
    request, 1s then only 2s; a v3 the loader cannot load -> v2 keeps serving, /metrics says
    so."""
    server = start_server(version=None)
    server.wait("/healthz")
    assert httpx.get(server.url + "/readyz").status_code == 503
    r = httpx.post(server.url + PREDICT, json={"instances": sample_rows(published.contract, 1)})
    assert r.status_code == 503 and r.json()["error"]
    with grpc.insecure_channel(server.grpc_target) as channel:
        columns = as_columns(sample_rows(published.contract, 1))
        request = predict_request(published.contract, columns)
        with pytest.raises(grpc.RpcError) as err:
            Load(server, published.contract)._stub(channel).Predict(request, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert grpc_health(channel) == "NOT_SERVING"

    publish(server.serving_dir, published.builds[1])
    server.wait()
    with Load(server, published.contract, grpc_too=True) as load:
        wait_for(lambda: len(load.answers) > 20, what="answers from version 1")
        publish(server.serving_dir, published.builds[2])
        wait_for(lambda: any(a.version == "2" for a in load.answers), what="version 2")
        seen = len(load.answers)
        wait_for(lambda: len(load.answers) > seen + 20, what="answers after the switch")
    assert not load.failures(), load.failures()[:5]
    versions = [a.version for a in load.answers]
    first_two = versions.index("2")
    assert set(versions[:first_two]) == {"1"}
    assert set(versions[first_two:]) == {"2"}, "a version-1 answer after version 2 served"
    assert {a.protocol for a in load.answers[first_two:]} == {"rest", "grpc"}

    broken = publish(server.serving_dir, published.builds[2], version=3)
    pb = broken / "3" / "model.pb"
    pb.write_bytes(pb.read_bytes()[: pb.stat().st_size // 2])
    wait_for(
        lambda: metric(server, r'^r2p_serving_last_reload_failed\{model="churn"\} 1\.0'),
        what="the failed reload in /metrics",
    )
    error = metric(server, r"^r2p_serving_last_reload_error_info\{")
    assert error is not None and 'version="3"' in error and 'error=""' not in error
    assert metric(server, r'^r2p_serving_reloads_total\{model="churn",result="error"\} 1\.0')
    assert metric(server, r'^r2p_serving_model_version\{model="churn"\} 2\.0')
    outbox = server.home / "outbox" / "jandi.jsonl"  # ML owners hear it (no connection: outbox)
    wait_for(lambda: outbox.exists() and "cannot load version 3" in outbox.read_text(),
             what="the ML owners' alert of the failed reload")  # fmt: skip
    (line,) = [json.loads(x) for x in outbox.read_text().splitlines()]
    assert line["conn_id"] == "jandi_ml_owners"  # a model problem: version 2 keeps serving
    assert (
        line["payload"]["body"]
        == "[churn] Model server cannot load version 3; version 2 keeps serving"
    )
    r = httpx.post(server.url + PREDICT, json={"instances": sample_rows(published.contract, 2)})
    assert r.status_code == 200 and r.headers["x-model-version"] == "2"
    assert httpx.get(server.url + "/readyz").status_code == 200


def test_sigterm_drains_without_failures(start_server, published: Published) -> None:
    drain, grace = 2.0, 2.0
    server = start_server("--drain-seconds", str(drain), "--grace-seconds", str(grace))
    server.wait()
    with Load(server, published.contract, grpc_too=True) as load:
        wait_for(lambda: len(load.answers) > 20, what="answers before SIGTERM")
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        ready = httpx.get(server.url + "/readyz", headers={"Connection": "close"})
        not_ready_after = time.monotonic() - t0
        with grpc.insecure_channel(server.grpc_target) as channel:
            grpc_ready = grpc_health(channel)
        closing = httpx.post(
            server.url + PREDICT, json={"instances": sample_rows(published.contract, 1)}
        )
        time.sleep(drain - 0.4)  # the load balancer would have moved on by now
        load.stop.set()
    assert ready.status_code == 503 and ready.json()["error"] == "draining"
    assert grpc_ready == "NOT_SERVING"
    assert not_ready_after < 0.5
    assert closing.status_code == 200 and closing.headers["connection"] == "close"
    during = [a for a in load.answers if a.t >= t0]
    assert len(during) > 10, "the load thread sent too few requests during the drain"
    # every request sent before the drain ended succeeded (the load thread may send one more
    # after it, on a slow machine: that one may be refused)
    assert not load.failures(until=t0 + drain), load.failures()[:5]
    assert server.proc.wait(timeout=drain + grace + 5) == 0
    took = time.monotonic() - t0
    assert drain <= took < drain + grace + 3, f"exited {took:.2f}s after SIGTERM"
    assert "SIGTERM: draining" in server.log.read_text()


def test_sigterm_sends_grpc_goaway_and_keeps_serving(start_server, published: Published) -> None:
    """During the drain an open gRPC connection gets a GOAWAY (the channel leaves READY while
    the server still serves: the connection age is half the drain), calls go on without a
    failure on new connections, and the process exits 0 after the drain."""
    drain = 3.0
    server = start_server("--drain-seconds", str(drain), "--grace-seconds", "2")
    server.wait()
    request = predict_request(published.contract, as_columns(sample_rows(published.contract, 1)))
    states: list[grpc.ChannelConnectivity] = []
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = Load(server, published.contract)._stub(channel)
        stub.Predict(request, timeout=5)
        channel.subscribe(states.append, try_to_connect=False)
        wait_for(lambda: grpc.ChannelConnectivity.READY in states, what="a READY channel")
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        wait_for(
            lambda: states[-1] != grpc.ChannelConnectivity.READY,
            timeout=drain - 0.5,
            what="the GOAWAY (the channel leaving READY)",
        )
        goaway_after = time.monotonic() - t0
        answers = [stub.Predict(request, timeout=5) for _ in range(5)]
        served_until = time.monotonic() - t0
        channel.unsubscribe(states.append)
    assert goaway_after < drain - 0.5 and served_until < drain, (goaway_after, served_until)
    assert all(a.outputs["probabilities"].tensor_shape.dim[0].size == 1 for a in answers)
    assert server.proc.wait(timeout=drain + 10) == 0


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "--model"),
        (["--model", "churn", "--http-port", "http"], "--http-port"),
        (["--model", "churn", "--grpc-port", "70000"], "not a TCP port"),
        (["--model", "churn", "--http-port", "9000", "--grpc-port", "9000"], "must differ"),
        (["--model", "churn", "--drain-seconds", "-1"], "--drain-seconds"),
        (["--model", "churn", "--grpc-connection-age-seconds", "-1"], "connection-age"),
        (["--model", "churn", "--serving-dir", "/no/such/dir"], "not a directory"),
        (["--model", "../etc"], "plain name"),
    ],
    ids=[
        "no-model",
        "port-text",
        "port-range",
        "same-ports",
        "negative-drain",
        "negative-age",
        "dir",
        "name",
    ],
)
def test_bad_command_line_exits_2(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "r2p.serving", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


@pytest.mark.parametrize("busy", ["grpc", "http"])
def test_busy_port_exits_1(server: Server, tmp_path, busy: str) -> None:
    ports = {"grpc": free_port(), "http": free_port()}
    ports[busy] = server.grpc_port if busy == "grpc" else server.http_port
    args = ["--serving-dir", str(tmp_path), "--grpc-port", str(ports["grpc"]), "--no-entities"]
    args += ["--http-port", str(ports["http"])]
    done = subprocess.run(
        [sys.executable, "-m", "r2p.serving", "--model", "churn", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    expected = "cannot bind gRPC" if busy == "grpc" else "address already in use"
    assert expected in done.stderr


def _slow_upload(server: Server, contract: dict, seconds: float, out: dict) -> None:
    """A predict request whose body trickles in over ``seconds`` (a slow client): in flight
    for that long, whatever the server does meanwhile."""
    body = json.dumps({"instances": sample_rows(contract, 3, seed=5)}).encode()
    pieces = [body[i : i + len(body) // 6 + 1] for i in range(0, len(body), len(body) // 6 + 1)]

    def trickle() -> Any:
        for piece in pieces:
            time.sleep(seconds / len(pieces))
            yield piece

    out["start"] = time.monotonic()
    try:
        r = httpx.post(server.url + PREDICT, content=trickle(), timeout=30)
        out["status"], out["body"] = r.status_code, r.json()
    except httpx.HTTPError as exc:
        out["status"], out["body"] = None, repr(exc)
    out["end"] = time.monotonic()


@pytest.mark.timeout(180)
def test_request_in_flight_when_listeners_close_finishes(
    start_server, published: Published
) -> None:
    """SIGTERM under REST and gRPC load; a slow upload starts just before the drain period
    ends and is still arriving when the listeners close: it is answered 200, every request
    sent during the drain succeeds, clients are refused (UNAVAILABLE on gRPC) only after the
    drain, and the process exits 0."""
    drain, grace = 2.0, 4.0
    server = start_server("--drain-seconds", str(drain), "--grace-seconds", str(grace))
    server.wait()
    slow: dict[str, Any] = {}
    with Load(server, published.contract, grpc_too=True) as load:
        wait_for(lambda: len(load.answers) > 20, what="answers before SIGTERM")
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(drain - 0.5)
        upload = threading.Thread(target=_slow_upload, args=(server, published.contract, 1.5, slow))
        upload.start()
        code = server.proc.wait(timeout=drain + grace + 10)
        upload.join(timeout=30)
    assert code == 0, server.logs()
    assert slow["status"] == 200, slow["body"]
    assert np.array(slow["body"]["predictions"]).shape == (3, 2)
    assert slow["end"] > t0 + drain + 0.3, "the slow request ended before the listeners closed"
    failed = load.failures()
    assert failed, "the load never saw the listeners close"
    assert min(a.t for a in failed) >= t0 + drain - 0.1, failed[:3]
    assert not load.failures(until=t0 + drain - 0.1)
    grpc_failures = {a.detail.split(" ")[0] for a in failed if a.protocol == "grpc"}
    details = [(round(a.t - t0, 3), a.detail) for a in failed if a.protocol == "grpc"]
    assert grpc_failures <= {"StatusCode.UNAVAILABLE"}, (details[:5], server.logs())
    assert len([a for a in load.answers if t0 <= a.t < t0 + drain and a.ok]) > 10
