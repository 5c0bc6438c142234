"""A small client of Airflow's REST API (``/api/v2``), with a bearer token and timeouts."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class ApiError(RuntimeError):
    """A REST call failed (status and body in the message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _call(
    url: str, method: str, body: Any, headers: dict[str, str], timeout: float
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        raise ApiError(exc.code, f"{method} {url}: HTTP {exc.code}: {text[:500]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ApiError(0, f"{method} {url}: {exc}") from None


def health(base_url: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """``GET /api/v2/monitor/health`` (no auth), or None when the api-server does not answer."""
    try:
        return _call(f"{base_url}/api/v2/monitor/health", "GET", None, {}, timeout)[1]
    except ApiError:
        return None


def healthy(answer: dict[str, Any] | None, components: tuple[str, ...]) -> bool:
    """True when every named component of a health answer says ``healthy``."""
    if not answer:
        return False
    return all((answer.get(c) or {}).get("status") == "healthy" for c in components)


class AirflowApi:
    """``/api/v2`` with a token from ``POST /auth/token`` (renewed on 401)."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    def _login(self) -> str:
        url = f"{self.base_url}/auth/token"
        _, answer = _call(url, "POST", self._credentials, {}, self.timeout)
        return answer["access_token"]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One REST call on ``/api/v2{path}``; raises ApiError on any failure. A new token is
        fetched once on 401; idempotent calls (GET, PATCH) are retried on network errors and
        timeouts (a busy api-server), three tries in all."""
        tries = 3 if method in ("GET", "PATCH") else 1
        for attempt in range(tries + 1):
            try:
                self._token = self._token or self._login()
                headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
                url = f"{self.base_url}/api/v2{path}"
                return _call(url, method, body, headers, self.timeout)[1]
            except ApiError as exc:
                if exc.status == 401 and attempt == 0:
                    self._token = None
                    continue
                if exc.status != 0 or attempt >= tries - 1:
                    raise
                time.sleep(1.0 + attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def wait_dag(self, dag_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """The DAG once the dag-processor has parsed it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.call("GET", f"/dags/{dag_id}")
            except ApiError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(1.0)

    def unpause(self, dag_id: str) -> None:
        """``PATCH /dags/{id}`` with ``is_paused: false``."""
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, logical_date: str | None, conf: dict | None = None) -> str:
        """Create a DAG run (with a logical date, so it has a data interval); its run id."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        return self.call("POST", f"/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def trigger_partition(self, dag_id: str, ds: dt.date, conf: dict | None = None) -> str:
        """A run of a daily data DAG for partition ``ds``: interval [ds, ds+1) and logical date
        ds, the same as its scheduled and backfill runs (a bare logical date would be taken as
        the interval's end)."""
        start = dt.datetime.combine(ds, dt.time(), dt.UTC)
        body = {
            "logical_date": start.isoformat(),
            "data_interval_start": start.isoformat(),
            "data_interval_end": (start + dt.timedelta(days=1)).isoformat(),
            "conf": conf or {},
        }
        return self.call("POST", f"/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def runs(self, dag_id: str, **query: str) -> list[dict[str, Any]]:
        """The DAG's runs, oldest first (query: ``run_type``, ``state`` ...)."""
        params = "&".join(f"{k}={v}" for k, v in {"order_by": "id", **query}.items())
        return self.call("GET", f"/dags/{dag_id}/dagRuns?limit=100&{params}")["dag_runs"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Poll a run until it succeeds or fails; raises TimeoutError naming its state."""
        deadline, run = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            run = self.call("GET", f"/dags/{dag_id}/dagRuns/{_q(run_id)}")
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(1.0)
        raise TimeoutError(f"{dag_id} {run_id} still {run.get('state')} after {timeout} s")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """{task_id: state} of one run."""
        answer = self.call("GET", f"/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances?limit=100")
        return {ti["task_id"]: ti["state"] for ti in answer["task_instances"]}

    def set_pool(self, name: str, slots: int, description: str) -> None:
        """Create the pool, or set its slots if it exists."""
        body = {"name": name, "slots": slots, "description": description}
        try:
            self.call("POST", "/pools", body)
        except ApiError as exc:
            if exc.status != 409:
                raise
            self.call("PATCH", f"/pools/{name}", body)
