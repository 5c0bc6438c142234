"""An entity's features from the Feast online store, turned into the served model's inputs
exactly as the training set joined them.

The feature service is the one the served version was trained through (the contract's
``feature_service``, else its lineage: retrain record -> training-set manifest, else the
pipeline config). Each contract input is read from its feature view; a value older than the
view's TTL counts as missing, the rule of the point-in-time join the training set is built
with (Feast's online read returns such values unmarked). Values become model inputs as the
export's golden rows do: text as text, numbers and booleans as floats, missing as None.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from r2p.serving.registry import BadInput

log = logging.getLogger(__name__)
INT64 = (-(2**63), 2**63 - 1)
NUMERIC_FEAST = {"Int32", "Int64", "Float32", "Float64", "Bool"}
PRESENT, NOT_FOUND, STALE = "PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"


@dataclass(frozen=True)
class OnlineSpec:
    """Where each contract input lives online and what key the entities are looked up by."""

    service: str
    join_key: str
    key_dtype: str  # "int64" or "string"
    views: dict[str, str]  # contract input -> feature view
    ttls: dict[str, dt.timedelta | None]  # feature view -> TTL (None: never expires)

    @property
    def refs(self) -> list[str]:
        """Feast feature references (``view:feature``) in contract input order."""
        return [f"{view}:{name}" for name, view in self.views.items()]

    def describe(self) -> dict[str, Any]:
        """The spec as JSON: the key, the service, each feature's view and TTL in seconds."""
        ttl = {v: (t.total_seconds() if t else None) for v, t in self.ttls.items()}
        return {
            "feature_service": self.service,
            "join_key": self.join_key,
            "key_dtype": self.key_dtype,
            "features": {n: {"view": v, "ttl_seconds": ttl[v]} for n, v in self.views.items()},
        }


@dataclass(frozen=True)
class Feature:
    """One feature of one entity as read online: the value the model gets, the event time of
    its row, and Feast's status (``OUTSIDE_MAX_AGE`` when the TTL made it missing)."""

    value: Any
    event_timestamp: dt.datetime | None
    status: str

    def as_json(self) -> dict[str, Any]:
        ts = self.event_timestamp.isoformat() if self.event_timestamp else None
        return {"value": self.value, "event_timestamp": ts, "status": self.status}


def feature_service_of(contract: dict[str, Any]) -> str:
    """The feature service the contract's model was trained through."""
    if contract.get("feature_service"):
        return contract["feature_service"]
    try:
        from r2p import storage

        result = storage.read_json(storage.path(contract["model_uri"]) / "result.json")
        manifest_uri = result["dataset_uri"].rsplit("/", 1)[0] + "/manifest.json"
        return storage.read_json(storage.path(manifest_uri))["feature_service"]
    except Exception as exc:  # lineage unreadable: the config names the current service
        from r2p.config import load_pipeline
        from r2p.features.definitions import service_name

        name = service_name(load_pipeline(contract["pipeline"]), contract["model"])
        log.warning("no training lineage for %s (%s); using %s", contract["model_uri"], exc, name)
        return name


def resolve(store: Any, contract: dict[str, Any]) -> OnlineSpec:
    """The spec of the contract's feature service in ``store``'s registry; ValueError when the
    service cannot feed the contract (a missing feature, a type mismatch, not one join key)."""
    service = store.get_feature_service(feature_service_of(contract))
    views, ttls, kinds, keys = {}, {}, {}, set()
    for projection in service.feature_view_projections:
        fv = store.get_feature_view(projection.name)
        ttls[fv.name] = fv.ttl if fv.ttl else None
        keys |= {(c.name, str(c.dtype)) for c in fv.entity_columns}
        for f in projection.features:
            views.setdefault(f.name, fv.name)
            kinds.setdefault(f.name, str(f.dtype))
    if len(keys) != 1:
        raise ValueError(f"{service.name}: the endpoint needs one join key, found {keys}")
    (key, key_type), wanted = keys.pop(), {}
    for item in contract["inputs"]:
        name, kind = item["name"], kinds.get(item["name"])
        if kind is None:
            raise ValueError(f"{service.name} has no feature {name!r} the model takes")
        if (item["dtype"] == "string") != (kind == "String") or kind not in {"String"} | (
            NUMERIC_FEAST
        ):
            raise ValueError(f"{name}: the model takes {item['dtype']}, Feast holds {kind}")
        wanted[name] = views[name]
    return OnlineSpec(
        service.name,
        key,
        "int64" if key_type in ("Int64", "Int32") else "string",
        wanted,
        {v: ttls[v] for v in dict.fromkeys(wanted.values())},
    )


def entity_keys(payload: Any, spec: OnlineSpec, max_rows: int) -> list[Any]:
    """The join-key values of ``{"entities": [{key: value}, ...]}``; BadInput for any other
    shape, a missing or extra key, or a value of the wrong type."""
    if not isinstance(payload, dict) or set(payload) != {"entities"}:
        shape = '{"entities": [{"' + spec.join_key + '": ...}, ...]}'
        raise BadInput(f"the body must be {shape}")
    rows = payload["entities"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BadInput("'entities' must be a list of objects (join key -> value)")
    if not rows:
        raise BadInput("no entities")
    if len(rows) > max_rows:
        raise BadInput(f"{len(rows)} entities: at most {max_rows} per request")
    out = []
    for i, row in enumerate(rows):
        if set(row) != {spec.join_key}:
            extra, missing = sorted(set(row) - {spec.join_key}), spec.join_key not in row
            raise BadInput(
                f"entities[{i}]: expected exactly the key {spec.join_key!r}"
                + (f"; unknown keys {extra}" if extra else "")
                + ("; the key is missing" if missing else "")
            )
        value = row[spec.join_key]
        if spec.key_dtype == "int64":
            if isinstance(value, bool) or not isinstance(value, int):
                raise BadInput(f"entities[{i}].{spec.join_key}: expected an integer")
            if not INT64[0] <= value <= INT64[1]:
                raise BadInput(f"entities[{i}].{spec.join_key}: outside the int64 range")
        elif not isinstance(value, str) or not value:
            raise BadInput(f"entities[{i}].{spec.join_key}: expected a non-empty string")
        out.append(value)
    return out


def read(
    store: Any, spec: OnlineSpec, keys: list[Any], now: dt.datetime
) -> list[dict[str, Feature]]:
    """Each entity's features (contract input -> Feature) as of ``now``."""
    from feast.type_map import feast_value_type_to_python_type

    response = store.get_online_features(
        features=spec.refs,
        entity_rows=[{spec.join_key: k} for k in keys],
        full_feature_names=False,
    ).proto
    names = list(response.metadata.feature_names.val)
    out: list[dict[str, Feature]] = [{} for _ in keys]
    for name, vector in zip(names, response.results, strict=True):
        view = spec.views.get(name)
        if view is None:
            continue  # the join key, echoed back
        ttl = spec.ttls[view]
        for i, (value, status, ts) in enumerate(
            zip(vector.values, vector.statuses, vector.event_timestamps, strict=True)
        ):
            when = ts.ToDatetime(tzinfo=dt.UTC) if ts.seconds or ts.nanos else None
            if status != 1 or when is None:  # FieldStatus.PRESENT == 1
                out[i][name] = Feature(None, when, NOT_FOUND)
            elif ttl is not None and when < now - ttl:
                out[i][name] = Feature(None, when, STALE)
            else:
                out[i][name] = Feature(feast_value_type_to_python_type(value), when, PRESENT)
    return out


def model_columns(contract: dict[str, Any], records: list[dict[str, Feature]]) -> dict[str, list]:
    """The contract's raw input columns for ``records``, converted as the training rows are."""
    columns: dict[str, list] = {}
    for item in contract["inputs"]:
        text = item["dtype"] == "string"
        values = [r[item["name"]].value for r in records]
        columns[item["name"]] = [
            None if v is None else (str(v) if text else float(v)) for v in values
        ]
    return columns


def missing_reason(record: dict[str, Feature]) -> str | None:
    """Why an entity cannot be predicted (None when it can): nothing stored, or only values
    older than their TTL (the training set has no row without a feature value either)."""
    statuses = {f.status for f in record.values()}
    if PRESENT in statuses:
        return None
    return "not found" if statuses == {NOT_FOUND} else "stale: every feature is past its TTL"
