"""Feast's Redis online store with r2p's write policy (DESIGN §4), atomic per entity.

Feast's Redis store drops every write whose event time is not newer than the stored one, so a
corrected rerun of an interval (same event times, new values) never lands; and it reads the
stored times in one round trip and writes in another, so two writers can interleave. Here one
Lua script per entity compares and writes in a single atomic step: a write lands when its
event time is not older than the stored one (to the microsecond, kept in a ``_us:<view>``
field beside Feast's ``_ts:<view>``), exactly the SQLite store's policy.

Every key carries ``key_prefix``, so several deployments (or test runs) share one Redis
database without seeing each other's values. The client always has connect and read timeouts
and a bounded retry (``r2p.config.schema.Timeouts``); a Redis error surfaces as
:class:`OnlineStoreUnavailable` naming the server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from feast import FeatureView, RepoConfig
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3, _redis_key_prefix
from feast.infra.online_stores.redis import (
    RedisOnlineStore,
    RedisOnlineStoreConfig,
    RedisType,
    _versioned_fv_name,
)
from feast.infra.supported_async_methods import SupportedAsyncMethods
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import StrictStr
from redis import Redis, RedisError
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from r2p.config.schema import Timeouts
from r2p.features.online_store import Rows, epoch_us

TYPE = "r2p.features.redis_store.MonotonicRedisOnlineStore"
CHUNK = 1000  # entities per pipeline round trip

# KEYS[1]: the entity's hash. ARGV: the _us field, the event time in epoch microseconds,
# the TTL (0: none), then field/value pairs (Feast's _ts field and the features).
# Microseconds since 1970 stay below 2^53 until the year 2255: exact as Lua numbers.
WRITE_IF_NOT_OLDER = """
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored and tonumber(stored) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], unpack(ARGV, 4))
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
"""


class OnlineStoreUnavailable(ConnectionError):
    """The online store's server failed or did not answer within its timeouts."""


class MonotonicRedisOnlineStoreConfig(RedisOnlineStoreConfig):
    """Feast's Redis config (``connection_string``: ``host:port,db=N,...``) plus a key prefix."""

    type: Literal["r2p.features.redis_store.MonotonicRedisOnlineStore"] = TYPE  # type: ignore[assignment]
    key_prefix: StrictStr = ""


class MonotonicRedisOnlineStore(RedisOnlineStore):
    """Redis online store whose values never regress to an older event time."""

    @property
    def async_supported(self) -> SupportedAsyncMethods:
        return SupportedAsyncMethods(read=True, write=False)  # async writes would skip the policy

    def _client_kwargs(self, config: MonotonicRedisOnlineStoreConfig) -> dict[str, Any]:
        if config.redis_type != RedisType.redis:
            raise NotImplementedError("r2p's policy store supports a single Redis server")
        nodes, kwargs = self._parse_connection_string(config.connection_string)
        bounds = Timeouts.from_env()
        kwargs.setdefault("socket_connect_timeout", bounds.connect_timeout)
        kwargs.setdefault("socket_timeout", bounds.read_timeout)
        kwargs["retry"] = _retry(Retry, bounds)
        return {"host": nodes[0]["host"], "port": int(nodes[0]["port"]), **kwargs}

    def _get_client(self, online_store_config: MonotonicRedisOnlineStoreConfig) -> Redis:
        if not self._client:
            self._client = Redis(**self._client_kwargs(online_store_config))
        return self._client  # type: ignore[return-value]

    async def _get_client_async(self, online_store_config: MonotonicRedisOnlineStoreConfig):
        if not self._client_async:
            from redis import asyncio as redis_asyncio

            kwargs = self._client_kwargs(online_store_config)
            kwargs["retry"] = _retry(redis_asyncio.retry.Retry, Timeouts.from_env())
            self._client_async = redis_asyncio.Redis(**kwargs)
        return self._client_async

    def _unavailable(self, config: RepoConfig, action: str, exc: Exception) -> Exception:
        nodes, params = self._parse_connection_string(config.online_store.connection_string)
        where = f"{nodes[0]['host']}:{nodes[0]['port']} db {params.get('db', 0)}"
        return OnlineStoreUnavailable(
            f"Feast online store (Redis at {where}) failed to {action}: {type(exc).__name__}: {exc}"
        )

    def _generate_redis_keys_for_entities(
        self, config: RepoConfig, entity_keys: list[EntityKeyProto]
    ) -> list[bytes]:
        prefix = config.online_store.key_prefix.encode()
        version = config.entity_key_serialization_version
        project = config.project.encode()
        return [
            prefix + serialize_entity_key(k, entity_key_serialization_version=version) + project
            for k in entity_keys
        ]

    def _read_hash_fields(self, config: RepoConfig, commands: list) -> list:
        try:
            return super()._read_hash_fields(config, commands)
        except RedisError as exc:
            raise self._unavailable(config, "read", exc) from exc

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: Rows,
        progress: Callable[[int], Any] | None,
    ) -> None:
        store = config.online_store
        client = self._get_client(store)
        script = client.register_script(WRITE_IF_NOT_OLDER)
        view = _versioned_fv_name(table, config)
        us_field, ts_field = f"_us:{view}", f"_ts:{view}"
        ttl = store.key_ttl_seconds or 0
        keys = self._generate_redis_keys_for_entities(config, [row[0] for row in data])
        try:
            for start in range(0, len(data), CHUNK):
                with client.pipeline(transaction=False) as pipe:
                    for key, (_, values, event_ts, _) in zip(
                        keys[start : start + CHUNK], data[start : start + CHUNK], strict=True
                    ):
                        script(
                            keys=[key],
                            args=_args(view, us_field, ts_field, ttl, values, event_ts),
                            client=pipe,
                        )
                    pipe.execute()
        except RedisError as exc:
            raise self._unavailable(config, "write", exc) from exc
        if progress:
            progress(len(data))

    def delete_table(self, config: RepoConfig, table: FeatureView) -> None:
        """Remove one feature view's fields from every entity hash under this key prefix."""
        client = self._get_client(config.online_store)
        view = _versioned_fv_name(table, config)
        fields = [_mmh3(f"{view}:{f.name}") for f in table.features]
        fields += [f"_ts:{view}".encode(), f"_us:{view}".encode()]
        pattern = b"".join(
            [
                _glob_escape(config.online_store.key_prefix.encode()),
                _redis_key_prefix(table.join_keys),
                b"*",
                config.project.encode(),
            ]
        )
        for key in client.scan_iter(pattern):
            client.hdel(key, *fields)  # a hash left empty disappears

    def delete_entity_values(self, config: RepoConfig, join_keys: list[str]) -> None:
        """Remove every entity hash of these join keys under this key prefix."""
        client = self._get_client(config.online_store)
        pattern = b"".join(
            [
                _glob_escape(config.online_store.key_prefix.encode()),
                _redis_key_prefix(join_keys),
                b"*",
                config.project.encode(),
            ]
        )
        for key in client.scan_iter(pattern):
            client.delete(key)


def _retry(cls: Any, bounds: Timeouts) -> Any:
    """Redis' retry of connection errors and timeouts, bounded by the deployment's settings."""
    backoff = ExponentialBackoff(cap=8 * bounds.retry_backoff, base=bounds.retry_backoff)
    return cls(backoff, bounds.network_retries)


def _args(
    view: str,
    us_field: str,
    ts_field: str,
    ttl: int,
    values: dict[str, ValueProto],
    event_ts: datetime,
) -> list[Any]:
    ts = Timestamp()
    ts.FromDatetime(event_ts)  # Feast reads _ts as a Timestamp proto; naive means UTC
    args: list[Any] = [us_field, epoch_us(event_ts), ttl, ts_field, ts.SerializeToString()]
    for name, value in values.items():
        args += [_mmh3(f"{view}:{name}"), value.SerializeToString()]
    return args


def _glob_escape(raw: bytes) -> bytes:
    out = bytearray()
    for b in raw:
        if chr(b) in "*?[]\\":
            out.append(ord("\\"))
        out.append(b)
    return bytes(out)


def connection_string(url: str, bounds: Timeouts | None = None) -> tuple[str, str]:
    """Feast's ``connection_string`` and the key prefix for ``redis://[:pw@]host:port/db
    [?key_prefix=p]`` (``rediss://`` for TLS), with the deployment's timeouts."""
    from urllib.parse import parse_qs, unquote, urlsplit

    bounds = bounds or Timeouts.from_env()
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"not a redis:// URL: {url!r}")
    params = [f"{parts.hostname}:{parts.port or 6379}", f"db={int(parts.path.strip('/') or 0)}"]
    if parts.password:
        params.append(f"password={unquote(parts.password)}")
    if parts.username:
        params.append(f"username={unquote(parts.username)}")
    if parts.scheme == "rediss":
        params.append("ssl=true")
    params += [
        f"socket_connect_timeout={bounds.connect_timeout}",
        f"socket_timeout={bounds.read_timeout}",
    ]
    prefix = parse_qs(parts.query).get("key_prefix", [""])[0]
    return ",".join(params), prefix


def online_store_config(url: str) -> dict[str, Any]:
    """The ``online_store`` section of feature_store.yaml for a Redis URL."""
    conn, prefix = connection_string(url)
    return {"type": TYPE, "connection_string": conn, "key_prefix": prefix}
