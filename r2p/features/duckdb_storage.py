"""Feast's DuckDB offline store on an ``s3://`` storage root, through the storage connection.

Feast reads its sources with ``ibis.read_parquet`` on ibis' default DuckDB connection, and
ibis loads DuckDB's ``httpfs`` extension for any ``s3://`` path: a binary DuckDB downloads at
run time (none ships in a package for this DuckDB), with its own credentials and endpoint.
Instead, the default connection gets the storage connection's own S3 filesystem (fsspec,
the same endpoint, credentials and timeouts as every other r2p read), which DuckDB uses for
``s3://`` paths, and ``httpfs`` is not loaded.
"""

from __future__ import annotations

from typing import Any

from r2p import storage

_SERVED: set[int] = set()


def serve_storage() -> None:
    """Make ibis' default DuckDB connection read the storage root when it is on S3 (once per
    process and filesystem); a ``file://`` root changes nothing."""
    root = storage.root()
    if root.protocol not in storage.S3 or id(root.fs) in _SERVED:
        return
    import ibis
    from ibis.backends.duckdb import Backend

    class StorageBackend(Backend):
        def _load_extensions(self, extensions: list[str], force_install: bool = False) -> Any:
            wanted = [e for e in extensions if e != "httpfs"]  # s3:// is served by fsspec
            if wanted:
                super()._load_extensions(wanted, force_install)

    con = StorageBackend().connect(":memory:")
    con.con.register_filesystem(root.fs)
    ibis.options.default_backend = con
    _SERVED.add(id(root.fs))
