"""Runs the synchronous `verify` core for the asyncio server: admission limits, lanes, cancellation."""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from rlvr.errors import RlvrError
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine import core, registry
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.pool import WorkerPool
from rlvr.verifier_server.service.metrics import ServerMetrics

log = logging.getLogger("rlvr.server")


class Overloaded(RlvrError):
    """More items than the server admits at once (`max_queue`); the caller should back off and retry."""


# Lanes in the order a request spanning several goes to: the slowest kind of work it needs.
_LANE_RANK = {"inline": 0, "pool": 1}


def lane_of(request: pb.VerifyRequest) -> str:
    """The executor lane of `request`: its verifiers' `lane_name()`, the slowest one for a reward spec.

    "model" (or any lane a plugin names) outranks "pool", which outranks "inline". A request the
    core will answer INVALID_REQUEST (unknown verifier) is "inline": it needs no worker.
    """
    try:
        spec = request.reward_spec if request.reward_spec.terms else registry.get_spec(request.verifier)
        names = [term.verifier for term in spec.terms] if spec is not None else [request.verifier]
        lanes = {registry.get_verifier(name).lane_name() for name in names if name}
    except InvalidRequest:
        return "inline"
    return _slowest(lanes)


def _slowest(lanes: Iterable[str]) -> str:
    return max(lanes, key=lambda lane: (_LANE_RANK.get(lane, 2), lane), default="inline")


class Dispatcher:
    """Admits items up to `max_queue` and runs them through `core.verify_batch` on threads.

    Each lane has its own thread pool, so slow kinds of work never queue fast ones: requests touching
    only inline verifiers (format, length) run on the "inline" threads, requests needing worker
    processes (math, code) on the "pool" threads, model-backed verifiers (reward models, LLM judges)
    on the "model" threads; a lane a plugin names gets threads of its own on first use. A batch runs
    on the slowest lane any of its requests needs (its group terms need the whole batch). Admission
    counts items from arrival until their thread finishes (a cancelled call keeps its slot until its
    worker is actually freed). Every method except `release` must be called on the event loop thread.
    """

    def __init__(self, pool: WorkerPool, max_queue: int, threads: int, metrics: ServerMetrics):
        self.pool = pool
        self.max_queue = max_queue
        self.metrics = metrics
        self.inflight = 0
        self._threads = threads
        self._lanes: dict[str, ThreadPoolExecutor] = {}
        self._closed = False
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def lane(self, name: str) -> ThreadPoolExecutor:
        """The thread pool of lane `name`, started on first use (RuntimeError once shut down)."""
        executor = self._lanes.get(name)
        if executor is None:
            if self._closed:
                raise RuntimeError("the dispatcher is shut down")
            executor = ThreadPoolExecutor(self._threads, thread_name_prefix=f"rlvr-{name}")
            self._lanes[name] = executor
        return executor

    def try_admit(self, count: int) -> None:
        """Admit `count` items now or raise Overloaded."""
        if self.inflight + count > self.max_queue:
            self.metrics.rejected.inc(count)
            raise Overloaded(
                f"server queue full: {self.inflight} items in flight, {count} more would exceed "
                f"max_queue={self.max_queue}; retry with backoff or add replicas"
            )
        self._admit(count)

    async def admit(self, count: int = 1) -> None:
        """Wait until `count` items fit, then admit them (flow control for streams)."""
        while self.inflight + count > self.max_queue:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        self._admit(count)

    def _admit(self, count: int) -> None:
        self.inflight += count
        self.metrics.inflight.set(self.inflight)

    def _release(self, count: int) -> None:
        self.inflight -= count
        self.metrics.inflight.set(self.inflight)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    async def run(
        self, requests: Sequence[pb.VerifyRequest], cancel: threading.Event | None = None
    ) -> list[pb.VerifyResponse]:
        """Verify already-admitted `requests` off the event loop; release their slots when done.

        If the awaiting task is cancelled (client gone, deadline passed), `cancel` is set so work
        in flight stops and its worker processes are killed; CancelledError propagates.
        """
        cancel = cancel or threading.Event()
        arrival = time.perf_counter()
        lane = _slowest(lane_of(r) for r in requests)
        loop = asyncio.get_running_loop()
        count = len(requests)
        try:
            future: Future = self.lane(lane).submit(self._work, list(requests), cancel, arrival)
        except RuntimeError:  # executor shut down: the server is stopping
            self._release(count)
            raise
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release, count))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            cancel.set()
            raise

    def _work(
        self, requests: list[pb.VerifyRequest], cancel: threading.Event, arrival: float
    ) -> list[pb.VerifyResponse]:
        started = time.perf_counter()
        responses = core.verify_batch(requests, pool=self.pool, cancel=cancel)
        finished = time.perf_counter()
        for response in responses:
            self.metrics.observe(response, finished - arrival, started - arrival)
            if response.status in (pb.TIMEOUT, pb.ERROR):
                log.warning(
                    "item not verified",
                    extra={
                        "id": response.id,
                        "verifier": response.verifier,
                        "status": pb.Status.Name(response.status),
                        "detail": response.message,
                    },
                )
        return responses

    def shutdown(self) -> None:
        """Stop the threads once in-flight work has finished (call after the RPCs drained)."""
        self._closed = True
        for executor in self._lanes.values():
            executor.shutdown(wait=True, cancel_futures=True)
