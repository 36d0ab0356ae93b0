"""A minimal OpenAI-compatible HTTP server (GET /v1/models, POST /v1/chat/completions and /v1/completions)
over any completion function: an HF model through `hf_completer`, or a scripted one in tests.

For offline tests, benchmarks and demos of the `openai` backend; serve real models with vLLM, SGLang or
llama.cpp. Requests are generated one at a time in a worker thread, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from rlvr.agents.rollout.base import SamplingParams
from rlvr.agents.rollout.openai import TextCompletion

#: (prompt: chat messages or text, n, params) -> n completions; raise ValueError for a bad request.
Completer = Callable[[Any, int, SamplingParams], list[TextCompletion]]


def make_app(complete: Completer, model_name: str) -> Any:
    """An aiohttp `web.Application` answering the OpenAI routes with `complete`."""
    from aiohttp import web

    lock = threading.Lock()

    def locked(prompt: Any, n: int, params: SamplingParams) -> list[TextCompletion]:
        with lock:
            return complete(prompt, n, params)

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": model_name, "object": "model"}]})

    async def answer(request: web.Request, chat: bool) -> web.Response:
        try:
            body = await request.json()
            prompt = body["messages"] if chat else body["prompt"]
            n = int(body.get("n", 1))
            params = SamplingParams(
                max_new_tokens=int(body.get("max_tokens", 16)),
                temperature=float(body.get("temperature", 1.0)),
                top_p=float(body.get("top_p", 1.0)),
                top_k=int(body.get("top_k", 0)),
                seed=body.get("seed"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": {"message": f"bad request: {exc}"}}, status=400)
        loop = asyncio.get_running_loop()
        try:
            choices = await loop.run_in_executor(None, locked, prompt, n, params)
        except ValueError as exc:
            return web.json_response(
                {"error": {"message": str(exc), "type": "invalid_request_error"}}, status=400
            )
        want_logprobs = bool(body.get("logprobs")) or body.get("logprobs") == 0
        return web.json_response(_answer(choices, chat, model_name, want_logprobs))

    async def chat(request: web.Request) -> web.Response:
        return await answer(request, True)

    async def completions(request: web.Request) -> web.Response:
        return await answer(request, False)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/completions", completions)
    return app


def _answer(choices: Sequence[TextCompletion], chat: bool, model: str, logprobs: bool) -> dict[str, Any]:
    out = []
    for index, choice in enumerate(choices):
        item: dict[str, Any] = {"index": index, "finish_reason": choice.finish_reason}
        lps = choice.logprobs if logprobs and choice.logprobs is not None else None
        if chat:
            item["message"] = {"role": "assistant", "content": choice.text}
            item["logprobs"] = (
                {"content": [{"token": "", "logprob": x} for x in lps]} if lps is not None else None
            )
        else:
            item["text"] = choice.text
            item["logprobs"] = {"token_logprobs": lps} if lps is not None else None
        out.append(item)
    prompt_tokens = choices[0].prompt_tokens if choices else 0
    completion_tokens = sum(c.completion_tokens or 0 for c in choices)
    return {
        "id": f"cmpl-{time.monotonic_ns()}",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": out,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }


def hf_completer(model: Any, tokenizer: Any, *, max_context: int | None = None) -> Completer:
    """Completions from an HF causal LM with the `hf` rollout backend (chat prompts through its template)."""
    from rlvr.agents.collect import PromptEncoder
    from rlvr.agents.rollout.hf import HFBackend

    backend = HFBackend(model, tokenizer)
    chat_encoder = PromptEncoder(tokenizer, chat_template=True)
    text_encoder = PromptEncoder(tokenizer, chat_template=False)
    context = max_context or int(getattr(model.config, "max_position_embeddings", 4096))

    def complete(prompt: Any, n: int, params: SamplingParams) -> list[TextCompletion]:
        ids = text_encoder.prompt(prompt) if isinstance(prompt, str) else chat_encoder.prompt(prompt)
        if len(ids) + params.max_new_tokens > context:
            raise ValueError(
                f"this model's maximum context length is {context} tokens; the prompt is {len(ids)} tokens "
                f"and max_tokens is {params.max_new_tokens}"
            )
        generations = backend.generate([ids] * n, params)
        return [
            TextCompletion(
                text=tokenizer.decode(g.token_ids, skip_special_tokens=True),
                finish_reason=g.finish_reason,
                completion_tokens=len(g.token_ids),
                prompt_tokens=len(ids),
                logprobs=list(g.logprobs),
            )
            for g in generations
        ]

    return complete


class ServerThread:
    """Runs `app` on 127.0.0.1 in a background thread; `url` is its /v1 base. Use as a context manager."""

    def __init__(self, app: Any, port: int = 0):
        self.app, self.port = app, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="rlvr-openai-server", daemon=True)
        self._runner: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        from aiohttp import web

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self.app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the OpenAI-compatible test server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m rlvr.agents.rollout.openai_server --model DIR [--gguf-file F] [--port 8000]`: serve an HF model."""
    import argparse

    from aiohttp import web

    from rlvr.agents.policy import load_model, load_tokenizer

    parser = argparse.ArgumentParser(description="Serve an HF model as a minimal OpenAI-compatible endpoint.")
    parser.add_argument("--model", required=True, help="HF model dir")
    parser.add_argument("--gguf-file", default=None, help="GGUF file inside --model")
    parser.add_argument("--name", default=None, help="served model name (default: the dir's name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    model = load_model(args.model, gguf_file=args.gguf_file)
    model.eval()
    tokenizer = load_tokenizer(args.model, args.gguf_file)
    name = args.name or (args.gguf_file or args.model.rstrip("/").rsplit("/", 1)[-1])
    web.run_app(make_app(hf_completer(model, tokenizer), name), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
