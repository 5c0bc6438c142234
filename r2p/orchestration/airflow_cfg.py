"""The embedded Airflow home's ``airflow.cfg``, kept pointing at this project and this home.

``r2p.home.airflow_env`` sets ``AIRFLOW__CORE__DAGS_FOLDER`` and friends for r2p's own
subprocesses only; a user who types ``AIRFLOW_HOME=.r2p/airflow airflow dags list`` gets what
``airflow.cfg`` says. So every time r2p runs Airflow on the embedded home (one under
``R2P_HOME``), :func:`write_airflow_cfg` refreshes that file:

- ``[core] dags_folder`` and ``plugins_folder``: the project's ``dags/`` and ``plugins/``;
- ``[core] load_examples = False``;
- every absolute path that names the home the file was written for (the SQLite
  ``sql_alchemy_conn``, the log folders, ...) is rewritten to the current home, so a home that
  was moved (or copied) keeps working; a missing ``sql_alchemy_conn`` becomes the home's
  ``airflow.db``.

The file Airflow generated (with its comments and its generated secrets: fernet key, JWT
secret) is edited in place, line by line; every other key is kept. The home it was written
for is recorded in ``[r2p] airflow_home``.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

SECTION = "r2p"
_HEADER = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^([A-Za-z0-9_.\-]+)\s*[=:]")


def is_managed(airflow_home: str | Path, r2p_home: str | Path) -> bool:
    """True when ``airflow_home`` is the embedded home r2p manages (inside ``R2P_HOME``)."""
    a = Path(airflow_home).expanduser().resolve()
    r = Path(r2p_home).expanduser().resolve()
    return a == r or r in a.parents


def _read(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(path, encoding="utf-8")
    return parser


def _old_homes(parser: configparser.ConfigParser) -> set[str]:
    """The homes this file was written for: recorded by r2p, or the SQLite database's folder."""
    old = set()
    recorded = parser.get(SECTION, "airflow_home", fallback="").strip()
    if recorded:
        old.add(recorded)
    conn = parser.get("database", "sql_alchemy_conn", fallback="").strip()
    if conn.startswith("sqlite:///") and conn.endswith("/airflow.db"):
        old.add(str(Path(conn.removeprefix("sqlite:///")).parent))
    return {h.rstrip("/") for h in old if h.startswith("/") and h != "/"}


def wanted(
    airflow_home: Path, repo_root: Path, parser: configparser.ConfigParser
) -> dict[tuple[str, str], str]:
    """{(section, key): value}: what the file must say for this home and project."""
    home = str(airflow_home)
    out: dict[tuple[str, str], str] = {}
    moved = sorted(_old_homes(parser) - {home}, key=len, reverse=True)
    if moved:
        pattern = re.compile("|".join(re.escape(h) for h in moved) + r"(?=/|$|[\s,;'\"])")
        for section in parser.sections():
            for key, value in parser.items(section, raw=True):
                if key in parser.defaults():
                    continue
                new = pattern.sub(home, value)
                if new != value:
                    out[(section, key)] = new
    out[("core", "dags_folder")] = str(repo_root / "dags")
    out[("core", "plugins_folder")] = str(repo_root / "plugins")
    out[("core", "load_examples")] = "False"
    if not parser.get("database", "sql_alchemy_conn", fallback="").strip():
        out[("database", "sql_alchemy_conn")] = f"sqlite:///{airflow_home / 'airflow.db'}"
    out[(SECTION, "airflow_home")] = home
    return out


def update_lines(text: str, values: dict[tuple[str, str], str]) -> str:
    """``text`` (an INI file) with ``values`` set: existing keys replaced where they are,
    missing keys added at the end of their section, missing sections appended; comments and
    every other line kept."""
    lines = text.splitlines()
    todo = dict(values)
    out: list[str] = []
    section: str | None = None

    def flush(name: str | None) -> None:
        missing = [(k, v) for (s, k), v in todo.items() if s == name]
        if not missing:
            return
        while out and not out[-1].strip():  # before the blank lines that end the section
            out.pop()
        for key, value in missing:
            out.append(f"{key} = {value}")
            del todo[(name, key)]
        out.append("")

    for line in lines:
        header = _HEADER.match(line)
        if header:
            flush(section)
            section = header.group(1).strip()
            out.append(line)
            continue
        key = _KEY.match(line)
        if key and section is not None and (section, key.group(1).lower()) in todo:
            name = key.group(1).lower()
            out.append(f"{name} = {todo.pop((section, name))}")
            continue
        out.append(line)
    flush(section)
    for name in dict.fromkeys(s for s, _ in todo):
        if out and out[-1].strip():
            out.append("")
        out.append(f"[{name}]")
        flush(name)
    return "\n".join(out).rstrip("\n") + "\n"


def _generate(env: dict[str, str]) -> None:
    """Let Airflow write its default ``airflow.cfg`` (with generated secrets) into the home."""
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run(
        [airflow, "config", "get-value", "core", "load_examples"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def write_airflow_cfg(
    env: dict[str, str] | None = None, *, generate: bool = True, repo_root: Path | None = None
) -> Path | None:
    """Refresh ``$AIRFLOW_HOME/airflow.cfg`` of the embedded home (see the module doc); the
    file's path, or None when ``AIRFLOW_HOME`` is not under ``R2P_HOME`` (a production home
    is never touched). With ``generate``, a missing file is first generated by Airflow."""
    from r2p.home import REPO_ROOT, airflow_env

    env = airflow_env(env if env is not None else dict(os.environ))
    airflow_home = Path(env["AIRFLOW_HOME"]).expanduser().resolve()
    if not is_managed(airflow_home, env["R2P_HOME"]):
        return None
    airflow_home.mkdir(parents=True, exist_ok=True)
    path = airflow_home / "airflow.cfg"
    if not path.exists() and generate:
        _generate(env)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    values = wanted(airflow_home, repo_root or REPO_ROOT, _read(path))
    new = update_lines(text, values)
    if new != text:
        tmp = path.with_name(f".airflow.cfg.{os.getpid()}.tmp")
        tmp.write_text(new, encoding="utf-8")
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o600)  # it holds secrets
        tmp.replace(path)
    return path
