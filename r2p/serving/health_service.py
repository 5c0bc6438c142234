"""The standard gRPC health service (``grpc.health.v1.Health``) for load balancers and
Kubernetes' ``grpc`` probes, answering what HTTP ``/readyz`` answers.

``Check`` for ``""`` (the server) or ``tensorflow.serving.PredictionService`` is ``SERVING``
while a model is loaded and warmed and the server is not draining, ``NOT_SERVING`` otherwise
(before the first model, and from the first moment of a SIGTERM's drain); any other service
is ``NOT_FOUND``, as the protocol asks. ``Watch`` streams the status on every change (it is
read from the runtime every ``WATCH_SECONDS``, so it can never disagree with ``/readyz``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

if TYPE_CHECKING:
    from r2p.serving.runtime import Runtime

SERVICES = frozenset({"", "tensorflow.serving.PredictionService"})
WATCH_SECONDS = 0.2
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class HealthService(health_pb2_grpc.HealthServicer):
    """Readiness of ``runtime`` as gRPC health statuses."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def status(self, service: str) -> int:
        """The status of ``service`` now (``SERVICE_UNKNOWN`` for one this server lacks)."""
        if service not in SERVICES:
            return UNKNOWN
        return SERVING if self.runtime.ready else NOT_SERVING

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        """The status now; NOT_FOUND for a service this server does not have."""
        status = self.status(request.service)
        if status == UNKNOWN:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> None:
        """The status now, then each change, until the client or the server ends the call."""
        last = None
        while True:
            status = self.status(request.service)
            if status != last:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                last = status
            await asyncio.sleep(WATCH_SECONDS)
