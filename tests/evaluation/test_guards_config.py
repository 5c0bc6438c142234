"""``gates.guard`` and ``gates.max_regression`` are validated on load: an unknown metric is an
error naming the key and the known metrics; an allowance for a metric no guard watches, or a
negative one, is refused. The defaults are written once, in the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from r2p.config import ConfigError, load_config
from r2p.config.schema import METRICS, Gates

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _with_gates(tmp_path: Path, gates: dict) -> Path:
    data = yaml.safe_load((CONFIGS / "churn.yaml").read_text())
    data.setdefault("gates", {}).update(gates)
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_default_guards() -> None:
    gates = Gates()
    assert gates.guard == ["log_loss", "accuracy", "f1"] and gates.max_regression == {}
    assert gates.degenerate_share == 0.95 and "balanced_accuracy" in METRICS


@pytest.mark.parametrize(
    ("gates", "key", "message"),
    [
        pytest.param({"guard": ["log_loss", "auc"]}, "gates.guard[1]",
                     f"unknown metric 'auc'; known: {list(METRICS)}", id="unknown-guard"),
        pytest.param({"max_regression": {"acc": 0.01}}, "gates.max_regression.acc",
                     f"unknown metric 'acc'; known: {list(METRICS)}", id="unknown-allowance"),
        pytest.param({"max_regression": {"roc_auc": 0.01}}, "gates",
                     "gates.max_regression names ['roc_auc'], which gates.guard", id="unguarded"),
        pytest.param({"max_regression": {"f1": -0.1}}, "gates.max_regression.f1",
                     "greater than or equal to 0", id="negative-allowance"),
        pytest.param({"guard": ["f1", "f1"]}, "gates", "lists ['f1'] more than once",
                     id="guard-twice"),
        pytest.param({"degenerate_share": 0.4}, "gates.degenerate_share", "greater than 0.5",
                     id="degenerate-share"),
    ],
)  # fmt: skip
def test_bad_guards_name_the_key(tmp_path: Path, gates: dict, key: str, message: str) -> None:
    path = _with_gates(tmp_path, gates)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert f": {key}" in text and message in text, text


def test_guards_and_allowances_load(tmp_path: Path) -> None:
    gates = {"guard": ["balanced_accuracy", "log_loss"], "max_regression": {"log_loss": 0.01}}
    cfg = load_config(_with_gates(tmp_path, gates))
    assert cfg.gates.guard == ["balanced_accuracy", "log_loss"]
    assert cfg.gates.max_regression == {"log_loss": 0.01}
