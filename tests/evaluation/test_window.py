"""The evaluation window under the random split: the rows neither model trained or tuned on,
recomputed from the champion's split policy on the frame as it is read back from Parquet."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from r2p.config import load_config
from r2p.evaluation import window
from r2p.training_set.split import SPLIT, split_rows

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _random_split_config(tmp_path: Path, seed: int = 0):
    raw = yaml.safe_load((CONFIGS / "churn.yaml").read_text())
    raw["training"]["split"] = {"method": "random", "seed": seed}
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


@pytest.fixture
def frame_as_read(tmp_path):
    """840 labelled rows split by the policy, written to Parquet and read back (timestamps
    come back as ms, as the evaluation sees the training set)."""
    cfg = _random_split_config(tmp_path)
    n = 840
    stamps = pa.array(
        np.datetime64("2026-12-06T00:00:00", "ms") + np.arange(n) * np.timedelta64(1, "s"),
        pa.timestamp("ms", tz="UTC"),
    )
    table = pa.table(
        {
            cfg.dataset.entity.key: pa.array(np.arange(1, n + 1), pa.int64()),
            cfg.dataset.label.timestamp: stamps,
            cfg.dataset.label.column: pa.array(["retained", "churned"] * (n // 2)),
        }
    )
    split, _ = split_rows(table, cfg)
    buffer = io.BytesIO()
    pq.write_table(split, buffer)
    return cfg, pq.read_table(io.BytesIO(buffer.getvalue())).to_pandas()


def _window(monkeypatch, cfg, frame, champion):
    from r2p.training_set import load

    monkeypatch.setattr(load, "load_training_set", lambda _: (frame, {"cutoff": "2026-12-07"}))
    candidate = {
        "dataset_uri": "file:///x",
        "dataset_hash": "h",
        "feature_service": "fs",
        "train_valid_end": "2026-12-06",
    }
    return window.evaluation_window(cfg, candidate, champion)


def test_same_policy_keeps_every_test_row(monkeypatch, frame_as_read) -> None:
    """A champion trained under the same random split tested on the same rows: the window
    is the candidate's whole test split (it was about a fifth of it: the recomputed split
    divided ms by 10**6 once more and landed elsewhere)."""
    cfg, frame = frame_as_read
    test_rows = int((frame[SPLIT] == "test").sum())
    assert 120 < test_rows < 220
    champion = {"split_policy": cfg.training.split.model_dump(), "train_valid_end": "x"}
    win = _window(monkeypatch, cfg, frame, champion)
    assert len(win.frame) == test_rows
    assert win.set_by == "champion's test rows"


def test_another_seed_keeps_only_rows_both_held_out(monkeypatch, tmp_path, frame_as_read) -> None:
    cfg, frame = frame_as_read
    other = _random_split_config(tmp_path, seed=5).training.split.model_dump()
    win = _window(monkeypatch, cfg, frame, {"split_policy": other, "train_valid_end": "x"})
    test_rows = int((frame[SPLIT] == "test").sum())
    assert 0 < len(win.frame) < test_rows / 2  # about a fifth of them


def test_first_run_is_the_candidates_test_split(monkeypatch, frame_as_read) -> None:
    cfg, frame = frame_as_read
    win = _window(monkeypatch, cfg, frame, None)
    assert len(win.frame) == int((frame[SPLIT] == "test").sum())
