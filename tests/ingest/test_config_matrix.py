"""Any config that validates also ingests: configs generated across the schema's options, each
run through ingest on its own sample data; and a label beside the features stays in its row."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd
import pyarrow.compute as pc
import pytest

from r2p.config.schema import PipelineConfig
from r2p.ingest.offline import read_offline
from r2p.ingest.stage import ingest_source
from r2p.intervals import day_interval
from r2p.sample.landing import generate_days
from r2p.training_set.build import build_frame

DAY = dt.date(2026, 11, 16)


def _config(label: str, kind: str, fmt: str, contract: str) -> PipelineConfig:
    """A small pipeline with odd landing headers (source_name) on every kind of column."""
    ts = {"name": "seen_at", "source_name": "Seen At (UTC)"}
    columns = [
        {"name": "mean_radius", "dtype": "float64", "source_name": "mean radius", "min": -100},
        {"name": "od_ratio", "dtype": "float64", "source_name": "od280/od315", "nullable": True},
        {"name": "visits", "dtype": "int64", "min": 0, "sample": {"dist": "poisson"}},
        {"name": "tier", "dtype": "category", "categories": ["a", "b", "c"]},
        {"name": "active", "dtype": "bool", "source_name": "Active?"},
    ]
    src = {"name": "rows", "kind": kind, "timestamp": ts, "columns": columns}
    lab: dict = {"column": {"name": "outcome", "source_name": "Outcome"}, "classes": ["no", "yes"]}
    if label == "inline":
        lab["source"] = "rows"
    else:
        lab.update(name="outcomes", timestamp={"name": "moment", "source_name": "Moment"})
        if label == "separate_arrival":
            lab["arrival_timestamp"] = {"name": "landed_at", "source_name": "Landed At"}
        else:
            lab["delay_days"] = 0
    return PipelineConfig.model_validate(
        {
            "pipeline": "matrix",
            "dataset": {
                "name": "matrix",
                "entity": {"name": "thing", "key": "thing_id", "source_name": "Thing ID"},
                "sources": [src],
                "label": lab,
            },
            "landing": {"format": fmt, "contract": contract},
            "sample": {"entities": 30},
        }
    )


CASES = [
    pytest.param(*case, id="-".join(case))
    for case in itertools.product(
        ["inline", "separate_arrival", "separate_no_arrival"],
        ["snapshot", "events"],
        ["csv", "parquet"],
        ["manifest", "success_marker"],
    )
]


@pytest.mark.parametrize(("label", "kind", "fmt", "contract"), CASES)
def test_every_option_ingests(home, label: str, kind: str, fmt: str, contract: str) -> None:
    cfg = _config(label, kind, fmt, contract)
    assert PipelineConfig.model_validate(cfg.model_dump(mode="json")) == cfg  # a run's snapshot
    generate_days(cfg, DAY, 1)
    interval = day_interval(DAY)
    for source in cfg.source_names:
        out = ingest_source(cfg, source, interval, "r1")
        assert out["status"] == "ingested" and out["rows_quarantined"] == 0, out
    rows = read_offline(cfg, "rows", DAY)
    assert "outcome" not in rows.column_names  # the label never becomes a feature
    assert {"mean_radius", "od_ratio", "active", "seen_at", "thing_id"} <= set(rows.column_names)
    labels = read_offline(cfg, cfg.dataset.label.name, DAY)
    assert labels.num_rows > 0
    assert set(pc.unique(labels.column("outcome")).to_pylist()) <= {"no", "yes"}
    if label == "inline":
        assert cfg.source_names == ["rows"] and labels.num_rows == rows.num_rows


def test_inline_label_takes_its_own_rows_features(home) -> None:
    """Each training row has the features of the row its label came with: never a later
    row's, although the same entity has newer rows in the window."""
    cfg = _config("inline", "events", "csv", "manifest")
    generate_days(cfg, DAY, 3)
    for offset in range(3):
        day = DAY + dt.timedelta(days=offset)
        for source in cfg.source_names:
            ingest_source(cfg, source, day_interval(day), "r1")
    frame, _ = build_frame(cfg, DAY + dt.timedelta(days=3))
    joined = frame.to_pandas()
    landed = []
    for offset in range(3):
        landed.append(read_offline(cfg, "rows", DAY + dt.timedelta(days=offset)).to_pandas())
    landed = pd.concat(landed)
    assert joined["thing_id"].duplicated().any()  # entities with several rows over the days
    merged = joined.merge(landed, on=["thing_id", "seen_at"], suffixes=("", "_row"))
    assert len(merged) == len(joined)
    for col in ("mean_radius", "visits", "tier"):
        assert (merged[col] == merged[f"{col}_row"]).all(), col


def test_header_missing_from_file_names_both_names(home) -> None:
    from r2p.errors import BatchRejected

    cfg = _config("inline", "snapshot", "csv", "manifest")
    generate_days(cfg, DAY, 1)
    renamed = cfg.model_copy(deep=True)
    col = renamed.dataset.sources[0].columns[0]
    object.__setattr__(col, "source_name", "Mean Radius")  # the producer's header differs
    with pytest.raises(BatchRejected) as err:
        ingest_source(renamed, "rows", day_interval(DAY), "r1")
    text = str(err.value)
    assert "missing_columns" in text and "mean_radius (source_name 'Mean Radius')" in text
    assert "unknown_columns" in text and "'mean radius'" in text


@pytest.mark.parametrize("method", ["time", "random"])
def test_random_split_is_stable_and_an_empty_split_names_the_keys(home, method: str) -> None:
    from r2p.errors import DataError
    from r2p.training_set.split import SPLIT, require_splits, split_rows

    cfg = _config("inline", "snapshot", "csv", "manifest")
    split = cfg.training.split.model_copy(update={"method": method})
    cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"split": split})})
    generate_days(cfg, DAY, 1)
    ingest_source(cfg, "rows", day_interval(DAY), "r1")
    frame, _ = build_frame(cfg, DAY + dt.timedelta(days=1))
    if method == "time":  # one day of labels cannot hold three out-of-time splits
        with pytest.raises(DataError, match=r"training\.split\.method: random"):
            require_splits(frame, cfg)
        return
    require_splits(frame, cfg)
    again, _ = split_rows(frame.drop_columns([SPLIT]).slice(5), cfg)  # other rows around it
    first = frame.slice(5).column(SPLIT).to_pylist()
    assert again.column(SPLIT).to_pylist() == first  # a row's split does not move
