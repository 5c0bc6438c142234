"""Ingest: each refused input is named, quarantined, and changes nothing downstream."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from r2p import storage
from r2p.errors import BatchRejected
from r2p.ingest.contract import partition_path
from r2p.ingest.offline import read_offline
from r2p.ingest.quarantine import read_quarantine
from r2p.ingest.schema import source_schema
from r2p.ingest.stage import ingest_source
from r2p.sample.landing import Defect, generate_days
from tests.ingest.helpers import DAY, INTERVAL, snapshot, with_landing


def _ingest_all(cfg, run_id="r1"):
    return {s: ingest_source(cfg, s, INTERVAL, run_id) for s in cfg.source_names}


def test_clean_day_commits_typed_partitions(churn) -> None:
    generate_days(churn, DAY, 1, entities=80)
    out = _ingest_all(churn)
    assert all(o["status"] == "ingested" and o["rows_quarantined"] == 0 for o in out.values())
    table = read_offline(churn, "activity", DAY)
    assert table.num_rows == out["activity"]["rows_accepted"] > 0
    types = {f.name: str(f.type) for f in table.schema}
    assert types["customer_id"] == "int64" and types["event_ts"] == "timestamp[ms, tz=UTC]"
    assert types["pages_viewed"] == "int64" and types["device"] == "string"
    labels = read_offline(churn, "churn_labels", DAY).to_pandas()
    assert (labels["arrived_ts"].dt.date == DAY).all()  # partitioned by arrival for labels
    df = table.to_pandas()
    assert df.equals(df.sort_values(["customer_id", "event_ts"]).reset_index(drop=True))


def test_rerun_is_idempotent_and_a_correction_lands(churn) -> None:
    generate_days(churn, DAY, 1, entities=80)
    first = _ingest_all(churn)
    before = snapshot(churn)
    again = _ingest_all(churn, "r2")
    assert snapshot(churn) == before  # same bytes: same committed version, no duplicates
    assert all(
        again[s]["reused"] and again[s]["offline_uri"] == first[s]["offline_uri"]
        for s in churn.source_names
    )
    generate_days(churn, DAY, 1, entities=90)  # the producer re-delivers a corrected day
    fixed = ingest_source(churn, "profile", INTERVAL, "r3")
    assert not fixed["reused"] and read_offline(churn, "profile", DAY).num_rows == 90


def test_parquet_and_success_marker(fleet) -> None:
    generate_days(fleet, DAY, 1, entities=40)
    out = _ingest_all(fleet)
    assert out["vehicle_profile"]["rows_accepted"] == 40
    tue = INTERVAL.__class__(
        INTERVAL.start + pd.Timedelta(days=1), INTERVAL.end + pd.Timedelta(days=1)
    )
    assert ingest_source(fleet, "vehicle_profile", tue, "r1")["status"] == "not_due"


BATCH_DEFECTS = [
    pytest.param(
        "missing_column", "profile", "missing_columns", "missing columns", id="missing-column"
    ),
    pytest.param(
        "unknown_column", "profile", "unknown_columns", "unexpected_col", id="unknown-column"
    ),
    pytest.param(
        "wrong_type",
        "activity",
        "wrong_type",
        "column 'session_minutes' (float64)",
        id="wrong-type",
    ),
    pytest.param("truncated_file", "activity", "truncated", "ends mid-row", id="truncated"),
    pytest.param("non_utf8", "profile", "not_utf8", "not UTF-8 at offset", id="non-utf8"),
    pytest.param(
        "manifest_rows_mismatch",
        "profile",
        "row_count_mismatch",
        "the manifest says",
        id="manifest-rows",
    ),
    pytest.param(
        "manifest_sha_mismatch",
        "churn_labels",
        "sha256_mismatch",
        "differs from the manifest",
        id="manifest-sha",
    ),
    pytest.param("empty_partition", "profile", "empty_partition", "no rows", id="empty"),
    pytest.param("no_contract", "activity", "no_contract", "never read", id="no-contract"),
]


@pytest.mark.parametrize(("kind", "source", "code", "text"), BATCH_DEFECTS)
def test_batch_defect_refuses_the_batch(churn, kind, source, code, text) -> None:
    generate_days(churn, DAY, 1, entities=80)
    _ingest_all(churn)  # a good version is current
    before = snapshot(churn)
    generate_days(churn, DAY, 1, entities=80, inject=[Defect(kind, source)])
    with pytest.raises(BatchRejected) as err:
        ingest_source(churn, source, INTERVAL, "r-bad")
    msg = str(err.value)
    assert f"batch churn/{source} ds=2026-11-16 refused" in msg and code in msg and text in msg
    assert "part-00000.csv" in msg or code == "no_contract"  # the file is named
    record = read_quarantine(source_schema(churn, source), DAY)
    assert record["kind"] == "batch_rejected" and record["run_id"] == "r-bad"
    assert [p["code"] for p in record["problems"]] == [code]
    assert record["landing_uri"].endswith(f"landing/churn/{source}/ds=2026-11-16")
    assert snapshot(churn) == before  # nothing downstream changed


@pytest.mark.parametrize(
    ("kind", "source", "reason"),
    [
        pytest.param("null_label", "churn_labels", "null_label", id="null-label"),
        pytest.param("unknown_label", "churn_labels", "unknown_label", id="unknown-label"),
        pytest.param("null_entity", "activity", "null_entity", id="null-entity"),
        pytest.param("duplicate_key", "activity", "duplicate_row", id="duplicate"),
        pytest.param("out_of_interval", "activity", "out_of_interval", id="out-of-interval"),
        pytest.param("non_finite", "activity", "non_finite", id="non-finite"),
    ],
)
def test_row_defects_above_the_allowed_fraction_refuse(churn, kind, source, reason) -> None:
    generate_days(churn, DAY, 1, entities=80, inject=[Defect(kind, source, fraction=0.02)])
    before = snapshot(churn)
    with pytest.raises(BatchRejected, match=rf"have defects, above the allowed 0\.00%.*{reason}"):
        ingest_source(churn, source, INTERVAL, "r1")
    record = read_quarantine(source_schema(churn, source), DAY)
    assert record["kind"] == "rows_rejected" and set(record["reasons"]) == {reason}
    rows = pd.read_parquet(
        io.BytesIO(
            (
                storage.current(f"quarantine/churn/{source}/ds=2026-11-16") / "rows.parquet"
            ).read_bytes()
        )
    )
    assert len(rows) == record["rows_bad"] >= 1 and set(rows["_reason"]) == {reason}
    assert snapshot(churn) == before


def test_row_defects_within_the_fraction_are_quarantined_and_the_rest_lands(churn) -> None:
    cfg = with_landing(churn, max_bad_row_fraction=0.05)
    generate_days(
        cfg, DAY, 1, entities=200, inject=[Defect("non_finite", "activity", fraction=0.02)]
    )
    out = ingest_source(cfg, "activity", INTERVAL, "r1")
    assert out["rows_quarantined"] >= 1 and out["reasons"] == {
        "non_finite": out["rows_quarantined"]
    }
    assert out["rows_accepted"] + out["rows_quarantined"] == out["rows_landed"]
    assert read_offline(cfg, "activity", DAY).num_rows == out["rows_accepted"]
    assert read_quarantine(source_schema(cfg, "activity"), DAY)["kind"] == "rows_quarantined"
    generate_days(cfg, DAY, 1, entities=200)  # the producer fixes the day: quarantine cleared
    ingest_source(cfg, "activity", INTERVAL, "r2")
    assert read_quarantine(source_schema(cfg, "activity"), DAY)["kind"] == "cleared"


def test_conflicting_duplicates_are_all_quarantined(churn) -> None:
    cfg = with_landing(churn, max_bad_row_fraction=0.5)
    generate_days(cfg, DAY, 1, entities=30)
    part = partition_path(cfg, "activity", DAY)
    df = pd.read_csv(io.BytesIO((part / "part-00000.csv").read_bytes()))
    clash = df.iloc[[0]].assign(pages_viewed=df["pages_viewed"].iloc[0] + 1)
    _rewrite(cfg, "activity", pd.concat([df, clash]))
    out = ingest_source(cfg, "activity", INTERVAL, "r1")
    assert out["reasons"] == {"duplicate_key": 2}  # neither copy can be trusted


def _rewrite(cfg, source, df: pd.DataFrame) -> None:
    """Replace a landing file by hand, with a manifest that matches it (a producer's bug)."""
    import hashlib

    part = partition_path(cfg, source, DAY)
    data = df.to_csv(index=False).encode()
    (part / "part-00000.csv").write_bytes(data)
    manifest = json.loads((part / "manifest.json").read_text())
    manifest["files"][0].update(
        rows=len(df), sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)
    )
    (part / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        pytest.param(
            lambda part: (part / "manifest.json").write_text("{not json"),
            "bad_manifest",
            id="bad-manifest",
        ),
        pytest.param(
            lambda part: (part / "extra.csv").write_text("a\n1\n"),
            "unlisted_file",
            id="unlisted-file",
        ),
        pytest.param(
            lambda part: (part / "part-00000.csv").unlink(), "missing_file", id="missing-file"
        ),
    ],
)
def test_manifest_and_files_must_agree(churn, mutate, code) -> None:
    generate_days(churn, DAY, 1, entities=20)
    mutate(partition_path(churn, "profile", DAY))
    with pytest.raises(BatchRejected, match=code):
        ingest_source(churn, "profile", INTERVAL, "r1")


def test_parquet_batch_defects(fleet) -> None:
    generate_days(fleet, DAY, 1, entities=30, inject=[Defect("truncated_file", "telemetry")])
    with pytest.raises(
        BatchRejected, match=r"part-00000\.parquet: unparsable: truncated or corrupt"
    ):
        ingest_source(fleet, "telemetry", INTERVAL, "r1")
    generate_days(fleet, DAY, 1, entities=30, inject=[Defect("wrong_type", "telemetry")])
    with pytest.raises(BatchRejected, match="wrong_type: column 'engine_temp_c'"):
        ingest_source(fleet, "telemetry", INTERVAL, "r1")


def test_row_defect_reasons_on_parquet_within_fraction(fleet) -> None:
    generate_days(
        fleet, DAY, 1, entities=300, inject=[Defect("null_entity", "telemetry", fraction=0.005)]
    )
    out = ingest_source(fleet, "telemetry", INTERVAL, "r1")  # fleet allows 1%
    assert (
        out["reasons"] == {"null_entity": out["rows_quarantined"]} and out["rows_quarantined"] >= 1
    )
