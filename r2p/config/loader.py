"""Load pipeline YAML files into validated configs, with errors naming file, key and line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import ValidationError

from r2p.config.schema import PipelineConfig


class ConfigError(ValueError):
    """A pipeline config could not be loaded; the message names file, key and line."""


def configs_dir() -> Path:
    """The folder of pipeline YAML files: ``R2P_CONFIGS`` or the repository's ``configs/``."""
    from r2p.home import configs_dir as _configs_dir

    return _configs_dir()


def _line_of(node: yaml.Node | None, loc: tuple[str | int, ...]) -> tuple[int | None, int]:
    """The 1-based line of the deepest node along ``loc``, and how deep into ``loc`` it got."""
    line = node.start_mark.line + 1 if node is not None else None
    depth = 0
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == key]
            if not match:
                break
            key_node, node = match[0]
            line = key_node.start_mark.line + 1  # the key's line, where a reader looks
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                break
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
        depth += 1
    return line, depth


def _key_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _format_errors(path: Path, root: yaml.Node | None, err: ValidationError) -> str:
    lines = [f"{path}: invalid pipeline config ({err.error_count()} problem(s)):"]
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line, _ = _line_of(root, loc)
        where = f"{path}:{line}" if line else str(path)
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {_key_path(loc)}: {msg}")
    return "\n".join(lines)


def load_config(path: str | Path) -> PipelineConfig:
    """Read and validate one pipeline YAML; raise ConfigError naming file, key and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a pipeline config must be a mapping, got {type(data).__name__}")
    try:
        cfg = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, root, exc)) from None
    if cfg.pipeline != path.stem:
        line, _ = _line_of(root, ("pipeline",))
        raise ConfigError(
            f"{path}:{line}: pipeline: {cfg.pipeline!r} must match the file name {path.stem!r}"
        )
    return cfg


def config_path(name_or_path: str | Path) -> Path:
    """A pipeline name (``churn``) or a path to a YAML file, as a path (a folder that happens
    to carry the pipeline's name in the working directory is not a config file)."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        return candidate
    return configs_dir() / f"{name_or_path}.yaml"


def load_pipeline(name_or_path: str | Path) -> PipelineConfig:
    """Load a pipeline by name (from the configs folder) or by path."""
    return load_config(config_path(name_or_path))


def load_all(folder: str | Path | None = None) -> list[PipelineConfig]:
    """Every pipeline config in the folder, sorted by name; the first bad one raises."""
    folder = Path(folder) if folder else configs_dir()
    return [load_config(p) for p in sorted(folder.glob("*.yaml"))]


def load_each(
    folder: str | Path | None = None,
) -> tuple[list[PipelineConfig], dict[Path, ConfigError]]:
    """Every pipeline config in the folder, each loaded on its own: (the good ones sorted by
    name, {path: ConfigError} of the broken ones), so one bad file hides only itself."""
    folder = Path(folder) if folder else configs_dir()
    good: list[PipelineConfig] = []
    bad: dict[Path, ConfigError] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            good.append(load_config(path))
        except ConfigError as exc:
            bad[path] = exc
    return good, bad


class BrokenConfigs(ConfigError):
    """One or more pipeline configs did not load; the message has each one's errors."""

    def __init__(self, errors: dict[Path, ConfigError]) -> None:
        self.errors = dict(errors)
        names = ", ".join(p.name for p in self.errors)
        body = "\n".join(str(e) for e in self.errors.values())
        super().__init__(
            f"{len(self.errors)} broken pipeline config(s), their DAGs are not loaded "
            f"(the other pipelines' are): {names}\n{body}"
        )


def resolved_json(cfg: PipelineConfig) -> str:
    """The config with every default filled in, as stable JSON (saved with runs and models)."""
    return json.dumps(cfg.model_dump(mode="json"), indent=2, sort_keys=True)


def defaults_json() -> str:
    """Every section's defaults, as JSON: the single place defaults are shown from."""
    from r2p.config import schema

    sections = {
        "landing": schema.Landing(),
        "features": schema.Features(),
        "training": schema.Training(),
        "models[]": schema.ModelSpec(name="mlp", layers=[schema.Layer(units=32)]),
        "gates": schema.Gates(),
        "promotion": schema.Promotion(),
        "tasks": schema.Tasks(),
        "alerts": schema.Alerts(),
        "sample": schema.Sample(),
    }
    out = {k: v.model_dump(mode="json") for k, v in sections.items()}
    out["start_date"] = schema.PipelineConfig.model_fields["start_date"].default.isoformat()
    out["dataset.sources[].defaults"] = {
        k: f.default
        for k, f in schema.FeatureSource.model_fields.items()
        if f.default is not None and not f.is_required()
    }
    out["dataset.label.defaults"] = {
        k: f.default
        for k, f in schema.LabelSource.model_fields.items()
        if not f.is_required() and f.default is not None
    }
    out["models[]"].pop("name")
    return json.dumps(out, indent=2, sort_keys=True)
