"""Artifacts by URI under one storage root, through Airflow's ObjectStoragePath (fsspec).

The commit protocol (DESIGN §5) works the same on ``file://`` and ``s3://``, which has no
rename: a writer puts its files under a new unique prefix ``<name>/_versions/<version>/``,
then publishes the small pointer ``<name>/_CURRENT.json`` last. Readers only follow pointers,
so a writer killed half-way leaves the previous version current, and a rerun publishes a new
version that replaces it (never a mix of both).

A movable root: what is stored inside the root refers to the root's own objects by relative
references (a pointer's ``uri`` is relative to its folder, ``_versions/<version>``; records
use :func:`relative`), which are resolved against the current root when read. An absolute
``file://`` URI under another root that no longer exists (written before the root moved) is
re-based onto the current root when its storage-relative part exists there
(:func:`resolve`, which :func:`path` applies to every URI).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from r2p.config.schema import Timeouts
from r2p.home import storage_conn_id, storage_uri

POINTER = "_CURRENT.json"
VERSIONS = "_versions"


def path(uri: str) -> ObjectStoragePath:
    """An ObjectStoragePath for ``uri``, with the storage connection when it is remote.

    A remote URI may carry its Airflow connection id itself (``s3://conn_id@bucket/key``,
    as ObjectStoragePath prints it); otherwise ``R2P_STORAGE_CONN_ID`` is used.
    A relative reference or a stale absolute one is resolved first (:func:`resolve`).
    """
    uri = resolve(uri)
    remote = not uri.startswith("file://")
    conn_id = storage_conn_id() if remote and "@" not in uri.split("/", 3)[2] else None
    if remote:
        parts = urlsplit(uri)
        _bound(parts.scheme, conn_id or parts.netloc.rpartition("@")[0] or None)
    return ObjectStoragePath(uri, conn_id=conn_id)


S3 = ("s3", "s3a", "s3n")
_BOUNDED: set[tuple[str, str]] = set()


def _bound(protocol: str, conn_id: str | None) -> None:
    """Give the connection's S3 filesystem the deployment's timeouts, once per process.

    Airflow builds it from the connection's ``config_kwargs`` (botocore's ``Config``); keys
    the connection leaves out come from :class:`r2p.config.schema.Timeouts`. Retries happen
    in botocore only (s3fs's own retry loop is switched off), so a hung endpoint fails after
    ``network_retries + 1`` attempts of at most ``connect_timeout + read_timeout`` each.
    """
    if protocol not in S3 or conn_id is None or (protocol, conn_id) in _BOUNDED:
        return
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.sdk.io import attach, get_fs

    bounds = Timeouts.from_env()
    given = S3Hook(aws_conn_id=conn_id).conn_config.extra_config.get("config_kwargs", {})
    defaults = {
        "connect_timeout": bounds.connect_timeout,
        "read_timeout": bounds.read_timeout,
        "retries": {"max_attempts": bounds.network_retries + 1, "mode": "standard"},
    }
    fs = get_fs(protocol, conn_id, {k: v for k, v in defaults.items() if k not in given})
    fs.retries = 1  # one attempt per call at s3fs's level; botocore retries
    attach(protocol, conn_id).fs = fs  # the store every ObjectStoragePath of conn_id uses
    _BOUNDED.add((protocol, conn_id))


def root() -> ObjectStoragePath:
    """The storage root (``R2P_STORAGE``)."""
    return path(storage_uri())


def _root_uri() -> str:
    uri = storage_uri().rstrip("/")
    return uri if "://" in uri else f"file://{uri}"


def is_relative(ref: str) -> bool:
    """Whether ``ref`` is a storage-relative reference (no scheme, not an absolute path)."""
    return "://" not in ref and not ref.startswith("/")


def resolve(ref: str) -> str:
    """An absolute URI for a stored reference, against the current storage root.

    * a relative reference (``exports/churn/...``) is taken relative to the root;
    * a URI under the current root, a remote URI, or a local one that exists, is kept;
    * a ``file://`` URI that no longer exists (written under a root that has moved since) is
      re-based: its longest tail that starts with a top-level folder of the current root and
      exists under it (``.../old/home/storage/exports/x`` -> ``<root>/exports/x``); otherwise
      it is kept as it is.
    """
    if "://" not in ref:
        return ref if ref.startswith("/") else f"{_root_uri()}/{ref}"
    base = _root_uri()
    if ref == base or ref.startswith(base + "/") or not ref.startswith("file://"):
        return ref
    if not base.startswith("file://"):
        return ref
    local = ref[len("file://") :]
    if os.path.exists(local):
        return ref
    rebased = _rebase(local, base[len("file://") :])
    return f"file://{rebased}" if rebased else ref


def _rebase(local: str, root_dir: str) -> str | None:
    try:
        tops = set(os.listdir(root_dir))
    except OSError:
        return None
    parts = [p for p in local.split("/") if p]
    for i, part in enumerate(parts):
        if part in tops:
            candidate = os.path.join(root_dir, *parts[i:])
            if os.path.exists(candidate):
                return candidate
    return None


def relative(uri: str) -> str:
    """``uri`` as a reference relative to the storage root when it lies under the root (after
    :func:`resolve`), else unchanged: what records inside the root store."""
    if not isinstance(uri, str) or "://" not in uri:
        return uri
    full, base = resolve(uri), _root_uri()
    return full[len(base) + 1 :] if full.startswith(base + "/") else uri


def _is_uri_key(key: Any) -> bool:
    return isinstance(key, str) and (key == "uri" or key.endswith("_uri"))


def portable(value: Any) -> Any:
    """``value`` (JSON-like) with the URIs under keys ``uri`` and ``*_uri`` made relative to
    the storage root (:func:`relative`); the inverse is :func:`resolved`."""
    if isinstance(value, dict):
        return {
            k: relative(v) if _is_uri_key(k) and isinstance(v, str) else portable(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [portable(v) for v in value]
    return value


def resolved(value: Any) -> Any:
    """``value`` with the references under keys ``uri`` and ``*_uri`` resolved against the
    current root (:func:`resolve`): relative ones, and stale absolute ones, become absolute."""
    if isinstance(value, dict):
        return {
            k: resolve(v) if _is_uri_key(k) and isinstance(v, str) else resolved(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [resolved(v) for v in value]
    return value


def uri_of(p: ObjectStoragePath) -> str:
    """The URI of a path, with its scheme (what XCom carries)."""
    text = str(p)
    return text if "://" in text else f"file://{text}"


def write_json(p: ObjectStoragePath, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON (stable bytes for stable hashes)."""
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(p: ObjectStoragePath) -> Any:
    """Read a JSON object written by :func:`write_json`."""
    return json.loads(p.read_text())


def sha256(p: ObjectStoragePath, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a stored file, streamed."""
    digest = hashlib.sha256()
    with p.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _new_version() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def commit(
    name: str,
    write: Callable[[ObjectStoragePath], Any],
    meta: dict[str, Any] | None = None,
) -> str:
    """Write a new version of ``name`` with ``write(prefix)``, then publish its pointer.

    Returns the URI of the committed version's prefix. If ``write`` raises, nothing is
    published and the previous version stays current. The pointer stores the version's
    location relative to its own folder (``_versions/<version>``), so the root can move.
    """
    base = root() / name
    version = _new_version()
    prefix = base / VERSIONS / version
    prefix.mkdir(parents=True, exist_ok=True)
    write(prefix)
    pointer = {
        "name": name,
        "version": version,
        "uri": f"{VERSIONS}/{version}",  # relative to the pointer's folder
        "committed_at": dt.datetime.now(dt.UTC).isoformat(),
        **(meta or {}),
    }
    _publish(base / POINTER, json.dumps(pointer, indent=2, sort_keys=True) + "\n")
    return uri_of(prefix)


def _publish(p: ObjectStoragePath, text: str) -> None:
    """Replace ``p`` so that readers see the old or the new bytes, never a partial file."""
    if p.protocol in ("s3", "s3a"):
        p.write_text(text)  # one PUT: S3 readers see the old or the new object
        return
    tmp = p.parent / f".{p.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(text)
    tmp.rename(p)  # os.rename on one file system: atomic


def create_exclusive(p: ObjectStoragePath, text: str) -> None:
    """Write ``p`` whole, only if it does not exist yet (else FileExistsError): the
    compare-and-swap that append-only records are built on.

    Local: a complete temp file hard-linked into place (``link`` fails if the name exists).
    S3: one conditional PUT (``If-None-Match: *``).
    """
    if p.protocol in ("s3", "s3a"):
        p.fs.pipe_file(p.path, text.encode(), mode="create")
        return
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.parent / f".{p.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(text)
    try:
        os.link(tmp.path, p.path)
    finally:
        os.unlink(tmp.path)


def pointer(name: str) -> dict[str, Any] | None:
    """The published pointer of ``name``, or None when nothing was committed yet; its ``uri``
    is the committed version's absolute URI under the current root (a relative one, as
    :func:`commit` writes it, or an older absolute one, re-based by :func:`resolve`)."""
    base = root() / name
    p = base / POINTER
    if not p.exists():
        return None
    ptr = read_json(p)
    ref = ptr["uri"]
    ptr["uri"] = uri_of(base / ref) if is_relative(ref) else resolve(ref)
    return ptr


def current(name: str) -> ObjectStoragePath | None:
    """The committed version's prefix of ``name``, or None when nothing was committed."""
    ptr = pointer(name)
    return path(ptr["uri"]) if ptr else None
