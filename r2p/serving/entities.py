"""The entity-keyed endpoint: features from the Feast online store, then the served model.

``POST /v1/models/NAME[/versions/N]/entities:predict`` with ``{"entities": [{KEY: value}]}``
answers, in request order, each entity's calibrated class probabilities (and its class at
the model's exported threshold), the
model version, and the features the model was given with their event timestamps and status::

    {"model_version": 2, "feature_service": "churn_mlp_v1", "classes": [...],
     "results": [{"entity": {"customer_id": 17}, "model_version": 2, "class": "churned",
                  "probabilities": [0.31, 0.69],
                  "features": {"plan": {"value": "basic", "event_timestamp": "...",
                                        "status": "PRESENT"}, ...}},
                 {"entity": {"customer_id": 4242}, "error": "not found"}]}

An entity the store holds nothing for gets ``"error": "not found"`` in its place (200, also
for a single entity: the request was fine, the answer is that there is no such entity); one
whose every value is past its view's TTL gets a ``stale`` error. A body that is not that shape,
a missing or extra key, or a key of the wrong type is 400; a failing store 503, a store that
does not answer within ``--feature-timeout-seconds`` 504. ``GET .../entities`` describes the
join key and features (503 until the feature service is resolved). ``--no-entities`` turns the
endpoint off (404), and with it the import of Feast at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from r2p.calibration import labels
from r2p.serving.http_errors import JSON, HTTPError
from r2p.serving.online import entity_keys, missing_reason, model_columns
from r2p.serving.online_reader import StoreTimeout, StoreUnavailable
from r2p.serving.registry import Served

if TYPE_CHECKING:
    from r2p.serving.online import Feature, OnlineSpec
    from r2p.serving.online_reader import OnlineReader

T = TypeVar("T")


class Handlers(Protocol):
    """What the entity endpoints take from the TF Serving endpoints (``rest.Handlers``):
    the request's served model, its checked JSON body, and inference."""

    runtime: Any

    def served(self, request: Request) -> Served: ...

    async def json_body(self, request: Request) -> Any: ...

    async def infer(self, served: Served, columns: dict[str, list], rows: int) -> Any: ...


def results(
    served: Served,
    spec: OnlineSpec,
    keys: list[Any],
    records: list[dict[str, Feature]],
    proba: np.ndarray,
) -> list[dict[str, Any]]:
    """One answer per entity: ``proba`` holds the rows of the entities that could be predicted,
    in order."""
    predicted = labels(served.contract, proba)
    out, row = [], 0
    for key, record in zip(keys, records, strict=True):
        answer: dict[str, Any] = {"entity": {spec.join_key: key}}
        reason = missing_reason(record)
        if reason is None:
            answer |= {
                "model_version": served.version,
                "class": predicted[row],
                "probabilities": proba[row].tolist(),
            }
            row += 1
        else:
            answer["error"] = reason
        answer["features"] = {name: f.as_json() for name, f in record.items()}
        out.append(answer)
    return out


class EntityEndpoints:
    """The entity endpoints, beside the TF Serving ones (sharing their checks and errors)."""

    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers
        self.runtime = handlers.runtime

    def _reader(self) -> OnlineReader:
        if self.runtime.online is None:
            raise HTTPError(404, "the entity endpoint is off (--no-entities)")
        return self.runtime.online

    async def _store(self, call: Awaitable[T]) -> T:
        """``call``'s result; the store's failure as 503, its silence as 504."""
        try:
            return await call
        except StoreUnavailable as exc:
            raise HTTPError(503, str(exc)) from None
        except StoreTimeout as exc:
            raise HTTPError(504, str(exc)) from None

    async def predict(self, request: Request) -> Response:
        served = self.handlers.served(request)
        payload = await self.handlers.json_body(request)
        spec = await self._store(self._reader().spec(served))
        keys = entity_keys(payload, spec, self.runtime.options.max_instances)
        records = await self._store(self._reader().read(spec, keys))
        known = [r for r in records if missing_reason(r) is None]
        proba = np.zeros((0, len(served.contract["classes"])))
        if known:
            columns = model_columns(served.contract, known)
            proba = await self.handlers.infer(served, columns, len(known))
        body = {
            "model_version": served.version,
            "feature_service": spec.service,
            "classes": served.contract["classes"],
            "results": results(served, spec, keys, records, proba),
        }
        return Response(
            json.dumps(body), headers={"X-Model-Version": str(served.version)}, media_type=JSON
        )

    async def describe(self, request: Request) -> Response:
        served = self.handlers.served(request)
        spec = await self._store(self._reader().spec(served))
        body = {"model_version": served.version, **spec.describe()}
        return Response(json.dumps(body), media_type=JSON)
