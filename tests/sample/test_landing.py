"""Landing partitions: files then the contract, last; reruns replace; defects as asked."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from airflow.sdk import ObjectStoragePath

from r2p.config import load_pipeline
from r2p.sample import defects
from r2p.sample.landing import Defect, generate_days, partition_path

DAY = dt.date(2026, 11, 16)  # a Monday: fleet's weekly profile is due


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_manifest_describes_the_files_exactly(home: Path) -> None:
    cfg = load_pipeline("churn")
    written = generate_days(cfg, DAY, 2, entities=120)
    assert {(s.source, s.ds) for s in written} == {
        (src, d)
        for src in ("profile", "activity", "churn_labels")
        for d in ("2026-11-16", "2026-11-17")
    }
    part = partition_path(cfg, "activity", DAY)
    manifest = json.loads((part / "manifest.json").read_text())
    assert manifest["source"] == "activity" and manifest["ds"] == "2026-11-16"
    total = 0
    for entry in manifest["files"]:
        data = (part / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
        rows = len(pd.read_csv(io.BytesIO(data)))
        assert rows == entry["rows"]
        total += rows
    assert total == manifest["rows"] > 0


def test_fleet_uses_parquet_and_success_marker(home: Path) -> None:
    cfg = load_pipeline("fleet")
    written = generate_days(cfg, DAY, 2, entities=40)
    assert {s.contract for s in written} == {"_SUCCESS"}
    assert sorted({s.source for s in written if s.ds == "2026-11-17"}) == [
        "inspections",
        "telemetry",
    ]
    part = partition_path(cfg, "telemetry", DAY)
    df = pd.read_parquet(io.BytesIO((part / "part-00000.parquet").read_bytes()))
    assert str(df["reading_ts"].dtype) == "datetime64[ns, UTC]"
    assert (part / "_SUCCESS").read_bytes() == b""


def test_contract_is_written_last(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    for method in ("write_bytes", "write_text"):
        original = getattr(ObjectStoragePath, method)

        def spy(self, data, *a, _original=original, **kw):
            order.append(self.name)
            return _original(self, data, *a, **kw)

        monkeypatch.setattr(ObjectStoragePath, method, spy)
    cfg = load_pipeline("churn").model_copy(
        update={
            "landing": load_pipeline("churn").landing.model_copy(update={"files_per_partition": 3})
        }
    )
    generate_days(cfg, DAY, 1, entities=60)
    assert order == ["part-00000.csv", "part-00001.csv", "part-00002.csv", "manifest.json"] * 3


def test_rerun_replaces_the_partition_and_is_byte_identical(home: Path) -> None:
    cfg = load_pipeline("churn")
    generate_days(cfg, DAY, 2, entities=80)
    first = _tree(home / "storage" / "landing")
    stale = Path(str(partition_path(cfg, "profile", DAY)).removeprefix("file://")) / "stale.csv"
    stale.write_text("left over\n")
    generate_days(cfg, DAY, 2, entities=80)
    assert _tree(home / "storage" / "landing") == first


def test_a_day_alone_equals_the_day_in_a_range(home: Path, tmp_path: Path, monkeypatch) -> None:
    cfg = load_pipeline("fleet")
    generate_days(cfg, DAY, 3, entities=50)
    ranged = _tree(home / "storage" / "landing" / "fleet" / "telemetry")
    monkeypatch.setenv("R2P_HOME", str(tmp_path / "other"))
    generate_days(cfg, DAY + dt.timedelta(days=2), 1, entities=50)
    alone = _tree(tmp_path / "other" / "storage" / "landing" / "fleet" / "telemetry")
    assert alone == {k: v for k, v in ranged.items() if k.startswith("ds=2026-11-18")}


@pytest.mark.parametrize(
    ("kind", "source", "check"),
    [
        pytest.param(
            "null_label",
            "churn_labels",
            lambda df, raw: df["churned"].isna().sum() >= 1,
            id="null_label",
        ),
        pytest.param(
            "unknown_label",
            "churn_labels",
            lambda df, raw: (df["churned"] == "not_a_class").any(),
            id="unknown_label",
        ),
        pytest.param(
            "null_entity",
            "activity",
            lambda df, raw: df["customer_id"].isna().any(),
            id="null_entity",
        ),
        pytest.param(
            "duplicate_key",
            "activity",
            lambda df, raw: df.duplicated(["customer_id", "event_ts"]).any(),
            id="duplicate_key",
        ),
        pytest.param(
            "out_of_interval",
            "activity",
            lambda df, raw: (pd.to_datetime(df["event_ts"]).dt.date < DAY).any(),
            id="out_of_interval",
        ),
        pytest.param(
            "non_finite",
            "activity",
            lambda df, raw: (df["session_minutes"] == float("inf")).any(),
            id="non_finite",
        ),
        pytest.param(
            "missing_column",
            "activity",
            lambda df, raw: "error_count" not in df.columns,
            id="missing_column",
        ),
        pytest.param(
            "unknown_column",
            "activity",
            lambda df, raw: "unexpected_col" in df.columns,
            id="unknown_column",
        ),
        pytest.param(
            "wrong_type",
            "activity",
            lambda df, raw: df["session_minutes"].dtype == object,
            id="wrong_type",
        ),
        pytest.param("empty_partition", "activity", lambda df, raw: len(df) == 0, id="empty"),
    ],
)
def test_frame_defects(home: Path, kind: str, source: str, check) -> None:
    cfg = load_pipeline("churn")
    (summary,) = [
        s
        for s in generate_days(cfg, DAY, 1, entities=100, inject=[Defect(kind, source)])
        if s.source == source
    ]
    assert summary.defects == [kind]
    raw = (partition_path(cfg, source, DAY) / "part-00000.csv").read_bytes()
    assert check(pd.read_csv(io.BytesIO(raw)), raw)
    manifest = json.loads((partition_path(cfg, source, DAY) / "manifest.json").read_text())
    assert manifest["files"][0]["sha256"] == hashlib.sha256(raw).hexdigest()


def test_byte_and_contract_defects(home: Path) -> None:
    cfg = load_pipeline("churn")
    inject = [
        Defect("non_utf8", "profile"),
        Defect("truncated_file", "activity"),
        Defect("manifest_sha_mismatch", "churn_labels"),
    ]
    generate_days(cfg, DAY, 1, entities=100, inject=inject)
    with pytest.raises(UnicodeDecodeError):
        (partition_path(cfg, "profile", DAY) / "part-00000.csv").read_bytes().decode("utf-8")
    truncated = (partition_path(cfg, "activity", DAY) / "part-00000.csv").read_bytes()
    assert not truncated.endswith(b"\n")
    manifest = json.loads((partition_path(cfg, "churn_labels", DAY) / "manifest.json").read_text())
    assert manifest["files"][0]["sha256"] == "0" * 64
    generate_days(
        cfg,
        DAY,
        1,
        entities=100,
        inject=[Defect("no_contract", "profile"), Defect("manifest_rows_mismatch", "activity")],
    )
    assert not (partition_path(cfg, "profile", DAY) / "manifest.json").exists()
    activity = json.loads((partition_path(cfg, "activity", DAY) / "manifest.json").read_text())
    assert activity["files"][0]["rows"] == activity["rows"] + 7  # the file has 7 fewer rows


def test_defect_only_on_its_day(home: Path) -> None:
    cfg = load_pipeline("churn")
    later = DAY + dt.timedelta(days=1)
    written = generate_days(
        cfg, DAY, 2, entities=50, inject=[Defect("empty_partition", "profile", later)]
    )
    rows = {(s.source, s.ds): s.rows for s in written}
    assert rows[("profile", "2026-11-16")] == 50 and rows[("profile", "2026-11-17")] == 0


def test_unknown_defect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown defect 'bogus'; known: null_label"):
        Defect("bogus")
    assert set(defects.ROW_DEFECTS) <= set(defects.KINDS)
