"""The `openai` backend: completions from an OpenAI-compatible HTTP endpoint (vLLM, SGLang, llama.cpp, a
hosted API), for sampling and evaluation only (it cannot sync weights or return token ids).

Needs only aiohttp (a core dependency), never torch.
"""

from __future__ import annotations

import asyncio
import json
import queue
import random
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rlvr.agents.rollout.base import SamplingParams
from rlvr.errors import RlvrError

Api = Literal["chat", "completions"]
Prompt = str | Sequence[dict[str, str]]
#: HTTP statuses worth retrying: timeouts, rate limits, server-side failures.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class EndpointError(RlvrError, RuntimeError):
    """An endpoint request failed for good (after retries, or with a non-retryable answer).

    The message names the URL, the request (`label`) and what came back.
    """

    def __init__(self, message: str, *, label: str = "", status: int | None = None):
        super().__init__(f"{label}: {message}" if label else message)
        self.label = label
        self.status = status


@dataclass
class TextCompletion:
    """One choice of an endpoint answer.

    `finish_reason` is "stop" or "length" (what the server said; other values are kept as given);
    `completion_tokens` counts this choice's tokens when the server says so (per-choice logprobs,
    or the usage of a one-choice answer), else None; `logprobs` are the sampler's per-token
    log-probabilities when asked for and returned.
    """

    text: str
    finish_reason: str
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    logprobs: list[float] | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass
class EndpointRequest:
    """`n` completions of `prompt` (chat messages, or text for the completions API); `key` is the
    caller's handle, returned with the answer; `seed` is sent when set."""

    key: Any
    prompt: Prompt
    n: int = 1
    seed: int | None = None
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class OpenAIBackend:
    """Samples from `base_url` (e.g. "http://127.0.0.1:8000/v1") with at most `concurrency` requests
    in flight, each with a `timeout` (seconds) and up to `retries` retries on connection errors,
    timeouts, 408/429/5xx answers and unparsable bodies (exponential backoff from `backoff` seconds,
    with jitter; a Retry-After header is honoured). Other 4xx answers (a prompt over the context, a
    bad parameter) fail at once with the server's message.

    `api="chat"` posts to /chat/completions with messages; "completions" to /completions with text.
    `model` is the served name (None: the first of GET /models). `logprobs=True` asks for the
    sampled tokens' logprobs. `api_key` is sent as a bearer token.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api: Api = "chat",
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 0.5,
        logprobs: bool = True,
        extra_body: dict[str, Any] | None = None,
    ):
        if api not in ("chat", "completions"):
            raise ValueError(f"api={api!r}: pass 'chat' or 'completions'")
        if concurrency < 1:
            raise ValueError(f"concurrency={concurrency}: pass at least 1")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {base_url!r}: pass an http(s) URL such as http://127.0.0.1:8000/v1")
        self.base_url = base_url.rstrip("/")
        self.api: Api = api
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.logprobs = logprobs
        self.extra_body = dict(extra_body or {})
        self._model = model

    # -- discovery ----------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        if self._model is None:
            self._model = asyncio.run(self._first_model())
        return self._model

    async def _first_model(self) -> str:
        import aiohttp

        url = f"{self.base_url}/models"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.get(url, headers=self._headers()) as answer,
            ):
                body = await answer.text()
                if answer.status != 200:
                    raise EndpointError(f"GET {url} answered HTTP {answer.status}: {body[:300]}")
                models = [m["id"] for m in json.loads(body)["data"]]
        except EndpointError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise EndpointError(
                f"cannot reach {url} ({type(exc).__name__}: {exc}); is the server up?"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise EndpointError(
                f"GET {url} did not return a model list ({exc}); pass --served-model"
            ) from None
        if not models:
            raise EndpointError(f"GET {url} lists no models; pass the served model name")
        return str(models[0])

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    # -- sampling -----------------------------------------------------------------------------------

    def body(self, request: EndpointRequest, params: SamplingParams) -> dict[str, Any]:
        """The JSON body of one request (OpenAI field names; `top_k` only when set, a vLLM extension)."""
        body: dict[str, Any] = {
            "model": self.model,
            "n": request.n,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.top_k:
            body["top_k"] = params.top_k
        if request.seed is not None:
            body["seed"] = request.seed
        if self.api == "chat":
            body["messages"] = (
                [dict(m) for m in request.prompt]
                if not isinstance(request.prompt, str)
                else [{"role": "user", "content": request.prompt}]
            )
            if self.logprobs:
                body["logprobs"] = True
        else:
            body["prompt"] = request.prompt if isinstance(request.prompt, str) else _as_text(request.prompt)
            if self.logprobs:
                body["logprobs"] = 0
        return {**body, **self.extra_body, **request.extra}

    def complete(self, prompt: Prompt, params: SamplingParams, *, n: int = 1) -> list[TextCompletion]:
        """`n` completions of one prompt (blocking); raises `EndpointError` when the request fails."""
        [(_, result)] = list(self.stream([EndpointRequest(0, prompt, n)], params))
        if isinstance(result, EndpointError):
            raise result
        return result

    def stream(
        self, requests: Iterable[EndpointRequest], params: SamplingParams
    ) -> Iterator[tuple[EndpointRequest, list[TextCompletion] | EndpointError]]:
        """Send `requests` with bounded concurrency; yield each (request, choices or error) as it finishes.

        Runs an asyncio loop in a helper thread, so it can be consumed from plain synchronous code.
        A failed request yields its `EndpointError`; the others go on. Closing the iterator early
        cancels what is in flight.
        """
        out: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()
        done = object()
        model = self.model  # resolve before the loop starts: one discovery call, errors raised here

        def run() -> None:
            try:
                asyncio.run(self._run(iter(requests), params, out, stop, model))
            except BaseException as exc:  # surfaced in the consumer's thread
                out.put(exc)
            finally:
                out.put(done)

        thread = threading.Thread(target=run, name="rlvr-openai", daemon=True)
        thread.start()
        try:
            while True:
                item = out.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=self.timeout + 5)

    async def _run(
        self,
        requests: Iterator[EndpointRequest],
        params: SamplingParams,
        out: queue.Queue,
        stop: threading.Event,
        model: str,
    ) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers=self._headers()
        ) as session:
            pending: set[asyncio.Task] = set()
            exhausted = False
            while not stop.is_set():
                while not exhausted and len(pending) < self.concurrency:
                    request = next(requests, None)
                    if request is None:
                        exhausted = True
                        break
                    pending.add(asyncio.create_task(self._one(session, request, params)))
                if not pending:
                    break
                finished, pending = await asyncio.wait(
                    pending, timeout=0.5, return_when=asyncio.FIRST_COMPLETED
                )
                for task in finished:
                    out.put(task.result())
            for task in pending:
                task.cancel()

    async def _one(
        self, session: Any, request: EndpointRequest, params: SamplingParams
    ) -> tuple[EndpointRequest, list[TextCompletion] | EndpointError]:
        import aiohttp

        url = f"{self.base_url}/{'chat/completions' if self.api == 'chat' else 'completions'}"
        body = self.body(request, params)
        label = request.label or f"request {request.key}"
        problem = ""
        for attempt in range(self.retries + 1):
            delay = self.backoff * (2**attempt) * (0.5 + random.random())
            try:
                async with session.post(url, json=body) as answer:
                    text = await answer.text(errors="replace")
                    if answer.status == 200:
                        try:
                            return request, parse_choices(json.loads(text), self.api, request.n)
                        except (ValueError, KeyError, TypeError, IndexError) as exc:
                            problem = f"unparsable answer from {url} ({exc}): {text[:200]!r}"
                    else:
                        problem = f"{url} answered HTTP {answer.status}: {text[:300]}"
                        if answer.status not in RETRYABLE_STATUSES:
                            return request, EndpointError(problem, label=label, status=answer.status)
                        delay = max(delay, _retry_after(answer.headers.get("Retry-After")))
            except TimeoutError:
                problem = f"no answer from {url} within {self.timeout:g} s"
            except aiohttp.ClientError as exc:
                problem = f"cannot reach {url} ({type(exc).__name__}: {exc})"
            if attempt < self.retries:
                await asyncio.sleep(delay)
        return request, EndpointError(f"{problem} (after {self.retries + 1} attempts)", label=label)


def parse_choices(answer: dict[str, Any], api: Api, n: int) -> list[TextCompletion]:
    """The choices of an OpenAI chat or completions answer, in `index` order.

    Raises ValueError for an answer without choices or whose choices hold no text.
    """
    choices = answer["choices"]
    if not isinstance(choices, list) or not choices:
        raise ValueError("no choices")
    usage = answer.get("usage") or {}
    prompt_tokens = usage.get("prompt_tokens")
    out: list[TextCompletion] = []
    for choice in sorted(choices, key=lambda c: c.get("index", 0)):
        if api == "chat":
            text = choice["message"]["content"]
            content = (choice.get("logprobs") or {}).get("content")
            logprobs = [float(t["logprob"]) for t in content] if content else None
        else:
            text = choice["text"]
            token_logprobs = (choice.get("logprobs") or {}).get("token_logprobs")
            logprobs = [float(x) for x in token_logprobs if x is not None] if token_logprobs else None
        if not isinstance(text, str):
            raise ValueError(f"choice {choice.get('index', 0)} has no text")
        tokens = len(logprobs) if logprobs is not None else None
        if tokens is None and len(choices) == 1 and usage.get("completion_tokens") is not None:
            tokens = int(usage["completion_tokens"])
        out.append(
            TextCompletion(
                text=text,
                finish_reason=str(choice.get("finish_reason") or "stop"),
                completion_tokens=tokens,
                prompt_tokens=int(prompt_tokens) if prompt_tokens is not None else None,
                logprobs=logprobs,
            )
        )
    return out[:n]


def _as_text(messages: Sequence[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in messages)


def _retry_after(value: str | None) -> float:
    try:
        return min(float(value), 60.0) if value else 0.0
    except ValueError:
        return 0.0
