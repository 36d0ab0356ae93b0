"""Fixtures of the sampling tests: prompt files, a scripted OpenAI-compatible server on loopback (real
HTTP, no torch), and the tiny offline model (torch tests skip without it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlvr.agents.rollout.base import SamplingParams
from rlvr.agents.rollout.openai import TextCompletion
from rlvr.agents.rollout.openai_server import ServerThread, make_app

#: (question, answer) of the scripted prompts.
QUESTIONS = [("What is 2 plus 3?", "5"), ("What is 10 minus 4?", "6"), ("What is half of 9?", "9/2")]


def write_prompts(path: Path, rows: list[dict] | None = None) -> Path:
    rows = rows or [
        {"id": f"q{i}", "messages": [{"role": "user", "content": q}], "ground_truth": a}
        for i, (q, a) in enumerate(QUESTIONS)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


class Oracle:
    """A scripted policy: choice j of a request answers right when j is even (so pass@1 = 0.5 at n = 4),
    with "4.5" for 9/2 (equivalent, not identical) and a wrong number otherwise. Faults are switches."""

    def __init__(self) -> None:
        self.answers = dict(QUESTIONS)
        self.requests = 0
        self.fail_first = 0  # answer HTTP 503 to this many requests
        self.garbage_for: str | None = None  # a question answered with a non-JSON body
        self.ignore_n = False  # one choice whatever n asks (llama.cpp)
        self.delay_first = 0.0  # seconds the first request sleeps
        self.delay_each = 0.0  # seconds every request sleeps

    def complete(self, prompt, n: int, params: SamplingParams) -> list[TextCompletion]:
        question = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        answer = next((a for q, a in self.answers.items() if q in question), None)
        if answer is None:
            raise ValueError(
                f"this model's maximum context length is 64 tokens; the prompt is {len(question)} long"
            )
        out = []
        for j in range(1 if self.ignore_n else n):
            shown = ("4.5" if answer == "9/2" else answer) if j % 2 == 0 else "1000"
            text = f"Let me think. The answer is \\boxed{{{shown}}}."
            out.append(
                TextCompletion(
                    text, "stop", completion_tokens=8 + j, prompt_tokens=5, logprobs=[-0.1] * (8 + j)
                )
            )
        return out


@pytest.fixture
def oracle() -> Oracle:
    return Oracle()


@pytest.fixture
def oracle_server(oracle: Oracle) -> Iterator[ServerThread]:
    import asyncio

    from aiohttp import web

    @web.middleware
    async def faults(request, handler):
        if request.method == "POST":
            oracle.requests += 1
            if oracle.requests <= oracle.fail_first:
                return web.Response(status=503, text="overloaded")
            if oracle.delay_first and oracle.requests == 1:
                await asyncio.sleep(oracle.delay_first)
            if oracle.delay_each:
                await asyncio.sleep(oracle.delay_each)
            if oracle.garbage_for is not None:
                body = await request.json()
                if oracle.garbage_for in json.dumps(body):
                    return web.Response(status=200, text="<html>502 Bad Gateway</html>")
        return await handler(request)

    app = make_app(oracle.complete, "oracle")
    app.middlewares.append(faults)
    with ServerThread(app) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from rlvr.agents.tiny import build_tiny_model, env_corpus

    return build_tiny_model(
        tmp_path_factory.mktemp("tiny") / "model",
        env_corpus("rlvr/Arithmetic-v0", {"system_prompt": ""}, tasks=200),
        hidden_size=64,
    )
