"""A served churn model and real server processes for the serving tests.

One export is trained (cheaply) through the real stages and published as version 1 and 2 with
the promotion's own ``serving_folder``; each server test runs ``python -m r2p.serving`` as a
subprocess on free loopback ports, with a serving folder of its own.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Published:
    """Version 1 and 2 builds of one export, staged by the promotion's serving folder."""

    home: Path
    builds: dict[int, Path]
    contract: dict[str, Any]


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    import json

    import r2p.config
    from r2p.export.stage import export_stage
    from r2p.promotion import serving_folder
    from r2p.training.stage import prototype_stage, retrain_stage
    from r2p.training_set.build import build_training_set
    from tests.features.helpers import load_days

    home = tmp_path_factory.mktemp("serving-home")
    old = os.environ.get("R2P_HOME")
    os.environ["R2P_HOME"] = str(home)
    try:
        cfg = r2p.config.load_pipeline("churn")
        load_days(cfg, dt.date(2026, 11, 2), 10, entities=120, materialize=False)
        dataset = build_training_set(cfg, dt.date(2026, 11, 12), "t")
        proto = prototype_stage(cfg, dataset, "t")
        model = retrain_stage(cfg, dataset, "t", proto)
        export = export_stage(cfg, dataset, "t", model)
        builds = {v: serving_folder.stage("churn", v, export["uri"]) for v in (1, 2)}
        contract = json.loads((builds[1] / "1" / "contract.json").read_text())
        yield Published(home, builds, contract)
    finally:
        if old is None:
            os.environ.pop("R2P_HOME", None)
        else:
            os.environ["R2P_HOME"] = old


def publish(serving_dir: Path, build: Path, version: int | None = None) -> Path:
    """Copy a staged build into ``serving_dir`` (renumbered to ``version``) and make it the
    served one with the promotion's atomic switch."""
    from r2p.promotion import serving_folder

    (old,) = [p for p in build.iterdir() if p.name.isdigit()]
    version = version or int(old.name)
    target = serving_dir / ".builds" / "churn" / f"{version}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(build, target, symlinks=True)
    if int(old.name) != version:
        (target / old.name).rename(target / str(version))
    previous = os.environ.get("R2P_SERVING")
    os.environ["R2P_SERVING"] = str(serving_dir)
    try:
        serving_folder.switch("churn", target)
    finally:
        if previous is None:
            os.environ.pop("R2P_SERVING", None)
        else:
            os.environ["R2P_SERVING"] = previous
    return target


class Server:
    """``python -m r2p.serving`` in a subprocess on free loopback ports."""

    def __init__(self, serving_dir: Path, home: Path, *args: str) -> None:
        self.serving_dir = serving_dir
        self.home = home
        self.http_port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self.log = serving_dir.parent / f"server-{self.http_port}.log"
        cmd = [
            sys.executable,
            "-m",
            "r2p.serving",
            "--model",
            "churn",
            "--http-port",
            str(self.http_port),
            "--grpc-port",
            str(self.grpc_port),
            "--serving-dir",
            str(serving_dir),
            "--poll-seconds",
            "0.2",
            *args,
        ]
        env = {**os.environ, "R2P_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=out, cwd=REPO, env=env)

    def wait(self, path: str = "/readyz", timeout: float = 240) -> None:
        """Block until ``path`` answers 200 (fail with the server's log otherwise)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited {self.proc.returncode}: {self.logs()}"
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{path} not 200 after {timeout}s: {self.logs()}")

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.send_signal(signal.SIGINT)  # the second signal skips the drain
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_server(tmp_path: Path, published: Published) -> Iterator[Any]:
    """``start_server(*args, version=1)``: a server on a fresh serving folder (``version=None``
    leaves the folder empty)."""
    servers: list[Server] = []

    def start(*args: str, version: int | None = 1) -> Server:
        serving_dir = tmp_path / f"serving-{len(servers)}"
        serving_dir.mkdir()
        if version is not None:
            publish(serving_dir, published.builds[version])
        server = Server(serving_dir, published.home, *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def server(published: Published, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server on version 1 shared by the read-only tests."""
    serving_dir = tmp_path_factory.mktemp("shared") / "serving"
    serving_dir.mkdir()
    publish(serving_dir, published.builds[1])
    srv = Server(serving_dir, published.home)
    try:
        srv.wait()
        yield srv
    finally:
        srv.stop()


def sample_rows(contract: dict[str, Any], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` request rows: varied numbers and categories, unseen categories and nulls."""
    rng = np.random.default_rng(seed)
    words = ["basic", "premium", "eu", "us", "ios", "web", "never-seen-before", "", None]
    rows = []
    for _ in range(n):
        row: dict[str, Any] = {}
        for item in contract["inputs"]:
            if item["dtype"] == "string":
                row[item["name"]] = words[rng.integers(len(words))]
            else:
                value = float(np.round(rng.normal(20, 15), 3))
                row[item["name"]] = None if rng.random() < 0.1 else value
        rows.append(row)
    return rows


def as_columns(rows: list[dict[str, Any]]) -> dict[str, list]:
    """The same rows as columns (feature -> values)."""
    return {name: [r[name] for r in rows] for name in rows[0]}


def predict_request(contract: dict[str, Any], columns: dict[str, list], **spec: Any) -> Any:
    """A PredictRequest as TF Serving clients build it (``tf.make_tensor_proto`` per input)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = spec.pop("name", "churn")
    if "version" in spec:
        request.model_spec.version.value = spec.pop("version")
    request.model_spec.signature_name = spec.pop("signature_name", "serving_default")
    kinds = {i["name"]: i["dtype"] for i in contract["inputs"]}
    for name, values in columns.items():
        if kinds.get(name) == "string":
            array = np.array([(v or "").encode() for v in values], dtype=object)
        else:
            array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return request


@dataclass
class OnlineDays:
    """The three days before today, ingested and materialised into the published home's Feast
    online store (recent, so every feature view is within its TTL now)."""

    first: dt.date
    last: dt.date
    fresh: list[int]  # entities with an event on the last day: every view has a fresh value


@pytest.fixture(scope="session")
def online_days(published: Published) -> OnlineDays:
    import r2p.config
    from r2p.ingest.offline import read_offline
    from tests.features.helpers import load_days

    cfg = r2p.config.load_pipeline("churn")
    last = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    first = last - dt.timedelta(days=2)
    load_days(cfg, first, 3, entities=120)
    events = read_offline(cfg, "activity", last).column(cfg.dataset.entity.key).to_pylist()
    return OnlineDays(first, last, sorted(set(events)))
