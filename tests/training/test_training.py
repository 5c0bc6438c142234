"""One spec, two frameworks: identical architectures, eager check, traced once, determinism,
caching by spec + data + code, unseen categories, MLflow reuse; binary and multiclass."""

from __future__ import annotations

import numpy as np
import pytest

from r2p.config.schema import Layer
from r2p.training.eager_check import ModelSpecError, eager_check
from r2p.training.models import build_tf, build_torch, copy_torch_to_tf

BOTH = pytest.mark.parametrize("built", ["churn", "fleet"], indirect=True)
CHURN = pytest.mark.parametrize("built", ["churn"], indirect=True)


def _variant(spec, norm: str, activation: str):
    layers = [Layer(units=16, activation=activation, norm=norm, dropout=0.1), Layer(units=8)]
    return spec.model_copy(update={"layers": layers})


@BOTH
@pytest.mark.parametrize(
    ("norm", "activation"), [("none", "relu"), ("batch", "tanh"), ("layer", "gelu")]
)
def test_copied_weights_give_equal_logits(built, norm, activation) -> None:
    import torch

    cfg, _, data, _ = built
    spec = _variant(cfg.models[0], norm, activation)
    th = build_torch(spec, data.pre.input_dim, data.n_classes)
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in th:
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    tf_model = build_tf(spec, data.pre.input_dim, data.n_classes)
    copy_torch_to_tf(th, tf_model)
    th.eval()
    x = data.x["test"][:64]
    with torch.no_grad():
        expected = th(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(tf_model(x, training=False).numpy(), expected, atol=1e-5)


@BOTH
def test_eager_check_passes_and_catches_a_wrong_output_size(built) -> None:
    cfg, _, data, _ = built
    spec = cfg.models[0]
    seen = eager_check(spec, data)
    assert seen["tensorflow"]["logits"] == [32, data.n_classes] == seen["pytorch"]["logits"]
    wrong = build_tf(spec, data.pre.input_dim, data.n_classes + 1)
    with pytest.raises(ModelSpecError) as err:
        eager_check(spec, data, tf_model=wrong)
    msg = str(err.value)
    assert f"expected logits float32[32, {data.n_classes}]" in msg
    assert f"tensorflow logits float32[32, {data.n_classes + 1}]" in msg and "pytorch" in msg


@CHURN
def test_graph_trainer_traces_once_and_is_deterministic(built) -> None:
    from r2p.training.tf_trainer import GraphTrainer, RetraceError, train_tf

    cfg, _, data, _ = built
    spec = cfg.models[0].model_copy(update={"epochs": 2, "batch_size": 97})  # ragged last batch
    first, second = train_tf(spec, data), train_tf(spec, data)
    assert first.traces == {"train_step": 1, "eval_step": 1}
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    trainer = GraphTrainer(spec, data.pre.input_dim, data.n_classes)
    trainer.traces["train_step"] = 2
    with pytest.raises(RetraceError, match="retraced"):
        trainer.check_traces()


@CHURN
def test_torch_prototype_is_deterministic(built) -> None:
    from r2p.training.torch_trainer import train_torch

    cfg, _, data, _ = built
    spec = cfg.models[0].model_copy(update={"epochs": 2})
    a, b = train_torch(spec, data), train_torch(spec, data)
    for (ka, va), (kb, vb) in zip(
        a.model.state_dict().items(), b.model.state_dict().items(), strict=True
    ):
        assert ka == kb and np.array_equal(va.numpy(), vb.numpy())


@BOTH
def test_tf_preprocessing_on_raw_values_equals_numpy_and_handles_unseen(built) -> None:
    from r2p.training import preprocess
    from r2p.training.tf_preprocess import encode_tf, raw_inputs
    from r2p.training_set.load import load_training_set

    _, dataset, data, _ = built
    frame, _ = load_training_set(dataset)
    frame = frame.head(50).copy()
    cat = data.pre.categorical[0]
    frame.loc[frame.index[0], cat.name] = "never-seen-before"
    frame.loc[frame.index[1], cat.name] = None
    num = data.pre.numeric[0]
    frame[num.name] = frame[num.name].astype("float64")
    frame.loc[frame.index[2], num.name] = np.nan
    expected = preprocess.encode(data.pre, frame)
    got = encode_tf(data.pre, raw_inputs(data.pre, frame)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    offset = len(data.pre.numeric)  # the first categorical block starts after the numbers
    assert got[0, offset + cat.width - 1] == 1.0 and got[1, offset + cat.width - 1] == 1.0


@BOTH
def test_stages_cache_by_spec_data_and_code(built, monkeypatch, capsys) -> None:
    from r2p.training import stage
    from r2p.training.tracking import compare

    cfg, dataset, _, _ = built
    spec = cfg.models[0].model_copy(update={"epochs": 2})
    cfg = cfg.model_copy(update={"models": [spec]})
    proto = stage.prototype_stage(cfg, dataset, "r1")
    model = stage.retrain_stage(cfg, dataset, "r1", proto)
    assert not proto["reused"] and not model["reused"]
    assert model["traces"] == {"train_step": 1, "eval_step": 1}
    assert set(model["metrics"]) == {"valid", "test"}
    again = stage.retrain_stage(cfg, dataset, "r2", stage.prototype_stage(cfg, dataset, "r2"))
    assert again["reused"] and again["mlflow_run_id"] == model["mlflow_run_id"]
    runs = [r for r in compare(cfg.pipeline, last=50) if r["run_id"] == model["mlflow_run_id"]]
    assert len(runs) == 1 and "tf_test_log_loss" in runs[0]["metrics"]
    assert "torch_val_log_loss" in runs[0]["metrics"]
    from r2p.cli import main

    assert main(["runs", "compare", cfg.pipeline]) == 0
    shown = capsys.readouterr().out
    assert model["mlflow_run_id"][:12] in shown and "tf_test_log_loss" in shown
    monkeypatch.setattr(stage, "code_version", lambda: "src-changed")
    changed = stage.prototype_stage(cfg, dataset, "r3")
    assert not changed["reused"] and changed["key"] != proto["key"]


def test_a_category_never_seen_in_training_is_all_other_slot() -> None:
    """An empty vocabulary (the column was null all through the train split) still encodes."""
    import pandas as pd

    from r2p.training import preprocess
    from r2p.training.tf_preprocess import encode_tf, raw_inputs

    pre = preprocess.Preprocessing(
        (preprocess.Numeric("x", 1.0, 2.0),), (preprocess.Categorical("c", ()),), ("a", "b")
    )
    frame = pd.DataFrame({"x": [3.0, None, 1e12], "c": ["seen-now", None, "other"]})
    got = encode_tf(pre, raw_inputs(pre, frame)).numpy()
    np.testing.assert_allclose(got, preprocess.encode(pre, frame))
    assert got[:, 1].tolist() == [1.0, 1.0, 1.0] and np.isfinite(got).all()


def test_the_preprocessing_graph_does_not_grow_with_the_feature_count() -> None:
    """One vectorised op chain for all numbers and one for all categories: a batch-1 run costs
    per op, so 40 features must not cost ten times what 4 do."""
    import tensorflow as tf

    from r2p.training import preprocess
    from r2p.training.tf_preprocess import encode_tf

    def ops(n: int) -> int:
        pre = preprocess.Preprocessing(
            tuple(preprocess.Numeric(f"x{i}", 1.0, 2.0) for i in range(n)),
            tuple(preprocess.Categorical(f"c{i}", ("a", "b")[: i % 3]) for i in range(n)),
            ("no", "yes"),
        )
        graph = tf.Graph()
        with graph.as_default():
            inputs = {f"x{i}": tf.compat.v1.placeholder(tf.float64, [None]) for i in range(n)}
            inputs |= {f"c{i}": tf.compat.v1.placeholder(tf.string, [None]) for i in range(n)}
            encode_tf(pre, inputs)
        return len([op for op in graph.get_operations() if op.type != "Placeholder"])

    assert ops(20) == ops(2) < 40
