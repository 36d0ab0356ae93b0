"""A group reward is the same however the caller cuts its requests: chunks, streams, unary calls."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.groups import (
    line_group,
    request_group,
    streamed_whole_group_chunks,
    whole_group_chunks,
)
from rlvr.verifier_server.engine.messages import to_request
from rlvr.verifier_server.service.client import AsyncClient, Client
from rlvr.verifier_server.service.config import ServerConfig
from rlvr.verifier_server.service.server import VerifierServer

from .conftest import WELL_FORMED

SPEC = {
    "name": "grouped",
    "terms": [
        {"name": "accuracy", "verifier": "format", "weight": 1.0},
        {
            "name": "length",
            "verifier": "kimi_length",
            "weight": 1.0,
            "options": {"unit": "chars"},
            "accuracy_term": "accuracy",
        },
    ],
}


def grouped_requests(groups: int = 5, size: int = 4, *, state_size: bool = True) -> list[dict[str, Any]]:
    """`groups` interleaved groups of `size`: lengths differ within a group, some answers malformed."""
    requests = []
    for member in range(size):
        for group in range(groups):
            response = WELL_FORMED + " " * (member * 3 + group) if (member + group) % 3 else "no tags"
            request = {"id": f"{group}-{member}", "group_id": f"g{group}", "response": response}
            requests.append({**request, "reward_spec": SPEC, **({"group_size": size} if state_size else {})})
    return requests


def rewards(answers: list[pb.VerifyResponse]) -> dict[str, tuple[float, int]]:
    return {a.id: (round(a.reward, 9), a.status) for a in answers}


WHOLE = rewards(rlvr.verify_batch(grouped_requests()))


def test_reference_answers_are_real_group_rewards():
    assert all(status in (pb.CORRECT, pb.INCORRECT) for _, status in WHOLE.values())
    assert len({reward for reward, _ in WHOLE.values()}) > 3


@pytest.mark.parametrize("size", range(1, 21))
def test_whole_group_chunks_keep_every_group_in_one_chunk_at_every_cut(size):
    requests = [to_request(r) for r in grouped_requests()]
    chunks = whole_group_chunks(requests, size, request_group)
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(requests)))
    homes = {requests[i].group_id: n for n, chunk in enumerate(chunks) for i in chunk}
    assert all(homes[requests[i].group_id] == n for n, chunk in enumerate(chunks) for i in chunk)
    assert all(len(chunk) <= max(size, 4) for chunk in chunks)


@pytest.mark.parametrize("state_size", [True, False])
@pytest.mark.parametrize("size", [1, 3, 4, 5, 7, 20])
def test_streamed_chunks_keep_order_and_groups_at_every_cut(size, state_size):
    # Contiguous groups (as in a JSONL file written group by group), with loose items between them.
    requests = []
    for group in range(5):
        requests += [r for r in grouped_requests(state_size=state_size) if r["group_id"] == f"g{group}"]
        requests.append({"id": f"loose{group}", "verifier": "format", "response": WELL_FORMED})
    items = [to_request(r) for r in requests]
    chunks = list(streamed_whole_group_chunks(items, size, request_group))
    assert [r.id for chunk in chunks for r in chunk] == [r.id for r in items]
    homes: dict[str, set[int]] = {}
    for n, chunk in enumerate(chunks):
        for request in chunk:
            if request.group_id:
                homes.setdefault(request.group_id, set()).add(n)
    assert all(len(home) == 1 for home in homes.values())
    answers = [a for chunk in chunks for a in rlvr.verify_batch(chunk)]
    grouped = {a.id: (round(a.reward, 9), a.status) for a in answers if not a.id.startswith("loose")}
    expected = WHOLE if state_size else rewards(rlvr.verify_batch(grouped_requests(state_size=False)))
    assert grouped == expected


def test_streamed_chunks_of_interleaved_sized_groups_wait_for_each_group():
    items = [to_request(r) for r in grouped_requests()]  # every group spans the whole stream
    chunks = list(streamed_whole_group_chunks(items, 3, request_group))
    assert [len(c) for c in chunks] == [len(items)]


def test_a_call_holding_part_of_a_sized_group_does_not_score_it():
    requests = grouped_requests()
    part = [r for r in requests if r["group_id"] == "g1"][:3]
    answers = rlvr.verify_batch(part)
    assert [a.status for a in answers] == [pb.INVALID_REQUEST] * 3
    assert "holds 3 of the 4 members of group 'g1'" in answers[0].message
    assert answers[0].components["accuracy"] in (0.0, 1.0)  # the per-completion terms still ran


def test_members_disagreeing_on_group_size_are_not_scored():
    requests = [r for r in grouped_requests() if r["group_id"] == "g0"]
    requests[0] = {**requests[0], "group_size": 5}
    answers = rlvr.verify_batch(requests)
    assert {a.status for a in answers} == {pb.INVALID_REQUEST}
    assert "different group_size values [4, 5]" in answers[0].message


def test_group_size_without_group_id_is_a_group_of_one():
    request = {"id": "x", "response": WELL_FORMED, "reward_spec": SPEC, "group_size": 2}
    assert rlvr.verify(request).status == pb.INVALID_REQUEST
    assert rlvr.verify({**request, "group_size": 1}).status == pb.CORRECT


# -- through the service ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Service:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        config = ServerConfig(port=0, workers=1, http_port=_free_port(), grace_seconds=2.0)
        self.server = VerifierServer(config)
        self.call(self.server.start())
        self.target = f"127.0.0.1:{self.server.port}"
        self.http = f"http://127.0.0.1:{self.server.http_port}"

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        self.call(self.server.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def service() -> Iterator[_Service]:
    running = _Service()
    yield running
    running.close()


def test_client_chunks_give_the_whole_batch_rewards_at_every_chunk_size(service):
    with Client(service.target) as client:
        for chunk_size in (1, 2, 3, 5, 7, 19, 1024):
            assert rewards(client.verify_batch(grouped_requests(), chunk_size=chunk_size)) == WHOLE


def test_async_client_chunks_give_the_whole_batch_rewards(service):
    async def run(chunk_size: int) -> list[pb.VerifyResponse]:
        async with AsyncClient(service.target) as client:
            return await client.verify_batch(grouped_requests(), chunk_size=chunk_size)

    for chunk_size in (1, 3, 6):
        assert rewards(asyncio.run(run(chunk_size))) == WHOLE


@pytest.mark.parametrize("state_size", [True, False])
def test_stream_gathers_each_group_before_scoring_it(service, state_size):
    requests = grouped_requests(state_size=state_size)
    expected = WHOLE if state_size else rewards(rlvr.verify_batch(grouped_requests(state_size=False)))
    with Client(service.target) as client:
        assert rewards(list(client.stream(requests))) == expected


def test_stream_answers_a_sized_group_as_soon_as_it_is_whole(service):
    done = threading.Event()
    requests = [to_request(r) for r in grouped_requests() if r["group_id"] == "g2"]

    def open_ended() -> Iterator[pb.VerifyRequest]:
        yield from requests
        done.wait(10)  # the stream stays open: the group must not wait for its end

    with Client(service.target) as client:
        stream = client.stream(open_ended())
        first = [next(stream) for _ in requests]
        done.set()
        list(stream)
    assert rewards(first) == {k: v for k, v in WHOLE.items() if k.startswith("2-")}


def test_gateway_batch_and_unary_agree_with_the_core(service):
    def post(path: str, body: Any) -> Any:
        request = urllib.request.Request(
            f"{service.http}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())

    answers = post("/verify_batch", {"requests": grouped_requests()})["responses"]
    assert {a["id"]: round(a.get("reward", 0.0), 9) for a in answers} == {k: v[0] for k, v in WHOLE.items()}
    single = post("/verify", grouped_requests()[0])
    assert single["status"] == "INVALID_REQUEST" and "holds 1 of the 4 members" in single["message"]


def test_jsonl_lines_are_cut_at_group_boundaries_as_the_cli_needs():
    lines = [json.dumps(r).encode() for r in sorted(grouped_requests(), key=lambda r: r["group_id"])]
    lines.insert(6, b"{not json")
    chunks = list(streamed_whole_group_chunks(lines, 3, line_group))
    assert [line for chunk in chunks for line in chunk] == lines
    answers = [a for chunk in chunks for a in rlvr.verify_batch(chunk)]
    assert rewards([a for a in answers if a.id]) == WHOLE
