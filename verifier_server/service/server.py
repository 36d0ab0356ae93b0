"""The gRPC verifier service (`rlvr serve`): a thin grpc.aio servicer around the `verify` core."""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier.v1 import verifier_pb2_grpc as pb_grpc
from rlvr.verifier_server.engine import registry
from rlvr.verifier_server.engine.core import has_group_terms
from rlvr.verifier_server.engine.plugins import load_plugins
from rlvr.verifier_server.engine.pool import WorkerPool
from rlvr.verifier_server.service.config import ServerConfig
from rlvr.verifier_server.service.errors import PortUnavailable
from rlvr.verifier_server.service.execution import Dispatcher, Overloaded
from rlvr.verifier_server.service.metrics import ServerMetrics

log = logging.getLogger("rlvr.server")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Verifier"].full_name
_HEALTH_PREFIX = f"/{health.SERVICE_NAME}/"


class VerifierServicer(pb_grpc.VerifierServicer):
    """Decodes each RPC, hands its requests to the dispatcher (the core), encodes the answers.

    Unary and batch calls are refused with RESOURCE_EXHAUSTED when the queue is full; a stream
    instead stops reading until there is room (HTTP/2 flow control pushes back on the client).
    A client deadline or cancellation stops the call's work and frees its workers. A stream holds
    the members of a group whose reward has a group term (kimi_length, ...) until the group is whole
    (`group_size` members arrived, or the client closed its side) and verifies them together, so a
    group reward does not depend on how the requests were sent.
    """

    def __init__(self, dispatcher: Dispatcher, config: ServerConfig, metrics: ServerMetrics):
        self._dispatcher = dispatcher
        self._config = config
        self._metrics = metrics

    async def _verify(
        self, requests: list[pb.VerifyRequest], context: grpc.aio.ServicerContext
    ) -> list[pb.VerifyResponse]:
        try:
            self._dispatcher.try_admit(len(requests))
        except Overloaded as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        cancel = threading.Event()
        remaining = context.time_remaining()
        # The client stops listening at its deadline: stop the work then too, not only at our own.
        timer = (
            asyncio.get_running_loop().call_later(remaining, cancel.set) if remaining is not None else None
        )
        try:
            return await self._dispatcher.run(requests, cancel)
        finally:
            if timer is not None:
                timer.cancel()

    async def Verify(self, request: pb.VerifyRequest, context: grpc.aio.ServicerContext) -> pb.VerifyResponse:
        async with _RpcTracker(self._metrics, "Verify", context):
            return (await self._verify([request], context))[0]

    async def VerifyBatch(
        self, request: pb.VerifyBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyBatchResponse:
        async with _RpcTracker(self._metrics, "VerifyBatch", context):
            count = len(request.requests)
            if count > self._config.max_batch:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"batch of {count} requests exceeds max_batch={self._config.max_batch}; split it",
                )
            responses = await self._verify(list(request.requests), context) if count else []
            return pb.VerifyBatchResponse(responses=responses)

    async def VerifyStream(
        self, request_iterator: AsyncIterator[pb.VerifyRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.VerifyResponse]:
        async with _RpcTracker(self._metrics, "VerifyStream", context):
            async for response in self._stream(request_iterator):
                yield response

    async def _stream(
        self, request_iterator: AsyncIterator[pb.VerifyRequest]
    ) -> AsyncIterator[pb.VerifyResponse]:
        done = object()
        answers: asyncio.Queue[Any] = asyncio.Queue()
        window = asyncio.Semaphore(self._config.stream_window)
        cancel = threading.Event()
        running: set[asyncio.Task] = set()

        groups: dict[str, list[pb.VerifyRequest]] = {}  # group id -> members held until it is whole

        async def verify_some(requests: list[pb.VerifyRequest]) -> None:
            try:
                if len(requests) > self._dispatcher.max_queue:
                    for response in _too_large_group(requests, self._dispatcher.max_queue):
                        answers.put_nowait(response)
                    return
                # No await between admission and `run`, so a cancellation cannot leak the slots.
                await self._dispatcher.admit(len(requests))
                for response in await self._dispatcher.run(requests, cancel):
                    answers.put_nowait(response)
            finally:
                window.release()

        async def start(requests: list[pb.VerifyRequest]) -> None:
            await window.acquire()
            task = asyncio.create_task(verify_some(requests))
            running.add(task)
            task.add_done_callback(running.discard)

        async def read_requests() -> None:
            try:
                async for request in request_iterator:
                    if not (request.group_id and has_group_terms(request)):
                        await start([request])
                        continue
                    # Group terms need the whole group: hold members until it has `group_size`
                    # of them, or until the client closes its side of the stream.
                    members = groups.setdefault(request.group_id, [])
                    members.append(request)
                    if 0 < request.group_size <= len(members):
                        await start(groups.pop(request.group_id))
                for members in list(groups.values()):
                    await start(members)
                groups.clear()
                await asyncio.gather(*list(running))
                answers.put_nowait(done)
            except BaseException as exc:  # noqa: BLE001 - surfaced to the RPC below
                answers.put_nowait(exc)

        reader = asyncio.create_task(read_requests())
        try:
            while (answer := await answers.get()) is not done:
                if isinstance(answer, BaseException):
                    raise answer
                yield answer
        finally:
            if not reader.done():  # the client went away: stop everything this stream started
                cancel.set()
                reader.cancel()
                for task in list(running):
                    task.cancel()

    async def ListVerifiers(
        self, request: pb.ListVerifiersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListVerifiersResponse:
        async with _RpcTracker(self._metrics, "ListVerifiers", context):
            return pb.ListVerifiersResponse(verifiers=registry.list_verifiers())


def _too_large_group(requests: list[pb.VerifyRequest], max_queue: int) -> list[pb.VerifyResponse]:
    message = (
        f"group {requests[0].group_id!r} has {len(requests)} members, more than the server admits at "
        f"once (max_queue={max_queue}); use smaller groups or a larger --max-queue"
    )
    return [pb.VerifyResponse(id=r.id, status=pb.INVALID_REQUEST, message=message) for r in requests]


class _RpcTracker:
    """Counts an RPC by its final gRPC code and logs it at DEBUG."""

    def __init__(self, metrics: ServerMetrics, rpc: str, context: grpc.aio.ServicerContext):
        self._metrics, self._rpc, self._context = metrics, rpc, context

    async def __aenter__(self) -> None:
        self._started = time.perf_counter()

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if kind is None:
            code = grpc.StatusCode.OK
        elif issubclass(kind, asyncio.CancelledError):
            code = grpc.StatusCode.CANCELLED
        else:
            code = self._context.code() or grpc.StatusCode.UNKNOWN
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        self._metrics.requests.labels(self._rpc, name).inc()
        log.debug(
            "rpc",
            extra={"rpc": self._rpc, "code": name, "seconds": round(time.perf_counter() - self._started, 6)},
        )


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call without `authorization: Bearer <token>` (UNAUTHENTICATED), except health checks.

    Health stays open so load balancers and Kubernetes probes, which send no credentials, work.
    """

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(_HEALTH_PREFIX):
            return handler
        metadata = dict(details.invocation_metadata or ())
        given = metadata.get("authorization", "")
        given = given.encode() if isinstance(given, str) else given
        if hmac.compare_digest(given, self._expected):
            return handler
        return _refusal(handler)


def _refusal(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that aborts with UNAUTHENTICATED."""
    message = "missing or wrong bearer token: send metadata `authorization: Bearer <token>`"

    async def deny(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(
        deny,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _check_port_free(host: str, port: int) -> None:
    """Raise OSError if (host, port) is taken, before gRPC tries it (it logs a bind error to stderr
    and says only "Failed to bind")."""
    if not port:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        return  # let gRPC report an address it cannot resolve
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise RuntimeError(exc.strerror) from exc


class VerifierServer:
    """The whole service: gRPC (verifier, health, reflection), optional HTTP gateway and metrics.

    `await start()` binds every port (a port of 0 in the config for gRPC picks a free one; read
    `port`, `http_port`, `metrics_port` afterwards) and marks the service SERVING. `await stop()`
    drains: health turns NOT_SERVING, new calls are refused, calls in flight get up to
    `grace_seconds` to finish, then the workers are stopped.
    """

    def __init__(self, config: ServerConfig, pool: WorkerPool | None = None):
        self.config = config
        load_plugins(config.plugins)
        registry.list_verifiers()  # import the built-ins now, not during the first request
        self.metrics = ServerMetrics()
        self._own_pool = pool is None
        self.pool = pool or WorkerPool(
            config.workers,
            config.memory_limit_mb,
            imports=config.plugins,
            slow_after=config.slow_after,
            burst=config.burst_workers,
            nice=config.worker_nice,
            long_workers=config.long_workers,
            long_after=config.long_after,
        )
        self.metrics.watch_pool(self.pool)
        self.dispatcher = Dispatcher(self.pool, config.max_queue, config.threads, self.metrics)
        self.health = health.aio.HealthServicer()
        self.port = 0
        self.http_port = 0
        self.metrics_port = 0
        self._grpc: grpc.aio.Server | None = None
        self._gateway: Any = None
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        config = self.config
        max_bytes = config.max_message_mb * 1024 * 1024
        interceptors = [BearerTokenInterceptor(config.token)] if config.token else []
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", max_bytes),
                ("grpc.max_send_message_length", max_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        pb_grpc.add_VerifierServicer_to_server(
            VerifierServicer(self.dispatcher, config, self.metrics), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        address = f"{config.host}:{config.port}"
        try:
            _check_port_free(config.host, config.port)
            if config.tls:
                credentials = grpc.ssl_server_credentials(
                    [(Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())]
                )
                self.port = server.add_secure_port(address, credentials)
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError as exc:  # grpc says only "Failed to bind to address"
            await self._abandon()
            cause = exc.args[0] if isinstance(exc.__cause__, OSError) else None
            raise PortUnavailable("gRPC", config.host, config.port, "--port", cause) from exc
        await server.start()
        self._grpc = server
        if config.http_port:
            from rlvr.verifier_server.service.gateway import Gateway

            self._gateway = Gateway(self.dispatcher, config)
            try:
                self.http_port = await self._gateway.start()
            except OSError as exc:
                await self.stop(grace=0)
                raise PortUnavailable(
                    "the HTTP gateway", config.host, config.http_port, "--http-port", exc.strerror
                ) from exc
        if config.metrics_port:
            try:
                self.metrics_port = self.metrics.serve(config.host, config.metrics_port)
            except OSError as exc:
                await self.stop(grace=0)
                raise PortUnavailable(
                    "metrics", config.host, config.metrics_port, "--metrics-port", exc.strerror
                ) from exc
        for service in ("", SERVICE_NAME):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "serving",
            extra={
                "address": f"{config.host}:{self.port}",
                "tls": config.tls,
                "auth": bool(config.token),
                "workers": self.pool.size,
                "http_port": self.http_port,
                "metrics_port": self.metrics_port,
                "verifiers": [v.name for v in registry.list_verifiers()],
            },
        )

    async def _abandon(self) -> None:
        """Release what `__init__` started when `start` fails before anything listens."""
        await asyncio.to_thread(self.dispatcher.shutdown)
        if self._own_pool:
            await asyncio.to_thread(self.pool.close, 0)
        self._stopped.set()

    async def stop(self, grace: float | None = None) -> None:
        """Drain and stop (idempotent). `grace` overrides `config.grace_seconds`."""
        if self._grpc is None:
            return
        grace = self.config.grace_seconds if grace is None else grace
        log.info("draining", extra={"grace_seconds": grace, "inflight": self.dispatcher.inflight})
        await self.health.enter_graceful_shutdown()
        server, self._grpc = self._grpc, None
        stops = [server.stop(grace)]
        if self._gateway is not None:
            stops.append(self._gateway.stop())
        await asyncio.gather(*stops)
        self.metrics.stop()
        await asyncio.to_thread(self.dispatcher.shutdown)
        if self._own_pool:
            await asyncio.to_thread(self.pool.close, grace)
        self._stopped.set()
        log.info("stopped")

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


async def serve_until_signal(config: ServerConfig) -> None:
    """Run the service until SIGTERM or SIGINT, then drain and exit."""
    server = VerifierServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop()


def serve(config: ServerConfig) -> None:
    """Blocking entry point of `rlvr serve`."""
    from rlvr.verifier_server.service.logs import configure_logging

    configure_logging(config.log_level)
    asyncio.run(serve_until_signal(config))
