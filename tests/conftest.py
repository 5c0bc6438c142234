"""Test mode: every test runs in a temporary home; the user's home and logs stay untouched.

The environment is switched before any project or Airflow module is imported, so nothing
can pick up the user's ``R2P_HOME``, ``AIRFLOW_HOME`` or storage root by accident.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# Paths a careless test could write to: the default home (relative to the repo and to the
# working directory) and Airflow's default home.
USER_STATE = sorted(
    {
        (REPO / ".r2p").resolve(),
        (Path.cwd() / ".r2p").resolve(),
        Path("~/airflow").expanduser(),
        (REPO / "mlruns").resolve(),  # MLflow's default store: nothing may fall back to it
        (Path.cwd() / "mlruns").resolve(),
    }
)


def fingerprint(paths: list[Path]) -> dict[str, tuple[int, int] | None]:
    """Every file under ``paths`` with its size and mtime (None for a missing root)."""
    out: dict[str, tuple[int, int] | None] = {}
    for root in paths:
        if not root.exists():
            out[str(root)] = None
            continue
        for p in [root, *root.rglob("*")]:
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


USER_STATE_BEFORE = fingerprint(USER_STATE)
SESSION_HOME = Path(tempfile.mkdtemp(prefix="r2p-test-home-"))
for var in (
    "R2P_STORAGE",
    "R2P_LANDING",
    "R2P_STORAGE_CONN_ID",
    "R2P_CONFIGS",
    "R2P_SERVING",
    "MLFLOW_TRACKING_URI",
):
    os.environ.pop(var, None)
os.environ.update(
    R2P_HOME=str(SESSION_HOME),
    AIRFLOW_HOME=str(SESSION_HOME / "airflow"),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
)
# run_dag_test: `airflow dags test` forked from a process with TF, GX, Feast ... imported once
# (r2p.orchestration.dagtest), not a fresh interpreter importing them for every run; set it to
# 0 to compare
os.environ.setdefault("R2P_DAGTEST_FORKSERVER", "1")


def in_ci() -> bool:
    """True under CI, where a missing service is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(name: str, reachable: bool, detail: str) -> None:
    """Skip (locally) or fail (under CI=true) when a service a test needs is unreachable."""
    if reachable:
        return
    message = f"{name} is not reachable: {detail}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing service is a failure)")
    pytest.skip(message)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty home (and file storage root) for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("R2P_HOME", str(path))
    for var in ("R2P_STORAGE", "R2P_LANDING", "R2P_STORAGE_CONN_ID", "R2P_SERVING"):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture
def churn(home: Path):
    """The shipped binary pipeline, in a fresh home."""
    from r2p.config import load_pipeline

    return load_pipeline("churn")


@pytest.fixture
def fleet(home: Path):
    """The shipped multiclass pipeline, in a fresh home."""
    from r2p.config import load_pipeline

    return load_pipeline("fleet")


TRAIN_START = __import__("datetime").date(2026, 11, 2)
TRAIN_DAYS = 12


@pytest.fixture(scope="module")
def built(request, tmp_path_factory):
    """(cfg, training-set outputs, arrays, home) for the config named by the ``built`` param:
    twelve generated days through the real stages into a home of the module's own."""
    import datetime as dt

    from r2p.config import load_pipeline
    from r2p.training.data import arrays
    from r2p.training_set.build import build_training_set
    from r2p.training_set.load import load_training_set
    from tests.features.helpers import load_days

    name = request.param
    home = tmp_path_factory.mktemp(f"train-{name}")
    old = os.environ.get("R2P_HOME")
    os.environ["R2P_HOME"] = str(home)
    try:
        cfg = load_pipeline(name)
        load_days(cfg, TRAIN_START, TRAIN_DAYS, entities=250, materialize=False)
        dataset = build_training_set(cfg, TRAIN_START + dt.timedelta(days=TRAIN_DAYS), "t")
        frame, _ = load_training_set(dataset)
        yield cfg, dataset, arrays(cfg, frame), home
    finally:
        if old is None:
            os.environ.pop("R2P_HOME", None)
        else:
            os.environ["R2P_HOME"] = old


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[dict[str, str]]:
    """A moto S3 server on a free loopback port, with bucket ``r2p`` and connection ``r2p_s3``."""
    exe = shutil.which("moto_server", path=str(VENV_BIN)) or shutil.which("moto_server")
    require("moto_server", exe is not None, "install the dev extras (make venv)")
    port = _free_port()
    log = open(SESSION_HOME / "moto.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        require("moto S3 server", _wait_http(port, time.monotonic() + 30), f"port {port}")
        endpoint = f"http://127.0.0.1:{port}"
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="r2p")
        conn = (
            '{"conn_type": "aws", "login": "testing", "password": "testing", "extra": '
            f'{{"endpoint_url": "{endpoint}", "region_name": "us-east-1", '
            '"config_kwargs": {"connect_timeout": 5, "read_timeout": 30}}}'
        )
        os.environ["AIRFLOW_CONN_R2P_S3"] = conn
        yield {"endpoint": endpoint, "conn_id": "r2p_s3", "bucket": "r2p"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])
def storage_root(
    request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The storage root on ``file://`` and on ``s3://`` against moto, one test each."""
    if request.param == "file":
        return f"file://{home / 'storage'}"
    s3 = request.getfixturevalue("moto_s3")
    key = f"{request.node.name.replace('[', '_').rstrip(']')}-{time.time_ns()}"
    monkeypatch.setenv("R2P_STORAGE", f"s3://{s3['bucket']}/{key}")
    monkeypatch.setenv("R2P_STORAGE_CONN_ID", s3["conn_id"])
    return f"s3://{s3['conn_id']}@{s3['bucket']}/{key}"  # URIs carry their connection id


def run_cli(
    *args: str, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``r2p`` command in a subprocess with the test environment (None unsets)."""
    merged = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(VENV_BIN / "r2p"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in merged.items() if v is not None},
        cwd=str(REPO),
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


# The Jandi stand-in (tests/plugins/jandi_server.py) and connections pointing at it.
@pytest.fixture
def jandi_server() -> Iterator[Any]:
    """A running stand-in for Jandi on a free loopback port."""
    from tests.plugins.jandi_server import JandiServer

    server = JandiServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``connect(conn_id, url)`` registers ``AIRFLOW_CONN_<ID>`` as JSON with the whole URL
    in ``host``; keyword arguments replace the connection's fields (``host=None`` drops it)."""

    def register(conn_id: str, url: str, **fields: Any) -> Any:
        conn = {"conn_type": "http", "host": url, **fields}
        conn = {key: value for key, value in conn.items() if value is not None}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        from tests.plugins.jandi_server import Webhook

        return Webhook(conn_id, url, url.rsplit("/", 1)[-1])

    return register


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if anything under the user's home or Airflow home changed."""
    after = fingerprint(USER_STATE)
    keys = set(USER_STATE_BEFORE) | set(after)
    changed = sorted(k for k in keys if USER_STATE_BEFORE.get(k) != after.get(k))
    if changed:
        print(f"\nFAILED: the test suite changed the user's state: {changed[:10]}", file=sys.stderr)
        session.exitstatus = 1
    shutil.rmtree(SESSION_HOME, ignore_errors=True)
