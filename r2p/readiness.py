"""``r2p ready``: is the whole stack able to run the pipelines? One line per item, each check
bounded by its own timeout (a hung dependency is a failure, never a hang).

Items: the pipeline configs, Airflow's metadata database, the scheduler's heartbeat (from
the api-server's ``/api/v2/monitor/health`` when ``R2P_AIRFLOW_API_URL`` (or Airflow's
``AIRFLOW__API__BASE_URL``, as ``r2p stack`` sets it) is set, else from
the database's job table), DAG import errors (the DAG folder parsed as the DAG processor
does, plus the database's import-error table), the Feast registry, MLflow, the storage root
(a probe written and deleted) and every Jandi route (connection defined, or the outbox
writable). Nothing Airflow or Feast does at parse time happens in this process: the DAG folder
is parsed in a subprocess.

``notify`` pages on-call once per problem (import errors: once per file and line) through the
dedup state under the storage root (or, when the storage root itself is the problem, a local
file under ``R2P_HOME``), and sends "resolved" when it passes again: for a cron job or a
systemd timer outside Airflow, and for the ``r2p_health`` DAG.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SCOPE = "r2p_readiness"
MARKER = "R2P-IMPORT-ERRORS "
TIMEOUTS = {
    "configs": 20.0,
    "database": 30.0,
    "scheduler": 30.0,
    "dag_imports": 180.0,
    "feast_registry": 60.0,
    "mlflow": 20.0,
    "storage": 20.0,
    "jandi": 20.0,
}


@dataclass
class Result:
    """One item: ok or not, why, and its problems as (dedup key, text) pairs."""

    item: str
    ok: bool
    detail: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    completed: bool = True  # False: the check timed out (its old problems stay open)


class NotReady(Exception):
    """A check's failure, with one problem per (key, text) pair."""

    def __init__(self, detail: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.problems = problems


def _airflow_conf() -> Any:
    from r2p.home import airflow_env

    for key, value in airflow_env().items():  # the embedded default's Airflow home
        os.environ.setdefault(key, value)
    from airflow.configuration import conf

    return conf


def _engine(url: str, timeout: float) -> Any:
    """A SQLAlchemy engine that gives up connecting (and, on PostgreSQL, each statement)
    after ``timeout`` seconds; a SQLite file is opened read-only and never created."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        path = Path(u.database or "")
        if not path.is_file():
            raise NotReady(f"no database file at {path} (run `airflow db migrate`)")
        ro = f"sqlite:///file:{path}?mode=ro&uri=true"
        return create_engine(ro, poolclass=NullPool, connect_args={"timeout": timeout})
    args: dict[str, Any] = {}
    if u.get_backend_name().startswith("postgres"):
        ms = int(timeout * 1000)
        args = {"connect_timeout": max(1, int(timeout)), "options": f"-c statement_timeout={ms}"}
    return create_engine(u, poolclass=NullPool, connect_args=args)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _query(url: str, sql: str, timeout: float) -> list[tuple]:
    from sqlalchemy import text

    engine = _engine(url, timeout)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql)).fetchall()]
    finally:
        engine.dispose()


CONFIG_ERRORS_DAG_FILE = "r2p_config_errors.py"  # the DAG file whose import error they are


def config_problem(path: Path, exc: Exception) -> tuple[str, str]:
    """(dedup key, text) of one broken config: one problem per file, its lines and keys."""
    try:
        name = os.path.relpath(path, path.parent.parent)
    except ValueError:
        name = str(path)
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    shown = lines[1:] if len(lines) > 1 else lines
    text = "; ".join(ln.replace(str(path), name) for ln in shown)
    return f"config:{name}", text[:600]


def check_configs(timeout: float) -> str:
    from r2p.config.loader import configs_dir, load_each

    cfgs, broken = load_each()
    if broken:
        problems = [config_problem(path, exc) for path, exc in broken.items()]
        good = f"; {len(cfgs)} other pipeline(s) load: {', '.join(c.pipeline for c in cfgs)}"
        raise NotReady("; ".join(text for _, text in problems) + good, problems)
    if not cfgs:
        return f"no pipeline configs in {configs_dir()}"
    return f"{len(cfgs)} pipeline(s): {', '.join(c.pipeline for c in cfgs)}"


def check_database(timeout: float) -> str:
    url = _airflow_conf().get("database", "sql_alchemy_conn")
    try:
        (version,) = _query(url, "SELECT version_num FROM alembic_version", timeout)[0]
    except NotReady:
        raise
    except Exception as exc:
        raise NotReady(f"{_safe(url)}: {type(exc).__name__}: {_first_line(exc)}") from None
    return f"{_safe(url)} (schema {version})"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def check_scheduler(timeout: float) -> str:
    conf = _airflow_conf()
    api = os.environ.get("R2P_AIRFLOW_API_URL") or os.environ.get("AIRFLOW__API__BASE_URL")
    if api:
        import requests

        health = requests.get(
            f"{api.rstrip('/')}/api/v2/monitor/health", timeout=(timeout / 2, timeout / 2)
        ).json()
        sched = health.get("scheduler") or {}
        if sched.get("status") != "healthy":
            raise NotReady(
                f"{api}: scheduler {sched.get('status')}, last heartbeat "
                f"{sched.get('latest_scheduler_heartbeat')}"
            )
        return f"{api}: healthy, last heartbeat {sched.get('latest_scheduler_heartbeat')}"
    url = conf.get("database", "sql_alchemy_conn")
    rows = _query(
        url, "SELECT MAX(latest_heartbeat) FROM job WHERE job_type = 'SchedulerJob'", timeout
    )
    latest = rows[0][0] if rows else None
    if latest is None:
        if url.startswith("sqlite"):
            return "no scheduler has run on this database (embedded default: `airflow dags test`)"
        raise NotReady("no scheduler has ever heartbeated into this database")
    if isinstance(latest, str):
        latest = dt.datetime.fromisoformat(latest)
    if latest.tzinfo is None:
        latest = latest.replace(tzinfo=dt.UTC)
    age = (dt.datetime.now(dt.UTC) - latest).total_seconds()
    limit = conf.getint("scheduler", "scheduler_health_check_threshold", fallback=30)
    if age > limit:
        raise NotReady(
            f"last heartbeat {age:.0f} s ago at {latest:%Y-%m-%d %H:%M:%S} UTC "
            f"(limit {limit} s): the scheduler is down"
        )
    return f"heartbeat {age:.0f} s ago"


PARSE = f"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print({MARKER!r} + json.dumps({{"errors": bag.import_errors, "dags": len(bag.dags)}}))
"""


def import_errors(timeout: float) -> tuple[dict[str, str], int, Path]:
    """``{file: traceback}`` of the DAG folder parsed as the DAG processor does (in a
    subprocess), plus the database's import errors of files not in this folder (other
    bundles; the table lags a fix until the DAG processor parses the file again)."""
    from r2p.home import airflow_env

    conf = _airflow_conf()
    folder = Path(conf.get("core", "dags_folder"))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", PARSE, str(folder)],
        env=airflow_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith(MARKER)), None)
    if line is None:
        raise NotReady(
            f"parsing {folder} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
        )
    parsed = json.loads(line[len(MARKER) :])
    errors = dict(parsed["errors"])
    left = max(1.0, timeout - (time.monotonic() - started))
    try:
        for name, trace in _query(
            conf.get("database", "sql_alchemy_conn"),
            "SELECT filename, stacktrace FROM import_error",
            left,
        ):
            path = name if os.path.isabs(name) else str(folder / name)
            if not os.path.exists(path):  # another bundle's file; a local one: parsed above
                errors.setdefault(path, trace)
    except Exception:  # the database check reports an unreachable database
        pass
    return errors, parsed["dags"], folder


def where(path: str, trace: str, folder: Path) -> tuple[str, int | None, str]:
    """(file relative to the DAG folder's parent, line, last line of the error)."""
    lines = [
        int(n)
        for f, n in re.findall(r'File "([^"]+)", line (\d+)', trace)
        if os.path.realpath(f) == os.path.realpath(path)
    ]
    last = next((x.strip() for x in reversed(trace.strip().splitlines()) if x.strip()), "?")
    try:
        name = os.path.relpath(path, folder.parent)
    except ValueError:
        name = path
    return name, (lines[-1] if lines else None), last[:300]


def check_dag_imports(timeout: float) -> str:
    errors, dags, folder = import_errors(timeout)
    if errors:
        problems = []
        for path, trace in sorted(errors.items()):
            name, line, last = where(path, trace, folder)
            problems.append((f"{name}:{line}", f"{name}:{line or '?'}: {last}"))
        raise NotReady("; ".join(text for _, text in problems), problems)
    return f"{dags} DAGs in {folder}, no import errors"


def check_feast_registry(timeout: float) -> str:
    import yaml

    from r2p.home import REPO_ROOT, home

    os.environ.setdefault("R2P_HOME", str(home()))
    raw = yaml.safe_load(
        os.path.expandvars((REPO_ROOT / "feature_repo" / "feature_store.yaml").read_text())
    )
    reg = raw.get("registry")
    path = reg.get("path") if isinstance(reg, dict) else reg
    file_registry = "://" not in str(path) or str(path).startswith("file://")
    if os.environ.get("R2P_FEAST_REGISTRY"):
        file_registry = False
    if file_registry and not Path(str(path).removeprefix("file://")).exists():
        return f"{path}: not created yet (the first data run applies the definitions)"
    from r2p.features.store import feature_store

    views = feature_store().list_feature_views(allow_cache=False)
    return f"{len(views)} feature view(s) in the {'file' if file_registry else 'SQL'} registry"


def check_mlflow(timeout: float) -> str:
    from r2p.training.tracking import tracking_uri

    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        import requests

        r = requests.get(f"{uri.rstrip('/')}/health", timeout=(timeout / 2, timeout / 2))
        if r.status_code != 200:
            raise NotReady(f"{uri}/health answered HTTP {r.status_code}")
        return f"{uri}: healthy"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return f"{uri}: not created yet (the first training run creates it)"
    if "://" not in uri or uri.startswith("file:"):
        path = Path(uri.removeprefix("file://"))
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise NotReady(f"{uri}: not readable and writable")
        return f"{uri}: file store"
    try:
        (count,) = _query(uri, "SELECT COUNT(*) FROM experiments", timeout)[0]
    except Exception as exc:
        raise NotReady(f"{_safe(uri)}: {type(exc).__name__}: {_first_line(exc)}") from None
    return f"{_safe(uri)}: {count} experiment(s)"


def check_storage(timeout: float) -> str:
    from r2p import storage

    probe = storage.root() / "_readiness" / f"probe-{socket.gethostname()}-{uuid.uuid4().hex}"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text("ok")
    try:
        if probe.read_text() != "ok":
            raise NotReady(f"{storage.uri_of(probe)}: read back different bytes")
    finally:
        probe.unlink()
    return f"{storage.uri_of(storage.root())}: writable"


def check_jandi(timeout: float) -> str:
    from r2p_jandi.hook import JandiHook
    from r2p_jandi.outbox import outbox_path

    from r2p.alerts.routes import conn_ids

    routes = sorted({c for a in _all_alerts() for c in conn_ids(a).values()})
    defined = [c for c in routes if JandiHook(c).is_configured()]
    missing = [c for c in routes if c not in defined]
    if missing:
        path = outbox_path()
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        return (
            f"{len(defined)} connection(s) defined; {', '.join(missing)} go to the outbox "
            f"{path} (writable)"
        )
    return f"connections defined: {', '.join(defined)}"


CHECKS: dict[str, Callable[[float], str]] = {
    "configs": check_configs,
    "database": check_database,
    "scheduler": check_scheduler,
    "dag_imports": check_dag_imports,
    "feast_registry": check_feast_registry,
    "mlflow": check_mlflow,
    "storage": check_storage,
    "jandi": check_jandi,
}


def _one(item: str, check: Callable[[float], str], timeout: float, out: dict) -> None:
    started = time.monotonic()
    try:
        out[item] = Result(item, True, check(timeout))
    except NotReady as exc:
        out[item] = Result(item, False, str(exc), exc.problems or [(item, str(exc))])
    except subprocess.TimeoutExpired:
        out[item] = Result(item, False, f"no answer within {timeout:g} s", completed=False)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {_first_line(exc)}"
        out[item] = Result(item, False, detail, [(item, detail)])
    out[item].seconds = round(time.monotonic() - started, 2)


def run_checks(items: list[str] | None = None, timeout: float | None = None) -> list[Result]:
    """Every check (or ``items``) at once, each in its own thread bounded by its timeout
    (``timeout`` for all, else the per-item default); a check that does not answer in time
    is a failure, and its thread is left behind (daemon)."""
    names = items or list(CHECKS)
    out: dict[str, Result] = {}
    threads = {}
    for name in names:
        bound = timeout or TIMEOUTS[name]
        t = threading.Thread(target=_one, args=(name, CHECKS[name], bound, out), daemon=True)
        t.start()
        threads[name] = (t, time.monotonic() + bound)
    results: list[Result] = []
    for name in names:
        t, deadline = threads[name]
        t.join(max(0.0, deadline - time.monotonic()))
        results.append(
            out.get(name)
            or Result(
                name,
                False,
                f"no answer within {timeout or TIMEOUTS[name]:g} s",
                [(name, "no answer in time")],
                timeout or TIMEOUTS[name],
                completed=False,
            )
        )
    return _once(results)


def _once(results: list[Result]) -> list[Result]:
    """A broken config is named once: by ``configs`` (one problem per config file), not also
    by ``dag_imports`` as the import error of the DAG file that reports broken configs."""
    by_item = {r.item: r for r in results}
    configs, imports = by_item.get("configs"), by_item.get("dag_imports")
    if configs is None or configs.ok or imports is None or imports.ok:
        return results
    if not any(key.startswith("config:") for key, _ in configs.problems):
        return results
    kept = [
        (key, text)
        for key, text in imports.problems
        if not key.split(":")[0].endswith(CONFIG_ERRORS_DAG_FILE)
    ]
    if len(kept) == len(imports.problems):
        return results
    imports.problems = kept
    if kept:
        imports.detail = "; ".join(text for _, text in kept)
    else:
        imports.ok = True
        imports.detail = "no import errors but the broken configs' (see configs)"
    return results


def _all_alerts() -> list[Any]:
    from r2p.config.loader import load_each
    from r2p.config.schema import Alerts

    try:
        return [c.alerts for c in load_each()[0]] or [Alerts()]
    except Exception:  # broken configs are the configs check's to report
        return [Alerts()]


def format_line(r: Result) -> str:
    """``ok    item            detail  (0.1 s)``."""
    return f"{'ok' if r.ok else 'FAIL':<5} {r.item:<15} {r.detail}  ({r.seconds:.1f} s)"


def report(results: list[Result]) -> dict[str, Any]:
    """The JSON form: ready or not, and every item."""
    return {
        "ready": all(r.ok for r in results),
        "failing": [r.item for r in results if not r.ok],
        "checks": [asdict(r) for r in results],
    }


def notify(results: list[Result], now: dt.datetime | None = None) -> dict[str, str]:
    """Page on-call once per open problem, resolve the ones that passed; what happened."""
    from r2p.alerts.readiness_alerts import alert_problems

    return alert_problems(results, _all_alerts()[0], now or dt.datetime.now(dt.UTC))


def add_parser(sub: Any) -> None:
    """The ``r2p ready`` subcommand."""
    p = sub.add_parser("ready", help="check the whole stack; exits non-zero naming what fails")
    p.add_argument(
        "--notify", action="store_true", help="page on-call once per problem; resolved after"
    )
    p.add_argument("--json", action="store_true", help="JSON instead of one line per item")
    p.add_argument(
        "--item", action="append", choices=list(CHECKS), help="only this check (repeatable)"
    )
    p.add_argument("--timeout", type=float, help="seconds per check (default: per item)")


def run(args: Any) -> int:
    """Run the checks, print them, notify when asked; 0 when every item is ok, else 1."""
    results = run_checks(args.item, args.timeout)
    notified = notify(results) if args.notify else None
    doc = report(results)
    if args.json:
        print(json.dumps({**doc, "notified": notified}, indent=2, default=str))
    else:
        for r in results:
            print(format_line(r))
        print("ready" if doc["ready"] else f"not ready: {', '.join(doc['failing'])}")
    return 0 if doc["ready"] else 1
