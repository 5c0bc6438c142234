"""Training sets: exact point-in-time joins (proved against Feast), delay, TTL, splits."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from r2p import storage
from r2p.errors import DataError
from r2p.features.definitions import service_name
from r2p.features.store import apply_definitions, feature_store, publish
from r2p.ingest.offline import DATA, offline_name
from r2p.ingest.schema import source_schema
from r2p.ingest.stage import _parquet_bytes
from r2p.training_set.build import build_frame, build_training_set
from r2p.training_set.compare import rows
from tests.features.helpers import load_days

START = dt.date(2026, 11, 2)
T = pd.Timestamp("2026-11-10T12:00:00Z")


def _norm(df: pd.DataFrame, key: str, ts: str, feats: list[str]) -> pd.DataFrame:
    return rows(df, key, ts, feats)


def _reference(cfg, frame: pd.DataFrame, offline_store: str | None) -> pd.DataFrame:
    store = feature_store(offline_store)
    lab = cfg.dataset.label
    entity_df = frame[[cfg.dataset.entity.key, lab.timestamp]].rename(
        columns={lab.timestamp: "event_timestamp"}
    )
    service = store.get_feature_service(service_name(cfg, cfg.models[0].name))
    return store.get_historical_features(entity_df=entity_df, features=service).to_df()


@pytest.mark.parametrize("name", ["churn", "fleet"])
def test_identical_to_feast_on_generated_days(name, request) -> None:
    cfg = request.getfixturevalue(name)
    load_days(cfg, START, 10, entities=80)
    table, _ = build_frame(cfg, START + dt.timedelta(days=10))
    ours = table.to_pandas()
    key, ts = cfg.dataset.entity.key, cfg.dataset.label.timestamp
    feats = [c.name for c in cfg.feature_columns]
    expected = _norm(ours, key, ts, feats)
    duck = _norm(_reference(cfg, ours, None), key, "event_timestamp", feats)
    pd.testing.assert_frame_equal(expected, duck)  # every row, every value
    dask = _norm(_reference(cfg, ours, "file"), key, "event_timestamp", feats)
    # Feast's file store drops an entity row when all its candidate rows for a view are
    # expired or too new; on every row it keeps, the values are identical.
    merged = expected.merge(
        dask, on=[key, "event_timestamp"], how="left", indicator=True, suffixes=("", "_ref")
    )
    kept = merged[merged["_merge"] == "both"]
    assert len(kept) == len(dask) > 0
    for f in feats:
        assert kept[f].tolist() == kept[f + "_ref"].tolist(), f
    extra = merged[merged["_merge"] == "left_only"]
    assert extra[feats].isna().any(axis=1).all()


def _commit_offline(cfg, source: str, rows: list[dict]) -> None:
    schema = source_schema(cfg, source)
    table = pa.Table.from_pylist(rows, schema=schema.arrow_schema())
    for ds in sorted({r[schema.partition_ts].date() for r in rows}):
        part = table.filter(pa.array([r[schema.partition_ts].date() == ds for r in rows]))
        data = _parquet_bytes(part)
        storage.commit(offline_name(schema, ds), lambda p, d=data: (p / DATA).write_bytes(d))
        publish(cfg, source, ds)


def _profile(cid: int, ts: pd.Timestamp, age: int) -> dict:
    return {
        "customer_id": cid,
        "snapshot_ts": ts.to_pydatetime(),
        "plan": "basic",
        "region": "north",
        "tenure_days": 10,
        "monthly_fee": 9.5,
        "age": age,
        "autopay": True,
        "support_tickets_30d": 0,
    }


def _activity(cid: int, ts: pd.Timestamp, pages: int) -> dict:
    return {
        "customer_id": cid,
        "event_ts": ts.to_pydatetime(),
        "session_minutes": 1.5,
        "pages_viewed": pages,
        "device": "tv",
        "channel": "app",
        "purchase_amount": 0.0,
        "error_count": 0,
    }


def test_point_in_time_ttl_and_ties_match_feast(churn) -> None:
    h, d = pd.Timedelta(hours=1), pd.Timedelta(days=1)
    _commit_offline(
        churn,
        "profile",
        [
            _profile(1, T - d, 31),
            _profile(1, T + h, 99),  # a later update must not leak
            _profile(2, T - 3 * d, 32),  # expired (ttl 2 days): null
            _profile(3, T - h, 33),
            _profile(5, T + h, 35),  # only too new: null
        ],
    )
    _commit_offline(
        churn,
        "activity",
        [
            _activity(1, T, 11),
            _activity(1, T + h, 99),  # stamped exactly at T: joins
            _activity(2, T - 2 * h, 12),
            _activity(3, T - h, 13),
            _activity(3, T - h, 13),  # duplicate timestamp, same row
            _activity(5, T + 2 * h, 99),
        ],
    )
    labels = [
        {
            "customer_id": c,
            "observed_ts": T.to_pydatetime(),
            "arrived_ts": (T + 2 * d).to_pydatetime(),
            "churned": "retained",
        }
        for c in (1, 2, 3, 4, 5)
    ]
    _commit_offline(churn, "churn_labels", labels)
    apply_definitions(feature_store(), churn)
    table, _ = build_frame(churn, (T + 3 * d).date(), drop_featureless=False)
    got = table.to_pandas().set_index("customer_id")
    assert got.loc[1, "age"] == 31 and got.loc[1, "pages_viewed"] == 11
    assert pd.isna(got.loc[2, "age"]) and got.loc[2, "pages_viewed"] == 12
    assert got.loc[3, "age"] == 33 and got.loc[3, "pages_viewed"] == 13
    assert got.loc[4, ["age", "pages_viewed"]].isna().all()
    assert got.loc[5, ["age", "pages_viewed"]].isna().all()
    feats = [c.name for c in churn.feature_columns]
    ours = _norm(table.to_pandas(), "customer_id", "observed_ts", feats)
    duck = _norm(
        _reference(churn, table.to_pandas(), None), "customer_id", "event_timestamp", feats
    )
    pd.testing.assert_frame_equal(ours, duck)
    dask = _norm(
        _reference(churn, table.to_pandas(), "file"), "customer_id", "event_timestamp", feats
    )
    pd.testing.assert_frame_equal(
        ours[ours["customer_id"].isin([1, 3, 4])].reset_index(drop=True), dask
    )
    kept, lineage = build_frame(churn, (T + 3 * d).date())  # by default rows without features go
    assert sorted(kept.column("customer_id").to_pylist()) == [1, 2, 3]
    assert lineage["dropped_without_features"] == 2


def test_label_delay_only_labels_known_before_the_cutoff(churn) -> None:
    load_days(churn, START, 8, entities=50, materialize=False)
    cutoff = START + dt.timedelta(days=6)
    table, lineage = build_frame(churn, cutoff)
    arrived = table.column("arrived_ts").to_pandas()
    assert (arrived < pd.Timestamp(cutoff, tz="UTC")).all()
    assert max(lineage["labels"]) == (cutoff - dt.timedelta(days=1)).isoformat()
    observed = table.column("observed_ts").to_pandas()
    assert (observed <= arrived - pd.Timedelta(days=churn.dataset.label.delay_days)).all()


def test_out_of_time_split_without_overlap(churn) -> None:
    load_days(churn, START, 12, entities=60, materialize=False)
    df = build_frame(churn, START + dt.timedelta(days=12))[0].to_pandas()
    days = df.groupby("split")["observed_ts"].agg(["min", "max"])
    assert days.loc["train", "max"] < days.loc["valid", "min"]
    assert days.loc["valid", "max"] < days.loc["test", "min"]
    assert df[df.split == "test"]["observed_ts"].dt.date.nunique() == 3  # test_days: 3


def test_entity_grouping_keeps_each_entity_in_one_split(fleet) -> None:
    load_days(fleet, START, 12, entities=60, materialize=False)
    df = build_frame(fleet, START + dt.timedelta(days=12))[0].to_pandas()
    per_entity = df.groupby("vehicle_id")["split"].nunique()
    assert (per_entity == 1).all() and set(df["split"]) == {"train", "valid", "test"}


def test_manifest_and_reuse(churn) -> None:
    load_days(churn, START, 9, entities=50, materialize=False)
    cutoff = START + dt.timedelta(days=9)
    out = build_training_set(churn, cutoff, "r1")
    m = out["manifest"]
    assert m["feature_service"] == "churn_mlp_v1" and m["feature_service_version"] == 1
    assert sum(s["rows"] for s in m["splits"].values()) == m["rows"] > 0
    assert m["features"] == [c.name for c in churn.feature_columns]
    assert len(m["content_hash"]) == 64 and m["lineage"]["labels"]
    stored = storage.read_json(storage.path(out["manifest_uri"]))
    assert stored["content_hash"] == m["content_hash"] and stored["run_id"] == "r1"
    again = build_training_set(churn, cutoff, "r2")
    assert again["reused"] and again["uri"] == out["uri"]


def test_no_labels_in_the_window_is_a_clear_error(churn) -> None:
    with pytest.raises(DataError, match="no labels arrived in the 28-day window before"):
        build_frame(churn, START)
