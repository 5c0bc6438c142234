"""r2p land: a producer's frame lands as partitions a consumer ingests; a mismatch lands
nothing; the manifest follows its published JSON Schema."""

from __future__ import annotations

import datetime as dt
import json

import jsonschema
import pandas as pd
import pytest

from r2p.config.schema import PipelineConfig
from r2p.home import REPO_ROOT
from r2p.ingest.contract import partition_path
from r2p.ingest.offline import read_offline
from r2p.ingest.stage import ingest_source
from r2p.intervals import day_interval
from r2p.landing.land import LandingError, land_frame

DAY = dt.date(2026, 11, 16)


def _cfg(**entity_extra) -> PipelineConfig:
    ts = {"name": "seen_at", "source_name": "Seen At"}
    if entity_extra.pop("generated_ts", False):
        ts = {"name": "seen_at", "generate": "partition_date"}
    entity = {"name": "thing", "key": "thing_id", **entity_extra}
    return PipelineConfig.model_validate(
        {
            "pipeline": "landed",
            "dataset": {
                "name": "landed",
                "entity": entity,
                "sources": [
                    {
                        "name": "rows",
                        "kind": "snapshot",
                        "timestamp": ts,
                        "columns": [
                            {"name": "mean_radius", "dtype": "float64",
                             "source_name": "mean radius"},
                            {"name": "tier", "dtype": "category", "categories": ["a", "b"],
                             "nullable": True},
                        ],
                    }
                ],
                "label": {"source": "rows", "column": {"name": "y", "source_name": "Y"},
                          "classes": ["0", "1"]},
            },
        }
    )  # fmt: skip


def _frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "thing_id": range(n),
            "Seen At": [f"2026-11-{16 + i % 2}T0{i}:00:00Z" for i in range(n)],
            "mean radius": [1.5 * i for i in range(n)],
            "tier": ["a", "b", None, "a", "b", "a"][:n],
            "Y": [(i // 2) % 2 for i in range(n)],
        }
    )


def test_split_by_day_then_ingested(home) -> None:
    cfg = _cfg()
    written = land_frame(cfg, _frame())
    assert [(s.ds, s.rows, s.contract) for s in written] == [
        ("2026-11-16", 3, "manifest.json"),
        ("2026-11-17", 3, "manifest.json"),
    ]
    schema = json.loads((REPO_ROOT / "docs" / "landing-manifest.schema.json").read_text())
    manifest = json.loads((partition_path(cfg, "rows", DAY) / "manifest.json").read_text())
    jsonschema.validate(manifest, schema)
    out = ingest_source(cfg, "rows", day_interval(DAY), "r1")
    assert out["rows_accepted"] == 3 and out["rows_quarantined"] == 0
    labels = read_offline(cfg, "rows_labels", DAY).to_pandas()
    assert sorted(labels["y"]) == ["0", "0", "1"]
    again = land_frame(cfg, _frame())  # the same file again: the same bytes, reused by ingest
    assert [s.rows for s in again] == [3, 3]
    assert ingest_source(cfg, "rows", day_interval(DAY), "r2")["reused"]


def test_generated_key_and_date(home) -> None:
    cfg = _cfg(generate="row_number", generated_ts=True)
    frame = _frame().drop(columns=["thing_id", "Seen At"])
    with pytest.raises(LandingError, match="pass --ds"):
        land_frame(cfg, frame)
    (written,) = land_frame(cfg, frame, ds=DAY)
    assert written.rows == 6
    out = ingest_source(cfg, "rows", day_interval(DAY), "r1")
    assert out["rows_accepted"] == 6
    rows = read_offline(cfg, "rows", DAY).to_pandas()
    assert sorted(rows["thing_id"]) == list(range(6))


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        pytest.param(lambda f: f.drop(columns=["mean radius"]),
                     "mean_radius (source_name 'mean radius')", id="missing"),
        pytest.param(lambda f: f.assign(extra=1), "unexpected columns ['extra']", id="unknown"),
        pytest.param(lambda f: f.rename(columns={"mean radius": "mean_radius"}),
                     "'mean_radius'", id="renamed"),
        pytest.param(lambda f: f.assign(**{"Seen At": "yesterday"}), "not a timestamp",
                     id="bad-time"),
    ],
)  # fmt: skip
def test_mismatch_lands_nothing(home, edit, names: str) -> None:
    cfg = _cfg()
    with pytest.raises(LandingError) as err:
        land_frame(cfg, edit(_frame()))
    assert names in str(err.value) and "nothing was landed" in str(err.value)
    assert not partition_path(cfg, "rows", DAY).exists()


def test_source_must_be_a_landing_source(home, churn) -> None:
    with pytest.raises(LandingError, match="pass --source"):
        land_frame(churn, _frame())
    with pytest.raises(LandingError, match="not a landing source"):
        land_frame(churn, _frame(), source="nope")
