"""A scriptable OpenAI-compatible chat endpoint on loopback, standing in for a judge server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from rlvr.agents.rollout.openai_server import ServerThread
from rlvr.verifier_server.verifiers.llm_judge.endpoint import runner

#: What the endpoint does for one request: reply text, an HTTP status, or (seconds to stall, then reply).
Answer = str | int | tuple[float, str]


@dataclass
class FakeJudge:
    """Answers each chat request with `answer(body)` (default: the next of `answers`, the last repeats).

    Records every request body and header set, and the most requests it ever had in flight at once.
    """

    answers: list[Answer] = field(default_factory=lambda: ["Score: 10"])
    delay: float = 0.0
    answer: Callable[[dict[str, Any]], Answer] | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    url: str = ""

    def user_texts(self) -> list[str]:
        return [body["messages"][-1]["content"] for body in self.bodies]

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = (
                self.answer(body)
                if self.answer
                else self.answers[min(len(self.bodies), len(self.answers)) - 1]
            )
            if isinstance(answer, tuple):
                stall, answer = answer
                await asyncio.sleep(stall)
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if isinstance(answer, int):
            error = {"error": {"message": f"scripted failure {answer}", "type": "server_error"}}
            return web.json_response(error, status=answer, headers={"Retry-After": "0"})
        message = {"role": "assistant", "content": answer}
        return web.Response(
            text=json.dumps({"object": "chat.completion", "choices": [{"index": 0, "message": message}]}),
            content_type="application/json",
        )


@pytest.fixture
def fake_judge() -> Iterator[FakeJudge]:
    judge = FakeJudge()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", judge.chat)
    runner().clear_cache()  # each test sees its own endpoint's answers, not an earlier test's verdicts
    with ServerThread(app) as server:
        judge.url = server.url
        yield judge
