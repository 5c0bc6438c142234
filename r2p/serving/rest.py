"""TF Serving's REST API for the served model (a Starlette app run by uvicorn).

``POST /v1/models/NAME[/versions/N]:predict`` takes ``{"instances": [{feature: value}, ...]}``
(answered as ``{"predictions": [...]}``) or ``{"inputs": {feature: [values]}}`` (answered as
``{"outputs": [...]}``), the calibrated class probabilities; beside them ``"labels"``, each
row's class at the model's exported threshold (``contract.json`` records it). The version
that answered is in the ``X-Model-Version`` header, as TF Serving puts none in the body.
``GET /v1/models/NAME`` and ``.../metadata`` describe it.
Errors are ``{"error": "..."}``: 400 for input the model cannot take, 404 for another model or
version, 408 for a body that does not arrive within the read timeout, 413 for a body over the
limit, 503 before a model is loaded, 504 on an inference timeout. The entity-keyed endpoint
(``.../entities:predict``, features from the Feast online store) is in ``entities``.
``/healthz``, ``/readyz`` and ``/metrics`` complete the app.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from r2p.calibration import labels
from r2p.serving.entities import EntityEndpoints
from r2p.serving.http_errors import JSON, HTTPError, error_response
from r2p.serving.registry import BadInput, Served

if TYPE_CHECKING:
    from r2p.serving.runtime import Runtime

CLOSE_AFTER = {408, 413}  # the rest of such a body is not read: the connection is closed
access_log = logging.getLogger("r2p.serving.access")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def columns_from(payload: Any) -> tuple[dict[str, list], bool]:
    """Columns (feature -> values) from a TF Serving predict body, and whether it was the row
    (``instances``) format; BadInput for any other shape."""
    if not isinstance(payload, dict):
        raise BadInput("the body must be a JSON object with 'instances' or 'inputs'")
    extra = set(payload) - {"instances", "inputs", "signature_name"}
    if extra or ("instances" in payload) == ("inputs" in payload):
        raise BadInput("the body must hold exactly one of 'instances' and 'inputs'")
    if payload.get("signature_name", "serving_default") != "serving_default":
        raise BadInput(f"unknown signature_name {payload['signature_name']!r:.60}")
    if "inputs" in payload:
        inputs = payload["inputs"]
        if not isinstance(inputs, dict) or not all(isinstance(v, list) for v in inputs.values()):
            raise BadInput("'inputs' must map each feature to a list of values")
        return inputs, False
    rows = payload["instances"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BadInput("'instances' must be a list of objects (feature -> value)")
    if not rows:
        raise BadInput("no instances")
    names = rows[0].keys()
    if any(r.keys() != names for r in rows):
        raise BadInput("every instance must name the same features")
    return {name: [r[name] for r in rows] for name in names}, True


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body; 413 as soon as it is known to exceed ``limit`` bytes, 408 when it
    has not all arrived within ``timeout`` seconds (a slow or stalled client must not hold a
    connection and its buffers for ever)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise HTTPError(413, f"request body over {limit} bytes")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPError(413, f"request body over {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPError(408, f"request body not received within {timeout}s") from None
    return b"".join(chunks)


class Handlers:
    """The endpoints, bound to the runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.name = runtime.options.model

    def served(self, request: Request) -> Served:
        """The snapshot this request uses; 404 for another model or version, 503 if none."""
        if request.path_params["name"] != self.name:
            raise HTTPError(404, f"model {request.path_params['name']!r:.80} is not served here")
        served = self.runtime.registry.current
        if served is None:
            raise HTTPError(503, f"model {self.name!r} is not loaded yet")
        version = request.path_params.get("version")
        if version is not None and version != str(served.version):
            raise HTTPError(404, f"version {version!r:.40} of {self.name!r} is not served")
        return served

    async def json_body(self, request: Request) -> Any:
        """The request's JSON body: 413 over the size limit, 400 when it is not JSON."""
        opts = self.runtime.options
        body = await read_body(request, opts.max_body_bytes, opts.read_timeout_seconds)
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, deep nesting
            raise HTTPError(400, f"malformed JSON: {exc}"[:200]) from None

    async def infer(self, served: Served, columns: dict[str, list], rows: int) -> np.ndarray:
        """Probabilities from ``served``; 504 past the inference time limit."""
        try:
            return await self.runtime.infer(served, columns, rows)
        except TimeoutError:
            limit = self.runtime.options.timeout_seconds
            raise HTTPError(504, f"inference took over {limit}s") from None

    async def predict(self, request: Request) -> Response:
        served = self.served(request)
        payload = await self.json_body(request)
        columns, rows_format = columns_from(payload)
        rows = served.check(columns, self.runtime.options.max_instances)
        proba = await self.infer(served, columns, rows)
        key = "predictions" if rows_format else "outputs"
        return Response(
            json.dumps({key: proba.tolist(), "labels": labels(served.contract, proba)}),
            headers={"X-Model-Version": str(served.version)},
            media_type=JSON,
        )

    async def status(self, request: Request) -> Response:
        served = self.served(request)
        state = {"error_code": "OK", "error_message": ""}
        body = {
            "model_version_status": [
                {"version": str(served.version), "state": "AVAILABLE", "status": state}
            ]
        }
        return Response(json.dumps(body), media_type=JSON)

    async def metadata(self, request: Request) -> Response:
        from google.protobuf.json_format import MessageToDict

        from r2p.serving.signatures import signature_def_map

        served = self.served(request)
        body = {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(served.version)},
            "metadata": {
                "signature_def": MessageToDict(
                    signature_def_map(served.contract), preserving_proto_field_name=True
                )
            },
        }
        return Response(json.dumps(body), media_type=JSON)

    async def healthz(self, request: Request) -> Response:
        return Response(json.dumps({"status": "alive"}), media_type=JSON)

    async def readyz(self, request: Request) -> Response:
        if self.runtime.ready:
            return Response(json.dumps({"status": "ready"}), media_type=JSON)
        reason = "draining" if self.runtime.draining else "no model loaded yet"
        return error_response(503, reason)

    async def metrics(self, request: Request) -> Response:
        self.runtime.metrics.ready.set(1 if self.runtime.ready else 0)
        text, content_type = self.runtime.metrics.render()
        return Response(text, media_type=content_type)


def endpoint_of(path: str) -> str:
    """A bounded label for a path (unknown model names must not grow the metrics)."""
    if path.endswith("/entities:predict"):
        return "entities_predict"
    if path.endswith("/entities"):
        return "entities"
    if path.endswith(":predict"):
        return "predict"
    if path.startswith("/v1/models/"):
        return "metadata" if path.endswith("/metadata") else "status"
    return path.strip("/") if path in ("/healthz", "/readyz", "/metrics") else "other"


class Observe:
    """ASGI middleware: request id, ``Connection: close`` while draining, metrics, access log."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        status = 500
        version = ""

        async def send_with_headers(message: Message) -> None:
            nonlocal status, version
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", rid.encode())]
                closing = self.runtime.draining or status in CLOSE_AFTER
                if closing and all(k.lower() != b"connection" for k, _ in headers):
                    headers.append((b"connection", b"close"))
                version = dict(headers).get(b"x-model-version", b"").decode()
                message = {**message, "headers": headers}
            await send(message)

        metrics = self.runtime.metrics
        try:
            with self.runtime.answering():
                await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - t0
            metrics.observe("rest", endpoint_of(scope["path"]), status, seconds)
            client = scope.get("client") or ("-", 0)
            access_log.info(
                '%s "%s %s" %d %.2fms rid=%s version=%s',
                client[0],
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                rid,
                version or "-",
            )


def create_app(runtime: Runtime) -> ASGIApp:
    """The REST app for ``runtime``'s model."""
    h = Handlers(runtime)
    e = EntityEndpoints(h)
    routes = [
        Route("/v1/models/{name}/entities:predict", e.predict, methods=["POST"]),
        Route("/v1/models/{name}/versions/{version}/entities:predict", e.predict, methods=["POST"]),
        Route("/v1/models/{name}/entities", e.describe, methods=["GET"]),
        Route("/v1/models/{name}:predict", h.predict, methods=["POST"]),
        Route("/v1/models/{name}/versions/{version}:predict", h.predict, methods=["POST"]),
        Route("/v1/models/{name}", h.status, methods=["GET"]),
        Route("/v1/models/{name}/versions/{version}", h.status, methods=["GET"]),
        Route("/v1/models/{name}/metadata", h.metadata, methods=["GET"]),
        Route("/v1/models/{name}/versions/{version}/metadata", h.metadata, methods=["GET"]),
        Route("/healthz", h.healthz, methods=["GET"]),
        Route("/readyz", h.readyz, methods=["GET"]),
        Route("/metrics", h.metrics, methods=["GET"]),
    ]

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPError)
        extra = {"Connection": "close"} if exc.status in CLOSE_AFTER else {}
        return error_response(exc.status, exc.message, **extra)

    async def on_bad_input(request: Request, exc: Exception) -> Response:
        return error_response(400, str(exc))

    async def on_starlette(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, str(exc.detail))

    async def on_crash(request: Request, exc: Exception) -> Response:
        logging.getLogger(__name__).exception("unhandled error on %s", request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}")

    app = Starlette(
        routes=routes,
        exception_handlers={
            HTTPError: on_http_error,
            BadInput: on_bad_input,
            HTTPException: on_starlette,
            Exception: on_crash,
        },
    )
    return Observe(app, runtime)
