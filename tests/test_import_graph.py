"""The project's import graph has no cycle: every import, at top level or inside a function
(where cycles usually hide), of every module under ``r2p/`` and ``plugins/``. Importing one's
own parent package is not an edge (Python runs it first anyway)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    out = {}
    for base in (REPO, REPO / "plugins"):
        top = "r2p" if base == REPO else None
        roots = [base / "r2p"] if top else [p for p in base.iterdir() if p.is_dir()]
        for root in roots:
            for p in root.rglob("*.py"):
                parts = p.relative_to(base).with_suffix("").parts
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                out[name] = p
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*head, base] if base else head)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(f"{target}."):
                found.add(target)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    modules = _modules()
    assert "r2p.serving.rest" in modules and len(modules) > 100
    graph = {m: _imports(m, p, set(modules)) for m, p in modules.items()}
    assert graph["r2p.serving.rest"] >= {"r2p.serving.http_errors", "r2p.serving.entities"}
    assert _cycles(graph) == []


def test_the_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# --- packages meet through public faces (issue 19) ---------------------------------------
# ``stage.py`` is the entry point the stage table calls: orchestration, the CLI and tests
# import it; another package imports what it needs from a library module instead.
STAGE_IMPORTERS = ("r2p.orchestration", "r2p.cli", "r2p.demo")


def _package(module: str) -> str:
    """``r2p.training.stage`` -> ``r2p.training``; a top-level module is its own package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "r2p" else parts[0]


def _crossings(name: str, path: Path, known: set[str]) -> tuple[list[str], list[str]]:
    """(stage modules of other packages, underscore names of other packages) ``name`` uses."""
    own = _package(name)
    stages, private = [], []
    aliases: dict[str, str] = {}  # local name -> r2p module of another package
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            mod = node.module
            for a in node.names:
                full = f"{mod}.{a.name}"
                target = full if full in known else mod
                if target not in known or _package(target) == own:
                    continue
                if target.endswith(".stage"):
                    stages.append(f"{target} (line {node.lineno})")
                if a.name.startswith("_"):
                    private.append(f"{mod}.{a.name} (line {node.lineno})")
                if full in known:
                    aliases[a.asname or a.name] = full
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in known and _package(a.name) != own:
                    if a.name.endswith(".stage"):
                        stages.append(f"{a.name} (line {node.lineno})")
                    aliases[a.asname or a.name] = a.name
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            private.append(f"{aliases[node.value.id]}.{node.attr} (line {node.lineno})")
    return stages, private


def test_packages_meet_through_public_faces() -> None:
    modules = _modules()
    known = set(modules)
    stage_users, private_users = {}, {}
    for name, path in modules.items():
        stages, private = _crossings(name, path, known)
        if stages and not name.startswith(STAGE_IMPORTERS):
            stage_users[name] = stages
        if private:
            private_users[name] = private
    assert stage_users == {}, "import a library module, not another package's stage.py"
    assert private_users == {}, "underscore names stay inside their package"


def test_the_face_check_finds_crossings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from r2p.training.stage import prototype_stage\n"
        "from r2p.training.tracking import _x\n"
        "from r2p.training import tracking\n"
        "tracking._y()\n"
    )
    known = {"r2p.training", "r2p.training.stage", "r2p.training.tracking"}
    stages, private = _crossings("r2p.evaluation.bad", bad, known)
    assert stages == ["r2p.training.stage (line 1)"]
    assert sorted(private) == [
        "r2p.training.tracking._x (line 2)",
        "r2p.training.tracking._y (line 4)",
    ]
    assert _crossings("r2p.training.bad", bad, known) == ([], [])
