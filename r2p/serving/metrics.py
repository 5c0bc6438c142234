"""Prometheus metrics of the model server, in a registry of its own (served at ``/metrics``).

Requests by protocol, endpoint and code; a latency histogram; requests in flight; the served
version; reloads by result and the last reload error; the process's CPU and memory.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)

from r2p.serving.registry import ReloadEvent

# Sub-millisecond buckets: a batch-1 answer takes about a millisecond on a small CPU box.
BUCKETS = (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5)


class Metrics:
    """The server's metrics; ``render`` gives the exposition text and its content type."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "r2p_serving_requests",
            "Requests answered, by protocol, endpoint and status code",
            ["protocol", "endpoint", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "r2p_serving_request_seconds",
            "Time to answer a request",
            ["protocol", "endpoint"],
            buckets=BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("r2p_serving_in_flight", "Requests being answered", registry=r)
        self.inline = Counter(
            "r2p_serving_inline_runs",
            "Model runs done on the event loop for a lone request (no batching)",
            registry=r,
        )
        self.batch = Histogram(
            "r2p_serving_batch_requests",
            "Requests answered by one model run of the batching threads",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.version = Gauge(
            "r2p_serving_model_version", "The served model version", ["model"], registry=r
        )
        self.ready = Gauge(
            "r2p_serving_ready", "1 when the server answers /readyz with 200", registry=r
        )
        self.reloads = Counter(
            "r2p_serving_reloads", "Model load attempts by result", ["model", "result"], registry=r
        )
        self.reload_failed = Gauge(
            "r2p_serving_last_reload_failed",
            "1 when the last load attempt failed (the previous version keeps serving)",
            ["model"],
            registry=r,
        )
        self.last_error = Info(
            "r2p_serving_last_reload_error", "The last load error", ["model"], registry=r
        )
        self.last_error.labels(model).info({"version": "", "error": ""})

    def observe(self, protocol: str, endpoint: str, code: int | str, seconds: float) -> None:
        """Count one answered request and its latency."""
        self.requests.labels(protocol, endpoint, str(code)).inc()
        self.latency.labels(protocol, endpoint).observe(seconds)

    def on_reload(self, event: ReloadEvent) -> None:
        """Record a load attempt (the registry's reload callback)."""
        self.reloads.labels(self.model, "ok" if event.ok else "error").inc()
        self.reload_failed.labels(self.model).set(0 if event.ok else 1)
        if event.ok:
            self.version.labels(self.model).set(event.version or 0)
        else:
            version = "" if event.version is None else str(event.version)
            self.last_error.labels(self.model).info(
                {"version": version, "error": event.error or ""}
            )

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
