"""Feast's DuckDB reads on the storage root: on ``s3://`` (moto server) through the storage
connection's filesystem, with no DuckDB extension downloaded; ``file://`` unchanged."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r2p import storage


@pytest.mark.timeout(120)
def test_duckdb_reads_parquet_under_the_storage_root(storage_root: str) -> None:
    import ibis

    from r2p.features.duckdb_storage import serve_storage
    from r2p.home import storage_uri

    for day, ids in (("2026-11-01", [1, 2]), ("2026-11-02", [3])):
        buf = io.BytesIO()
        pq.write_table(pa.table({"customer_id": ids}), buf)
        target = storage.root() / "feast" / "churn" / "profile" / f"{day}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buf.getvalue())
    serve_storage()
    root = storage_uri().removeprefix("file://")
    table = ibis.read_parquet(f"{root}/feast/churn/profile/*.parquet")  # as Feast reads
    assert sorted(table.to_pyarrow()["customer_id"].to_pylist()) == [1, 2, 3]
