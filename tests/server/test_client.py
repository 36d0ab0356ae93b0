"""Client: round-robin over replicas, retry with backoff on UNAVAILABLE, sync and asyncio twins agree."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
import pytest
from server_testkit import RunningServer, echo, free_port, sleep

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server import AsyncClient, Client
from rlvr.verifier_server.service.client import NO_RETRY, RetryPolicy


def _verify_calls(running: RunningServer) -> float:
    registry = running.server.metrics.registry
    return registry.get_sample_value("rlvr_requests_total", {"rpc": "Verify", "code": "OK"}) or 0.0


@dataclass(frozen=True)
class RecordedRetries(RetryPolicy):
    """A retry policy that records each retry it grants (the event lets a test act between attempts)."""

    retried: threading.Event = field(default_factory=threading.Event, compare=False)

    def delay(self, retry: int) -> float:
        self.retried.set()
        return super().delay(retry)


def test_calls_are_spread_round_robin_over_the_targets(make_server):
    first, second = make_server(), make_server()
    with Client([first.target, second.target]) as client:
        answers = [client.verify(echo(f"r{i}")) for i in range(6)]
    assert all(a.status == pb.CORRECT for a in answers)
    assert (_verify_calls(first), _verify_calls(second)) == (3, 3)


def test_batch_chunks_go_to_every_target_and_come_back_in_order(make_server):
    first, second = make_server(), make_server()
    requests = [echo(f"c{i}", ground_truth="x" if i % 2 else "y") for i in range(40)]
    with Client([first.target, second.target]) as client:
        answers = client.verify_batch(requests, chunk_size=10)
    assert [a.id for a in answers] == [f"c{i}" for i in range(40)]
    assert [a.status for a in answers] == [pb.CORRECT if i % 2 else pb.INCORRECT for i in range(40)]
    for running in (first, second):
        calls = running.server.metrics.registry.get_sample_value(
            "rlvr_requests_total", {"rpc": "VerifyBatch", "code": "OK"}
        )
        assert calls == 2


def test_a_dead_replica_is_skipped_by_retrying_on_the_next_target(server):
    dead = f"127.0.0.1:{free_port()}"
    policy = RecordedRetries(attempts=3, initial_backoff=0.01)
    with Client([dead, server.target], retry=policy) as client:
        answers = [client.verify(echo(f"d{i}")) for i in range(4)]
    assert [a.status for a in answers] == [pb.CORRECT] * 4
    assert policy.retried.is_set()


def test_unavailable_server_is_retried_with_backoff_until_it_comes_up():
    port = free_port()
    policy = RecordedRetries(attempts=100, initial_backoff=0.02, max_backoff=0.1)
    with Client(f"127.0.0.1:{port}", retry=policy, timeout=60) as client, ThreadPoolExecutor(1) as executor:
        answer = executor.submit(client.verify, echo("late"))
        assert policy.retried.wait(30), "the first attempt should have failed with UNAVAILABLE"
        running = RunningServer(port=port)
        try:
            assert answer.result(60).status == pb.CORRECT
        finally:
            running.close()


def test_without_retries_unavailable_is_raised():
    with Client(f"127.0.0.1:{free_port()}", retry=NO_RETRY) as client, pytest.raises(grpc.RpcError) as caught:
        client.verify(echo("nowhere"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_async_client_matches_the_sync_client(make_server):
    first, second = make_server(), make_server()
    requests = [echo("a"), echo("b", ground_truth="y"), sleep("s", 0.0), "not json", {"id": "none"}]

    async def run() -> tuple[list[pb.VerifyResponse], list[pb.VerifyResponse], list[str], pb.VerifyResponse]:
        dead = f"127.0.0.1:{free_port()}"
        async with AsyncClient(
            [dead, first.target, second.target], retry=RetryPolicy(initial_backoff=0.01)
        ) as client:
            batch = await client.verify_batch(requests)
            one_by_one = [await client.verify(r) for r in requests]
            streamed = sorted([r.id async for r in client.stream(iter(requests[:3]))])
            names = [info.name for info in await client.list_verifiers()]
        return batch, one_by_one, streamed, names

    batch, one_by_one, streamed, names = asyncio.run(run())
    with Client(first.target) as client:
        expected = client.verify_batch(requests)
    for answers in (batch, one_by_one):
        assert [(a.id, a.status, a.reward) for a in answers] == [(e.id, e.status, e.reward) for e in expected]
    assert [e.status for e in expected] == [
        pb.CORRECT,
        pb.INCORRECT,
        pb.CORRECT,
        pb.INVALID_REQUEST,
        pb.INVALID_REQUEST,
    ]
    assert streamed == ["a", "b", "s"]
    assert "srv_echo" in names


def test_client_needs_a_target():
    with pytest.raises(ValueError, match="at least one target"):
        Client([])
