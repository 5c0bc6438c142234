"""The trainer's keys in ``models[]``: defaults that keep today's training, and config errors
that name the key for a bad schedule, weight decay or class weight."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from r2p.config import ConfigError, load_config, load_pipeline
from r2p.config.schema import ModelSpec

REPO = Path(__file__).resolve().parents[2]


def test_defaults_keep_todays_training() -> None:
    spec = ModelSpec(name="m", layers=[{"units": 4}])
    assert (spec.lr_schedule, spec.weight_decay, spec.class_weight) == ("none", 0.0, "none")
    assert (spec.epochs, spec.early_stopping.patience) == (10, 3)
    for name in ("churn", "fleet"):
        for model in load_pipeline(name).models:
            assert model.early_stopping.monitor == "val_loss" and model.epochs >= 8


def _load_with(tmp_path: Path, **model_keys) -> str:
    """The ConfigError text of churn.yaml with ``model_keys`` set on its first model."""
    data = yaml.safe_load((REPO / "configs" / "churn.yaml").read_text())
    data["models"][0].update(model_keys)
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        pytest.param(
            {"lr_schedule": "step"},
            "models[0].lr_schedule: Input should be 'none', 'cosine' or 'plateau'",
            id="unknown-schedule",
        ),
        pytest.param(
            {"weight_decay": -0.01},
            "models[0].weight_decay: Input should be greater than or equal to 0",
            id="negative-weight-decay",
        ),
        pytest.param(
            {"class_weight": {"churned": 3.0, "gone": 2.0}},
            "models[0].class_weight names ['gone'], not classes of dataset.label.classes "
            "['retained', 'churned']",
            id="unknown-class",
        ),
        pytest.param(
            {"class_weight": "inverse"},
            "models[0].class_weight: class_weight must be none, balanced or a mapping "
            "{class: weight}, got 'inverse'",
            id="unknown-class-weight-word",
        ),
        pytest.param(
            {"class_weight": {"churned": -1}},
            "models[0].class_weight: class_weight 'churned': -1 is not a positive finite number",
            id="negative-class-weight",
        ),
        pytest.param(
            {"lr_schedule": "plateau", "lr_plateau": {"patience": 5}},
            "lr_plateau.patience (5) must be below early_stopping.patience (5)",
            id="plateau-never-cuts",
        ),
        pytest.param(
            {"lr_schedule": "cosine", "min_learning_rate": 0.01},
            "min_learning_rate (0.01) must be below learning_rate (0.001)",
            id="floor-above-rate",
        ),
        pytest.param(
            {"lr_plateau": {"factor": 1.5}},
            "models[0].lr_plateau.factor: Input should be less than 1",
            id="plateau-factor-above-one",
        ),
    ],
)
def test_bad_trainer_keys_are_config_errors_naming_the_key(tmp_path, keys, message) -> None:
    text = _load_with(tmp_path, **keys)
    assert message in text, text


def test_known_classes_and_words_load(tmp_path) -> None:
    data = yaml.safe_load((REPO / "configs" / "churn.yaml").read_text())
    data["models"][0].update(
        lr_schedule="plateau", weight_decay=0.01, class_weight={"churned": 3, "retained": 1.0}
    )
    data["models"].append({**data["models"][0], "name": "other", "class_weight": "balanced"})
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = load_config(path)
    assert cfg.models[0].class_weight == {"churned": 3.0, "retained": 1.0}
    assert cfg.models[1].class_weight == "balanced"
    # the spec as saved with a model (spec.json) reads back the same
    assert ModelSpec.model_validate(cfg.models[0].model_dump()) == cfg.models[0]
