"""Every RPC of a real server on loopback answers as the in-process core does."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from server_testkit import echo, sleep

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier.v1 import verifier_pb2_grpc as pb_grpc
from rlvr.verifier_server.engine.messages import response_to_dict
from rlvr.verifier_server.service.client import NO_RETRY, AsyncClient, Client


def _same_answer(a: pb.VerifyResponse, b: pb.VerifyResponse) -> bool:
    return (a.id, a.status, a.reward, dict(a.components), a.message, a.verifier) == (
        b.id,
        b.status,
        b.reward,
        dict(b.components),
        b.message,
        b.verifier,
    )


def test_verify_answers_like_the_in_process_core(server):
    with Client(server.target) as client:
        for request in (echo("right"), echo("wrong", ground_truth="y")):
            assert _same_answer(client.verify(request), rlvr.verify(request))
        assert client.verify(echo("right")).status == pb.CORRECT
        assert client.verify(echo("wrong", ground_truth="y")).status == pb.INCORRECT


def test_verify_batch_keeps_request_order_and_answers_malformed_items_invalid(server):
    requests = [
        echo("a"),
        {"id": "unknown", "verifier": "no_such_verifier", "response": "x"},
        echo("b", ground_truth="y"),
        {"id": "no-truth", "verifier": "srv_echo", "response": "x"},
        {"id": "nothing", "response": "x"},
    ]
    with Client(server.target) as client:
        responses = client.verify_batch(requests)
    assert [r.id for r in responses] == ["a", "unknown", "b", "no-truth", "nothing"]
    assert [r.status for r in responses] == [
        pb.CORRECT,
        pb.INVALID_REQUEST,
        pb.INCORRECT,
        pb.INVALID_REQUEST,
        pb.INVALID_REQUEST,
    ]
    assert "no_such_verifier" in responses[1].message


def test_client_answers_unparsable_requests_invalid_without_losing_the_others(server):
    with Client(server.target) as client:
        responses = client.verify_batch(
            ['{"id": "broken"', echo("fine"), {"id": "bad", "tests": "not a list"}]
        )
    assert [r.status for r in responses] == [pb.INVALID_REQUEST, pb.CORRECT, pb.INVALID_REQUEST]
    assert responses[1].id == "fine"


def test_raw_grpc_batch_with_malformed_items_gets_invalid_request(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.VerifierStub(channel)
        reply = stub.VerifyBatch(
            pb.VerifyBatchRequest(
                requests=[pb.VerifyRequest(id="empty"), pb.VerifyRequest(id="e", verifier="srv_echo")]
            )
        )
    assert [r.status for r in reply.responses] == [pb.INVALID_REQUEST, pb.INVALID_REQUEST]
    assert [r.id for r in reply.responses] == ["empty", "e"]


def test_empty_batch_is_answered_empty(server):
    with grpc.insecure_channel(server.target) as channel:
        assert len(pb_grpc.VerifierStub(channel).VerifyBatch(pb.VerifyBatchRequest()).responses) == 0


def test_stream_returns_each_result_as_soon_as_ready_tagged_by_id(server):
    # The slow item goes first; the fast ones must come back before it, not in request order.
    requests = [sleep("slow", 1.0), echo("fast-1"), echo("fast-2", ground_truth="y"), sleep("quick", 0.0)]
    with Client(server.target) as client:
        responses = list(client.stream(iter(requests)))
    assert sorted(r.id for r in responses) == ["fast-1", "fast-2", "quick", "slow"]
    assert responses[-1].id == "slow"
    by_id = {r.id: r.status for r in responses}
    assert by_id == {"slow": pb.CORRECT, "fast-1": pb.CORRECT, "fast-2": pb.INCORRECT, "quick": pb.CORRECT}


def test_list_verifiers_includes_plugin_verifiers(server):
    with Client(server.target) as client:
        names = {info.name: info for info in client.list_verifiers()}
    assert {"srv_echo", "srv_sleep", "srv_spin"} <= set(names)
    assert names["srv_echo"].description == "test: response == ground_truth"


def test_many_concurrent_calls_are_all_answered(server):
    async def run() -> list[pb.VerifyResponse]:
        async with AsyncClient(server.target) as client:
            unary = [client.verify(echo(f"u{i}", ground_truth="x" if i % 3 else "y")) for i in range(150)]
            pooled = [client.verify(sleep(f"p{i}", 0.0, n=i)) for i in range(20)]
            batch = client.verify_batch([echo(f"b{i}") for i in range(100)], chunk_size=10)
            streamed = _collect(client.stream([echo(f"s{i}") for i in range(50)]))
            results = await asyncio.gather(*unary, *pooled, batch, streamed)
        return [r for item in results for r in (item if isinstance(item, list) else [item])]

    responses = asyncio.run(run())
    ids = [r.id for r in responses]
    assert len(ids) == len(set(ids)) == 150 + 20 + 100 + 50
    statuses = {r.id: r.status for r in responses}
    assert all(statuses[f"u{i}"] == (pb.CORRECT if i % 3 else pb.INCORRECT) for i in range(150))
    assert all(statuses[f"p{i}"] == pb.CORRECT for i in range(20))


async def _collect(stream) -> list[pb.VerifyResponse]:
    return [response async for response in stream]


def test_reflection_lists_the_verifier_service(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(stub.ServerReflectionInfo(iter([request])))
    names = {service.name for service in reply.list_services_response.service}
    assert {"rlvr.verifier.v1.Verifier", "grpc.health.v1.Health"} <= names


def _post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, object]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_gateway_round_trip_matches_grpc(server):
    status, answer = _post(f"{server.http}/verify", echo("g1"))
    assert status == 200
    with Client(server.target) as client:
        assert answer == response_to_dict(client.verify(echo("g1"))) | {
            "elapsedSeconds": answer["elapsedSeconds"]
        }
    status, answer = _post(
        f"{server.http}/verify_batch", {"requests": [echo("g2", ground_truth="y"), {"id": "g3"}]}
    )
    assert status == 200
    assert [(r["id"], r["status"]) for r in answer["responses"]] == [
        ("g2", "INCORRECT"),
        ("g3", "INVALID_REQUEST"),
    ]


def test_gateway_rejects_bodies_that_are_not_requests(server):
    assert _post(f"{server.http}/verify", b"{not json")[0] == 400
    assert _post(f"{server.http}/verify_batch", {"requests": "nope"})[0] == 400
    status, answer = _post(f"{server.http}/verify", {"id": "typed", "timeoutSeconds": "soon"})
    assert (status, answer["id"], answer["status"]) == (200, "typed", "INVALID_REQUEST")


def test_metrics_count_items_by_verifier_and_status(server):
    with Client(server.target) as client:
        client.verify(echo("m1", ground_truth="nope"))
    port = server.server.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    assert 'rlvr_items_total{status="INCORRECT",verifier="srv_echo"}' in text
    assert 'rlvr_item_latency_seconds_count{verifier="srv_echo"}' in text
    assert 'rlvr_queue_wait_seconds_count{verifier="srv_echo"}' in text
    assert 'rlvr_requests_total{code="OK",rpc="Verify"}' in text


def test_batch_over_max_batch_is_invalid_argument(make_server):
    running = make_server(max_batch=3)
    with Client(running.target, retry=NO_RETRY) as client, pytest.raises(grpc.RpcError) as caught:
        client.verify_batch([echo(str(i)) for i in range(4)])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_batch=3" in caught.value.details()
