"""Config validation: both shipped configs load; each kind of mistake names file, key, line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from r2p.config import ConfigError, load_all, load_config, load_pipeline, resolved_json
from r2p.config.loader import defaults_json

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_every_shipped_config_loads() -> None:
    cfgs = load_all(CONFIGS)
    assert [c.pipeline for c in cfgs] == sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    assert len(cfgs) >= 2


@pytest.mark.parametrize("name", ["churn", "fleet"])
def test_shipped_config_shape(name: str) -> None:
    cfg = load_pipeline(name)
    kinds = {s.kind for s in cfg.dataset.sources}
    assert kinds == {"snapshot", "events"}, "a profile-like and an event-level source"
    dtypes = {c.dtype for c in cfg.feature_columns}
    assert "category" in dtypes and dtypes & {"int64", "float64"}
    assert len(cfg.feature_columns) >= 10
    assert cfg.dataset.label.delay_days >= 1


def test_binary_and_multiclass_are_shipped() -> None:
    classes = {c.pipeline: len(c.dataset.label.classes) for c in load_all(CONFIGS)}
    assert classes["churn"] == 2 and classes["fleet"] == 3
    churn, fleet = load_pipeline("churn"), load_pipeline("fleet")
    assert {c.name for c in churn.feature_columns}.isdisjoint(c.name for c in fleet.feature_columns)
    assert fleet.source("vehicle_profile").cadence == "weekly:mon"


def test_resolved_config_has_every_default() -> None:
    text = resolved_json(load_pipeline("churn"))
    for key in ('"max_bad_row_fraction"', '"ttl_days"', '"min_eval_rows"', '"on_call"'):
        assert key in text
    assert '"poke_interval_seconds"' in defaults_json()


def _broken(tmp_path: Path, edit, name: str = "churn") -> Path:
    data = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    edit(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def _set(keys, value):
    def edit(data):
        node = data
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value

    return edit


MISTAKES = [
    pytest.param(
        _set(["landing", "max_bad_rows"], 0.1),
        "landing.max_bad_rows",
        "Extra inputs are not permitted",
        "max_bad_rows",
        id="typo-unknown-key",
    ),
    pytest.param(
        _set(["landing", "deadline_hours"], "soon"),
        "landing.deadline_hours",
        "valid number",
        "deadline_hours",
        id="wrong-type",
    ),
    pytest.param(
        _set(["landing", "max_bad_row_fraction"], 1.5),
        "landing.max_bad_row_fraction",
        "less than or equal to 1",
        "max_bad_row_fraction",
        id="out-of-range",
    ),
    pytest.param(
        lambda d: d["dataset"]["label"].pop("column"),
        "dataset.label.column",
        "Field required",
        "  label:",
        id="missing-required",
    ),
    pytest.param(
        _set(["dataset", "sources", 1, "cadence"], "hourly"),
        "dataset.sources[1].cadence",
        "cadence must be",
        "cadence: hourly",
        id="bad-cadence",
    ),
    pytest.param(
        _set(["dataset", "sources", 0, "columns", 0, "categories"], None),
        "dataset.sources[0].columns[0]",
        "needs a non-empty list",
        "name: plan",
        id="category-without-categories",
    ),
    pytest.param(
        _set(["dataset", "sources", 0, "columns", 2, "dtype"], "decimal"),
        "dataset.sources[0].columns[2].dtype",
        "Input should be",
        "dtype: decimal",
        id="unknown-dtype",
    ),
    pytest.param(
        _set(["dataset", "label", "positive_class"], "gone"),
        "dataset.label",
        "positive_class 'gone' is not one of the classes",
        "  label:",
        id="positive-class-unknown",
    ),
    pytest.param(
        _set(["dataset", "label", "classes"], ["yes"]),
        "dataset.label.classes",
        "at least 2 items",
        "classes:",
        id="one-class",
    ),
    pytest.param(
        _set(["dataset", "sources", 1, "columns", 0, "name"], "age"),
        "dataset",
        "feature 'age' is in both 'profile' and 'activity'",
        "dataset:",
        id="feature-in-two-sources",
    ),
    pytest.param(
        _set(["dataset", "sources", 0, "cadence"], "weekly:mon"),
        "dataset.sources[0]",
        "shorter than the weekly cadence",
        "name: profile",
        id="ttl-shorter-than-cadence",
    ),
    pytest.param(
        _set(["dataset", "sources", 0, "columns", 2, "min"], 10_000),
        "dataset.sources[0].columns[2]",
        "greater than max",
        "name: tenure_days",
        id="min-above-max",
    ),
    pytest.param(
        _set(["expectations", 0, "source"], "nowhere"),
        "(top level)",
        "expectations[0].source 'nowhere' is not a source",
        "pipeline: churn",
        id="expectation-unknown-source",
    ),
    pytest.param(
        _set(["models", 0, "layers"], []),
        "models[0].layers",
        "kind mlp needs at least one entry in layers",
        "layers: []",
        id="model-without-layers",
    ),
    pytest.param(
        _set(["dataset", "entity", "key"], "Customer ID"),
        "dataset.entity.key",
        "use customer_id here and give the landing file's header as source_name: 'Customer ID'",
        "key: Customer ID",
        id="bad-identifier",
    ),
]


@pytest.mark.parametrize(("edit", "key", "message", "line_text"), MISTAKES)
def test_mistake_names_file_key_and_line(tmp_path, edit, key, message, line_text) -> None:
    path = _broken(tmp_path, edit)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert str(path) in text
    assert f": {key}: " in text, text
    assert message in text, text
    assert f"{path}:{_line_of(path, line_text)}:" in text, text


def test_not_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "churn.yaml"
    path.write_text("pipeline: churn\ndataset:\n  name: [unclosed\n  entity: x\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: not valid YAML"):
        load_config(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"- a\n- b\n", "must be a mapping, got list", id="not-a-mapping"),
        pytest.param(b"", "must be a mapping, got NoneType", id="empty-file"),
        pytest.param(b"pipeline: \xff\xfe\n", "not UTF-8", id="not-utf8"),
    ],
)
def test_unreadable_configs(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "churn.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_file_and_name_mismatch(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
    renamed = tmp_path / "other.yaml"
    renamed.write_text((CONFIGS / "churn.yaml").read_text())
    with pytest.raises(ConfigError, match=r"other.yaml:\d+: pipeline: 'churn' must match"):
        load_config(renamed)


def test_a_new_dataset_is_a_yaml_only(tmp_path: Path) -> None:
    """A third pipeline with other names loads and generates data with no code change."""
    import datetime as dt

    from r2p.sample.generator import Generator

    def edit(d):
        d["pipeline"] = "energy"
        d["dataset"]["name"] = "energy"
        d["dataset"]["entity"] = {"name": "meter", "key": "meter_id", "dtype": "string"}
        d["dataset"]["label"]["classes"] = ["normal", "theft"]
        d["dataset"]["label"]["positive_class"] = "theft"

    raw = _broken(tmp_path, edit)
    path = raw.rename(tmp_path / "energy.yaml")
    cfg = load_config(path)
    frame = Generator.for_config(cfg, entities=50).training_frame(dt.date(2026, 11, 2))
    assert (
        set(frame["churned"]) <= {"normal", "theft"} and frame["meter_id"].str.startswith("M").all()
    )


def test_a_folder_named_like_the_pipeline_is_not_a_config(tmp_path, monkeypatch) -> None:
    """``r2p demo --pipeline churn`` run where a folder ``churn/`` exists still loads
    configs/churn.yaml (it was read as a path and failed with IsADirectoryError)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "churn").mkdir()
    assert load_pipeline("churn").pipeline == "churn"
