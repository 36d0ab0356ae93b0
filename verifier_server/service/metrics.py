"""Prometheus metrics of the verifier service, served on their own port."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.pool import WorkerPool

# Verification spans sub-millisecond format checks to multi-second sandboxed programs.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServerMetrics:
    """The service's metrics in a registry of their own (several servers can live in one process).

    Per verifier: items by status, item latency (arrival to answer, seconds), queue wait (arrival to
    start of work, seconds) and timeouts. Per RPC: calls by gRPC status code. Pool: worker restarts
    by reason, busy workers, tasks waiting for a worker. Items in flight in the server.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rlvr_requests", "RPCs handled, by method and gRPC code", ["rpc", "code"], registry=r
        )
        self.items = Counter(
            "rlvr_items", "Verified items, by verifier and status", ["verifier", "status"], registry=r
        )
        self.latency = Histogram(
            "rlvr_item_latency_seconds",
            "Arrival-to-answer time per item",
            ["verifier"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "rlvr_queue_wait_seconds",
            "Arrival-to-start time per item",
            ["verifier"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.timeouts = Counter("rlvr_timeouts", "Items answered TIMEOUT", ["verifier"], registry=r)
        self.restarts = Counter(
            "rlvr_worker_restarts", "Worker processes replaced, by reason", ["reason"], registry=r
        )
        self.inflight = Gauge("rlvr_inflight_items", "Items admitted and not yet answered", registry=r)
        self.rejected = Counter("rlvr_rejected_items", "Items refused with RESOURCE_EXHAUSTED", registry=r)
        self._busy = Gauge("rlvr_pool_busy_workers", "Worker processes running a task", registry=r)
        self._waiting = Gauge("rlvr_pool_waiting_tasks", "Tasks waiting for a free worker", registry=r)
        self._demotions = Gauge(
            "rlvr_pool_demoted_tasks", "Checks demoted for running past slow_after", registry=r
        )
        self._server: Any = None

    def watch_pool(self, pool: WorkerPool) -> None:
        """Report the pool's busy/waiting counts and count its worker restarts."""
        self._busy.set_function(lambda: pool.busy)
        self._waiting.set_function(lambda: pool.waiting)
        self._demotions.set_function(lambda: pool.demotions)
        previous = pool.on_restart

        def on_restart(reason: str) -> None:
            self.restarts.labels(reason).inc()
            if previous is not None:
                previous(reason)

        pool.on_restart = on_restart

    def observe(self, response: pb.VerifyResponse, latency: float, queue_wait: float) -> None:
        """Record one answered item (`latency`, `queue_wait` in seconds)."""
        verifier = response.verifier or "unknown"
        status = pb.Status.Name(response.status)
        self.items.labels(verifier, status).inc()
        self.latency.labels(verifier).observe(latency)
        self.queue_wait.labels(verifier).observe(queue_wait)
        if response.status == pb.TIMEOUT:
            self.timeouts.labels(verifier).inc()

    def serve(self, host: str, port: int) -> int:
        """Serve `/metrics` over HTTP on (host, port) in a background thread; return the bound port."""
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
