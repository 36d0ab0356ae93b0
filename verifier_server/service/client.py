"""Clients of the verifier service: `Client` (blocking) and `AsyncClient` (asyncio), one API."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier.v1 import verifier_pb2_grpc as pb_grpc
from rlvr.verifier_server.engine.core import invalid_response
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.groups import request_group, whole_group_chunks
from rlvr.verifier_server.engine.messages import RequestLike, to_request

Targets = str | Sequence[str]
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of a call that failed with UNAVAILABLE (replica down or restarting) or RESOURCE_EXHAUSTED
    (queue full). Each retry goes to the next target; the delay before retry n (from 0) is
    `min(max_backoff, initial_backoff * multiplier**n)` seconds scaled by a random factor in [0.5, 1]
    so that many clients do not retry in lock-step. Verification is idempotent, so retrying is safe.
    """

    attempts: int = 5
    initial_backoff: float = 0.05
    max_backoff: float = 2.0
    multiplier: float = 2.0

    def delay(self, retry: int) -> float:
        return min(self.max_backoff, self.initial_backoff * self.multiplier**retry) * random.uniform(0.5, 1.0)


NO_RETRY = RetryPolicy(attempts=1)


class _Endpoints:
    """Settings shared by both clients: targets in round-robin order, credentials, metadata, retries."""

    def __init__(
        self,
        targets: Targets,
        token: str | None,
        tls: bool | str | bytes,
        timeout: float | None,
        retry: RetryPolicy,
        max_message_mb: int,
    ):
        self.targets = [targets] if isinstance(targets, str) else list(targets)
        if not self.targets:
            raise ValueError("Client needs at least one target such as '127.0.0.1:50051'")
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None
        self.timeout = timeout
        self.retry = retry
        max_bytes = max_message_mb * 1024 * 1024
        self.options = [
            ("grpc.max_receive_message_length", max_bytes),
            ("grpc.max_send_message_length", max_bytes),
            # A "dns:///name:port" target resolving to several pods spreads calls over all of them.
            ("grpc.lb_policy_name", "round_robin"),
        ]
        self.credentials = _channel_credentials(tls)
        self._order = itertools.cycle(range(len(self.targets)))
        self._lock = threading.Lock()

    def stubs(self, channels: Any) -> tuple[list[Any], list[Any]]:
        """One channel per target from `channels` (`grpc` or `grpc.aio`) and a stub on each."""
        made = [
            channels.secure_channel(t, self.credentials, self.options)
            if self.credentials
            else channels.insecure_channel(t, self.options)
            for t in self.targets
        ]
        return made, [pb_grpc.VerifierStub(channel) for channel in made]

    def next_index(self) -> int:
        with self._lock:
            return next(self._order)

    def deadline(self, timeout: float | None) -> float | None:
        timeout = self.timeout if timeout is None else timeout
        return None if timeout is None else time.monotonic() + timeout

    def attempt_timeout(self, deadline: float | None) -> float | None:
        # Past the deadline a tiny timeout lets gRPC itself answer DEADLINE_EXCEEDED.
        return None if deadline is None else max(0.001, deadline - time.monotonic())

    def should_retry(self, error: grpc.RpcError, retry: int, deadline: float | None) -> float | None:
        """The delay before the next attempt, or None when `error` must be raised."""
        if error.code() not in _RETRYABLE or retry + 1 >= self.retry.attempts:
            return None
        delay = self.retry.delay(retry)
        if deadline is not None and time.monotonic() + delay >= deadline:
            return None
        return delay


def _channel_credentials(tls: bool | str | bytes) -> grpc.ChannelCredentials | None:
    if tls is False:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    root = tls if isinstance(tls, bytes) else Path(tls).read_bytes()
    return grpc.ssl_channel_credentials(root_certificates=root)


def _prepare(
    requests: Iterable[RequestLike],
) -> tuple[list[pb.VerifyResponse | None], list[tuple[int, pb.VerifyRequest]]]:
    """Convert requests as `rlvr.verify_batch` does: malformed ones are answered INVALID_REQUEST locally."""
    answers: list[pb.VerifyResponse | None] = []
    valid: list[tuple[int, pb.VerifyRequest]] = []
    for index, raw in enumerate(requests):
        try:
            valid.append((index, to_request(raw)))
            answers.append(None)
        except InvalidRequest as exc:
            answers.append(invalid_response(raw, str(exc)))
    return answers, valid


def _chunks(valid: list[tuple[int, pb.VerifyRequest]], size: int) -> list[list[tuple[int, pb.VerifyRequest]]]:
    """Chunks of about `size` requests, each `group_id` whole in one chunk (group terms need it)."""
    cut = whole_group_chunks(valid, size, lambda pair: request_group(pair[1]))
    return [[valid[i] for i in chunk] for chunk in cut]


class Client:
    """Blocking client of one or more verifier replicas (round-robin, retries on UNAVAILABLE).

    `targets`: "host:port" or a list of them (N stateless replicas; each call goes to the next).
    `token`: sent as `authorization: Bearer <token>`. `tls`: False (plaintext), True (system root
    certificates) or the root certificate(s) as a PEM path or bytes. `timeout`: default deadline of
    each call in seconds (None: no deadline), overridable per call. Requests may be VerifyRequest
    messages, dicts or JSON text, as for `rlvr.verify`; malformed ones are answered INVALID_REQUEST
    without a call. Failed calls raise `grpc.RpcError` once retries are exhausted.
    """

    def __init__(
        self,
        targets: Targets,
        *,
        token: str | None = None,
        tls: bool | str | bytes = False,
        timeout: float | None = 60.0,
        retry: RetryPolicy = RetryPolicy(),
        max_message_mb: int = 64,
    ):
        self._endpoints = _Endpoints(targets, token, tls, timeout, retry, max_message_mb)
        self._channels, self._stubs = self._endpoints.stubs(grpc)

    def _call(self, method: str, message: Any, timeout: float | None) -> Any:
        e = self._endpoints
        deadline = e.deadline(timeout)
        for retry in itertools.count():
            stub = self._stubs[e.next_index()]
            try:
                return getattr(stub, method)(
                    message, timeout=e.attempt_timeout(deadline), metadata=e.metadata
                )
            except grpc.RpcError as error:
                delay = e.should_retry(error, retry, deadline)
                if delay is None:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def verify(self, request: RequestLike, *, timeout: float | None = None) -> pb.VerifyResponse:
        """Verify one request; returns its VerifyResponse (statuses as in `rlvr.verify`)."""
        return self.verify_batch([request], timeout=timeout, chunk_size=1)[0]

    def verify_batch(
        self, requests: Iterable[RequestLike], *, timeout: float | None = None, chunk_size: int = 1024
    ) -> list[pb.VerifyResponse]:
        """Verify many requests; responses in request order. Chunks of about `chunk_size` requests
        go out concurrently, spread round-robin over the targets. A chunk never splits a group: all
        requests sharing a `group_id` go in one call wherever they sit in `requests` (a group larger
        than `chunk_size` is a chunk of its own), so group terms see the whole group.
        """
        answers, valid = _prepare(requests)
        chunks = _chunks(valid, chunk_size)
        if len(chunks) == 1:
            results = [self._send_chunk(chunks[0], timeout)]
        elif chunks:
            threads = min(len(chunks), 4 * len(self._stubs))
            with ThreadPoolExecutor(threads) as executor:
                results = list(executor.map(lambda chunk: self._send_chunk(chunk, timeout), chunks))
        else:
            results = []
        for chunk, responses in zip(chunks, results):
            for (index, _), response in zip(chunk, responses):
                answers[index] = response
        return answers  # type: ignore[return-value]

    def _send_chunk(
        self, chunk: list[tuple[int, pb.VerifyRequest]], timeout: float | None
    ) -> list[pb.VerifyResponse]:
        if len(chunk) == 1:
            return [self._call("Verify", chunk[0][1], timeout)]
        reply = self._call("VerifyBatch", pb.VerifyBatchRequest(requests=[r for _, r in chunk]), timeout)
        return list(reply.responses)

    def stream(
        self, requests: Iterable[RequestLike], *, timeout: float | None = None
    ) -> Iterator[pb.VerifyResponse]:
        """Send requests over one VerifyStream; yield each response as soon as it is ready (match by
        `id`, order is not kept). Malformed requests are answered INVALID_REQUEST locally, first
        come first served. Streams are not retried (some answers may already have arrived). Members
        of a group with a group term come back together once the group is whole: set `group_size`
        on them, or they wait for the end of `requests`.
        """
        e = self._endpoints
        local: list[pb.VerifyResponse] = []

        def messages() -> Iterator[pb.VerifyRequest]:
            for raw in requests:
                try:
                    yield to_request(raw)
                except InvalidRequest as exc:
                    local.append(invalid_response(raw, str(exc)))

        index = e.next_index()
        timeout = e.timeout if timeout is None else timeout
        for response in self._stubs[index].VerifyStream(messages(), timeout=timeout, metadata=e.metadata):
            while local:
                yield local.pop(0)
            yield response
        yield from local

    def list_verifiers(self, *, timeout: float | None = None) -> list[pb.VerifierInfo]:
        """The verifiers and named reward specs the server knows."""
        return list(self._call("ListVerifiers", pb.ListVerifiersRequest(), timeout).verifiers)

    def close(self) -> None:
        for channel in self._channels:
            channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The asyncio twin of `Client`: same arguments, same methods as coroutines (`stream` is an
    async iterator). Create it inside a running event loop.
    """

    def __init__(
        self,
        targets: Targets,
        *,
        token: str | None = None,
        tls: bool | str | bytes = False,
        timeout: float | None = 60.0,
        retry: RetryPolicy = RetryPolicy(),
        max_message_mb: int = 64,
    ):
        self._endpoints = _Endpoints(targets, token, tls, timeout, retry, max_message_mb)
        self._channels, self._stubs = self._endpoints.stubs(grpc.aio)

    async def _call(self, method: str, message: Any, timeout: float | None) -> Any:
        e = self._endpoints
        deadline = e.deadline(timeout)
        for retry in itertools.count():
            stub = self._stubs[e.next_index()]
            try:
                return await getattr(stub, method)(
                    message, timeout=e.attempt_timeout(deadline), metadata=e.metadata
                )
            except grpc.RpcError as error:
                delay = e.should_retry(error, retry, deadline)
                if delay is None:
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def verify(self, request: RequestLike, *, timeout: float | None = None) -> pb.VerifyResponse:
        """See `Client.verify`."""
        return (await self.verify_batch([request], timeout=timeout, chunk_size=1))[0]

    async def verify_batch(
        self, requests: Iterable[RequestLike], *, timeout: float | None = None, chunk_size: int = 1024
    ) -> list[pb.VerifyResponse]:
        """See `Client.verify_batch`; chunks go out concurrently."""
        answers, valid = _prepare(requests)
        chunks = _chunks(valid, chunk_size)
        results = await asyncio.gather(*(self._send_chunk(chunk, timeout) for chunk in chunks))
        for chunk, responses in zip(chunks, results):
            for (index, _), response in zip(chunk, responses):
                answers[index] = response
        return answers  # type: ignore[return-value]

    async def _send_chunk(
        self, chunk: list[tuple[int, pb.VerifyRequest]], timeout: float | None
    ) -> list[pb.VerifyResponse]:
        if len(chunk) == 1:
            return [await self._call("Verify", chunk[0][1], timeout)]
        reply = await self._call(
            "VerifyBatch", pb.VerifyBatchRequest(requests=[r for _, r in chunk]), timeout
        )
        return list(reply.responses)

    async def stream(
        self, requests: Iterable[RequestLike] | AsyncIterable[RequestLike], *, timeout: float | None = None
    ) -> AsyncIterator[pb.VerifyResponse]:
        """See `Client.stream`; `requests` may also be an async iterable."""
        e = self._endpoints
        local: list[pb.VerifyResponse] = []

        async def messages() -> AsyncIterator[pb.VerifyRequest]:
            source = requests if isinstance(requests, AsyncIterable) else _aiter(requests)
            async for raw in source:
                try:
                    yield to_request(raw)
                except InvalidRequest as exc:
                    local.append(invalid_response(raw, str(exc)))

        timeout = e.timeout if timeout is None else timeout
        call = self._stubs[e.next_index()].VerifyStream(messages(), timeout=timeout, metadata=e.metadata)
        async for response in call:
            while local:
                yield local.pop(0)
            yield response
        for response in local:
            yield response

    async def list_verifiers(self, *, timeout: float | None = None) -> list[pb.VerifierInfo]:
        """See `Client.list_verifiers`."""
        return list((await self._call("ListVerifiers", pb.ListVerifiersRequest(), timeout)).verifiers)

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self._channels))

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _aiter(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item
