"""Chat calls to OpenAI-compatible endpoints for the judge: bounded concurrency, retries, deadlines, a cache.

Every call of the process goes through one event loop in a daemon thread, so the concurrency limit
holds across all requests and threads, connections are reused, and synchronous callers (the core,
service executor threads) just wait for their results.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import os
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aiohttp

from rlvr.errors import RlvrError
from rlvr.verifier_server.engine.outcome import quote

#: Answers worth another attempt: the server is busy, rate-limiting or failed on its side.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CACHE_SIZE = 4096
T = TypeVar("T")


class EndpointTimeout(RlvrError, TimeoutError):
    """No usable answer before the call's deadline; the message says what the last attempt saw."""


class EndpointFailed(RlvrError, RuntimeError):
    """The endpoint answered with an error (or nothing readable) for good; `status` is the HTTP status."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ChatCall(Generic[T]):
    """One chat completion request and how to read its reply.

    `read` turns the reply text into a verdict or raises (ValueError): a reply is cached only when
    it reads. The cache key is the whole request (URL and body); the API key is not part of it.
    """

    url: str
    body: dict[str, Any]
    read: Callable[[str], T]
    api_key: str | None = field(default=None, repr=False)
    deadline: float = 60.0
    retries: int = 3
    concurrency: int = 8
    backoff: float = 0.5
    cache: bool = True

    def key(self) -> str:
        text = json.dumps({"url": self.url, "body": self.body}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ChatResult(Generic[T]):
    """A read verdict, or the exception that stands for it; `cached` when no request was sent."""

    verdict: T | None = None
    error: Exception | None = None
    cached: bool = False
    attempts: int = 0


class ChatRunner:
    """Runs ChatCalls on its own event loop thread; `run` may be called from any thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._session: aiohttp.ClientSession | None = None
        self._limits: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self.sent = 0  # requests sent, retries included (for tests and metrics)
        thread = threading.Thread(target=self._loop.run_forever, name="rlvr-llm-judge", daemon=True)
        thread.start()

    def run(self, calls: Sequence[ChatCall]) -> list[ChatResult]:
        """Send `calls` concurrently (within each endpoint's limit); one result per call, in order."""
        future: Future[list[ChatResult]] = asyncio.run_coroutine_threadsafe(self._gather(calls), self._loop)
        return future.result()

    def clear_cache(self) -> None:
        self._loop.call_soon_threadsafe(self._cache.clear)

    def close(self) -> None:
        if self._session is not None:
            asyncio.run_coroutine_threadsafe(self._session.close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _gather(self, calls: Sequence[ChatCall]) -> list[ChatResult]:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return list(await asyncio.gather(*(self._one(call) for call in calls)))

    async def _one(self, call: ChatCall) -> ChatResult:
        key = call.key() if call.cache else ""
        if key in self._cache:
            self._cache.move_to_end(key)
            return ChatResult(self._cache[key], cached=True)
        result: ChatResult = ChatResult()
        try:
            async with asyncio.timeout(call.deadline):
                reply = await self._send(call, result)
        except TimeoutError:
            result.error = EndpointTimeout(
                f"no answer from {call.url} within {call.deadline:g} s ({result.attempts} attempt(s)"
                + (f"; last: {result.error}" if result.error else "")
                + ")"
            )
            return result
        except EndpointFailed as exc:
            result.error = exc
            return result
        try:
            result.verdict = call.read(reply)
        except ValueError as exc:
            result.error = exc
            return result
        result.error = None
        if key:
            self._cache[key] = result.verdict
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return result

    async def _send(self, call: ChatCall, result: ChatResult) -> str:
        """The reply text of `call`, retrying connection failures and RETRYABLE_STATUSES with backoff."""
        assert self._session is not None
        limit = self._limits.setdefault((call.url, call.concurrency), asyncio.Semaphore(call.concurrency))
        headers = {"Authorization": f"Bearer {call.api_key}"} if call.api_key else {}
        while True:
            result.attempts += 1
            wait = call.backoff * 2 ** (result.attempts - 1) * (0.5 + random.random())
            async with limit:
                self.sent += 1
                try:
                    async with self._session.post(call.url, json=call.body, headers=headers) as answer:
                        text = await answer.text()
                        status, retry_after = answer.status, answer.headers.get("Retry-After", "")
                except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                    status, text, retry_after = 0, f"{type(exc).__name__}: {exc}", ""
            if status == 200:
                return _reply_text(text, call.url)
            if status and status not in RETRYABLE_STATUSES:
                raise EndpointFailed(
                    f"{call.url} answered HTTP {status}: {quote(_error_text(text), 200)}", status
                )
            failure = (
                f"HTTP {status}: {quote(_error_text(text), 120)}" if status else f"cannot connect ({text})"
            )
            if result.attempts > call.retries:
                raise EndpointFailed(
                    f"{call.url}: {failure} after {result.attempts} attempt(s)", status or None
                )
            result.error = EndpointFailed(failure, status or None)  # kept for the timeout message
            if retry_after.replace(".", "", 1).isdigit():
                wait = max(wait, float(retry_after))
            await asyncio.sleep(wait)


def _reply_text(body: str, url: str) -> str:
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise EndpointFailed(f"{url} did not answer a chat completion: {quote(body, 160)}", 200) from None
    return content if isinstance(content, str) else ""


def _error_text(body: str) -> str:
    """The `error.message` of an OpenAI-style error body, else the body itself."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return body.strip()
    return str(message)


_runner: ChatRunner | None = None
_runner_pid = 0
_runner_lock = threading.Lock()


def runner() -> ChatRunner:
    """The process's ChatRunner (a new one after fork: the parent's loop thread does not exist here)."""
    global _runner, _runner_pid
    with _runner_lock:
        if _runner is None or _runner_pid != os.getpid():
            _runner, _runner_pid = ChatRunner(), os.getpid()
        return _runner


@atexit.register
def _close() -> None:
    if _runner is not None and _runner_pid == os.getpid():
        _runner.close()
