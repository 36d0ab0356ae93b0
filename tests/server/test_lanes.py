"""Lanes and worker shares on a real server: slow kinds of work never hold up fast ones sent with them."""

from __future__ import annotations

import asyncio

import pytest
import rlvr_test_verifiers  # noqa: F401 - registers srv_model
from server_testkit import echo, sleep

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.service.client import AsyncClient, Client
from rlvr.verifier_server.service.execution import lane_of


def _math(request_id: str, value: int) -> dict:
    return {
        "id": request_id,
        "verifier": "math",
        "response": f"\\boxed{{{value}/2}}",
        "ground_truth": str(value / 2),
    }


def _format(request_id: str) -> dict:
    return {"id": request_id, "verifier": "format", "response": "<think>a</think><answer>b</answer>"}


def _model(request_id: str, seconds: float) -> dict:
    return {
        "id": request_id,
        "verifier": "srv_model",
        "response": request_id,
        "options": {"seconds": seconds},
    }


def _needs_builtins(target: str) -> None:
    names = {info.name for info in Client(target).list_verifiers()}
    if not {"math", "format"} <= names:
        pytest.skip("the math and format verifiers are not installed")


def test_each_request_names_the_lane_of_its_slowest_verifier():
    assert lane_of(pb.VerifyRequest(verifier="format")) == "inline"
    assert lane_of(pb.VerifyRequest(verifier="math")) == "pool"
    assert lane_of(pb.VerifyRequest(verifier="srv_model")) == "model"
    spec = pb.RewardSpec(terms=[pb.RewardTerm(verifier="format"), pb.RewardTerm(verifier="srv_model")])
    assert lane_of(pb.VerifyRequest(reward_spec=spec)) == "model"
    assert lane_of(pb.VerifyRequest(verifier="no_such_verifier")) == "inline"  # answered without work


def test_slow_model_verifier_does_not_delay_format_and_math_sent_with_it(make_server):
    running = make_server(threads=2)
    _needs_builtins(running.target)

    async def run() -> tuple[list[str], dict[str, pb.VerifyResponse]]:
        finished: list[str] = []
        answers: dict[str, pb.VerifyResponse] = {}
        async with AsyncClient(running.target) as client:

            async def one(request: dict) -> None:
                answers[request["id"]] = await client.verify(request)
                finished.append(request["id"])

            await one(_math("warm", 1))  # the worker's first sympy import is not what this measures
            # Twice as many model items as the lane has threads: the model lane is saturated.
            model = [asyncio.create_task(one(_model(f"model{i}", 2.0))) for i in range(4)]
            while running.server.dispatcher.inflight < 4:
                await asyncio.sleep(0.01)
            healthy = [_format(f"fmt{i}") for i in range(8)] + [_math(f"math{i}", i) for i in range(1, 9)]
            await asyncio.gather(*(one(r) for r in healthy + [echo("echo")]))
            await asyncio.gather(*model)
        return finished, answers

    finished, answers = asyncio.run(run())
    assert all(answers[f"model{i}"].status == pb.CORRECT for i in range(4))
    assert all(answers[i].status == pb.CORRECT for i in finished if i != "warm")
    first_model = min(finished.index(f"model{i}") for i in range(4))
    # Every format, math and inline check came back while the model lane was still busy.
    assert first_model == len(finished) - 4


def test_verifier_that_runs_long_stops_queueing_math_once_the_server_has_seen_it(make_server):
    # One regular worker and no demotion: only the long share can keep math from waiting.
    running = make_server(workers=1, long_workers=1, long_after=0.05, slow_after=60)
    _needs_builtins(running.target)
    with Client(running.target) as client:
        client.verify_batch([sleep(f"learn{i}", 0.1, n=i) for i in range(8)])  # the server learns its kind
        client.verify(_math("warm", 1))

    async def run() -> list[str]:
        finished: list[str] = []
        async with AsyncClient(running.target) as client:

            async def one(request: dict) -> None:
                assert (await client.verify(request)).status == pb.CORRECT
                finished.append(request["id"])

            slow = asyncio.create_task(one(sleep("slow", 3.0)))
            while running.server.pool.busy == 0:
                await asyncio.sleep(0.01)
            await asyncio.gather(*(one(_math(f"math{i}", i)) for i in range(1, 9)))
            await slow
        return finished

    assert asyncio.run(run())[-1] == "slow"
