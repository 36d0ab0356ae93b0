"""Execution model: deadlines, killed workers, cancellation, bounded queues, health and draining."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from server_testkit import PLUGIN, echo, free_port, sleep

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.service.client import NO_RETRY, AsyncClient, Client


def _wait_for(predicate, what: str, limit: float = 20.0) -> None:
    """Poll until `predicate()` holds; a limit only guards against a hung test, not a speed check."""
    give_up = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > give_up:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _scrape(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            lines = reply.read().decode().splitlines()
    except OSError:
        return None
    values = [float(line.split()[-1]) for line in lines if line.startswith(name + " ")]
    return values[0] if values else None


def _sample(server, name: str, **labels: str) -> float:
    return server.server.metrics.registry.get_sample_value(name, labels) or 0.0


def test_hung_check_is_timeout_while_other_requests_proceed(server):
    async def run() -> list[str]:
        finished: list[str] = []
        async with AsyncClient(server.target) as client:

            async def one(request: dict) -> pb.VerifyResponse:
                response = await client.verify(request)
                finished.append(response.id)
                return response

            hung = asyncio.create_task(
                one({"id": "hung", "verifier": "srv_spin", "response": "10^10^10^10", "timeout_seconds": 1})
            )
            others = await asyncio.gather(
                *(one(sleep(f"ok{i}", 0.05, n=i)) for i in range(6)), one(echo("inline"))
            )
            hung_response = await hung
        assert hung_response.status == pb.TIMEOUT
        assert "timed out" in hung_response.message
        assert hung_response.reward == 0.0
        assert all(r.status == pb.CORRECT for r in others)
        return finished

    finished = asyncio.run(run())
    assert finished[-1] == "hung"  # every other item came back before the hung one was given up


def test_worker_killed_with_sigkill_is_error_for_its_item_and_service_keeps_serving(server, tmp_path):
    pid_file = tmp_path / "pid"
    restarts = _sample(server, "rlvr_worker_restarts_total", reason="crash")
    with Client(server.target) as client:
        future = server.submit(asyncio.to_thread(client.verify, sleep("victim", 60, pid_file=str(pid_file))))
        _wait_for(lambda: pid_file.exists() and pid_file.read_text(), "the worker to start the item")
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        victim = future.result(30)
        assert victim.status == pb.ERROR
        assert "crashed" in victim.message
        after = [client.verify(sleep(f"after{i}", 0.0, n=i)) for i in range(4)]
    assert [r.status for r in after] == [pb.CORRECT] * 4
    assert _sample(server, "rlvr_worker_restarts_total", reason="crash") == restarts + 1


def test_client_deadline_cancels_the_item_and_frees_its_worker(make_server, tmp_path):
    running = make_server(workers=1)
    pid_file = tmp_path / "pid"
    with Client(running.target, retry=NO_RETRY) as client:
        with pytest.raises(grpc.RpcError) as caught:
            client.verify(sleep("abandoned", 60, pid_file=str(pid_file)), timeout=1.0)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        _wait_for(
            lambda: _sample(running, "rlvr_worker_restarts_total", reason="cancel") == 1, "the worker kill"
        )
        # The only worker is free again: a new item runs instead of waiting 60 s behind the abandoned one.
        assert client.verify(sleep("next", 0.0), timeout=30).status == pb.CORRECT
    assert int(pid_file.read_text()) not in running.server.pool.pids


def test_cancelled_stream_kills_its_running_items(make_server, tmp_path):
    running = make_server(workers=2)
    pid_files = [tmp_path / f"pid{i}" for i in range(2)]

    async def run() -> None:
        async with AsyncClient(running.target) as client:
            stream = client.stream([sleep(f"s{i}", 60, pid_file=str(p)) for i, p in enumerate(pid_files)])
            reader = asyncio.create_task(_drain(stream))
            while not all(p.exists() and p.read_text() for p in pid_files):
                await asyncio.sleep(0.02)
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader

    asyncio.run(run())
    _wait_for(
        lambda: _sample(running, "rlvr_worker_restarts_total", reason="cancel") == 2, "both workers killed"
    )
    _wait_for(lambda: running.server.dispatcher.inflight == 0, "the admission slots to be released")


async def _drain(stream) -> None:
    async for _ in stream:
        pass


def test_full_queue_is_resource_exhausted(make_server):
    running = make_server(workers=1, max_queue=2)
    with Client(running.target, retry=NO_RETRY) as client:
        with pytest.raises(grpc.RpcError) as caught:
            client.verify_batch([echo(str(i)) for i in range(3)])
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        busy = [running.submit(asyncio.to_thread(client.verify, sleep(f"b{i}", 1, n=i))) for i in range(2)]
        _wait_for(lambda: running.server.dispatcher.inflight == 2, "two items in flight")
        with pytest.raises(grpc.RpcError) as caught:
            client.verify(echo("one-too-many"))
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_queue=2" in caught.value.details()
        assert [f.result(30).status for f in busy] == [pb.CORRECT, pb.CORRECT]
        assert client.verify(echo("room-again")).status == pb.CORRECT


def test_stream_longer_than_the_queue_is_flow_controlled_not_refused(make_server):
    running = make_server(workers=1, max_queue=4, stream_window=2)
    with Client(running.target) as client:
        responses = list(
            client.stream([echo(f"s{i}") for i in range(30)] + [sleep(f"w{i}", 0, n=i) for i in range(6)])
        )
    assert sorted(r.id for r in responses) == sorted(
        [f"s{i}" for i in range(30)] + [f"w{i}" for i in range(6)]
    )
    assert all(r.status == pb.CORRECT for r in responses)


def test_health_is_serving_then_not_serving_while_draining(make_server):
    running = make_server()
    with grpc.insecure_channel(running.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        service = "rlvr.verifier.v1.Verifier"
        assert (
            stub.Check(health_pb2.HealthCheckRequest(service=service)).status
            == health_pb2.HealthCheckResponse.SERVING
        )
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=service))
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        with Client(running.target) as client:
            inflight = running.submit(asyncio.to_thread(client.verify, sleep("draining", 1.0)))
            _wait_for(lambda: running.server.dispatcher.inflight == 1, "the item to be in flight")
            stopping = running.submit(running.server.stop(grace=30))
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()  # an open Watch is an RPC in flight: it would hold the drain for the grace
            assert inflight.result(30).status == pb.CORRECT
            stopping.result(30)


def test_graceful_shutdown_answers_everything_in_flight_and_refuses_new_calls(make_server):
    running = make_server(workers=2)
    with Client(running.target, retry=NO_RETRY) as client:
        pending = [
            running.submit(asyncio.to_thread(client.verify, sleep(f"d{i}", 0.5, n=i))) for i in range(5)
        ]
        pending.append(
            running.submit(
                asyncio.to_thread(client.verify_batch, [sleep(f"db{i}", 0.2, n=i) for i in range(3)])
            )
        )
        _wait_for(lambda: running.server.dispatcher.inflight == 8, "all items in flight")
        running.stop(grace=30)
        answers = [f.result(30) for f in pending]
        flat = [r for a in answers for r in (a if isinstance(a, list) else [a])]
        assert sorted(r.id for r in flat) == sorted(
            [f"d{i}" for i in range(5)] + [f"db{i}" for i in range(3)]
        )
        assert all(r.status == pb.CORRECT for r in flat)
        with pytest.raises(grpc.RpcError) as caught:
            client.verify(echo("late"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.slow
def test_rlvr_serve_drains_on_sigterm_and_exits_cleanly(tmp_path):
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "RLVR_PLUGINS": PLUGIN,
        "PYTHONPATH": str(Path(__file__).parent),
        "RLVR_WORKERS": "2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "rlvr", "serve", "--port", str(port), "--metrics-port", str(metrics_port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with Client(f"127.0.0.1:{port}", retry=NO_RETRY) as client:
            grpc.channel_ready_future(client._channels[0]).result(timeout=60)
            with ThreadPoolExecutor(5) as executor:
                futures = [executor.submit(client.verify, sleep(f"t{i}", 1.0, n=i)) for i in range(4)]
                futures.append(
                    executor.submit(client.verify_batch, [sleep(f"e{i}", 0.1, n=i) for i in range(6)])
                )
                _wait_for(lambda: _scrape(metrics_port, "rlvr_inflight_items") == 10, "every call to arrive")
                process.send_signal(signal.SIGTERM)
                answers = [f.result(60) for f in futures]
        assert [a.status for a in answers[:4]] == [pb.CORRECT] * 4
        assert [r.status for r in answers[4]] == [pb.CORRECT] * 6
        assert process.wait(60) == 0
        log = process.stderr.read()
        assert '"msg": "draining"' in log and '"msg": "stopped"' in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_hung_sympy_check_and_hostile_program_time_out_while_real_requests_proceed(server):
    names = {info.name for info in Client(server.target).list_verifiers()}
    if not {"math", "code", "format"} <= names:
        pytest.skip("the math, code and format verifiers are not installed")
    hung_math = {
        "id": "hung-math",
        "verifier": "math",
        # sqrt(2): not a rational function, so the exact modular check cannot decide it fast
        "response": r"\boxed{(\sqrt{2}x+1)^{2000}-(x-1)^{2000}}",
        "ground_truth": "(x-1)^{2000}",
        "timeout_seconds": 0.5,
    }
    hostile = {
        "id": "hostile",
        "verifier": "code",
        "language": "python",
        "response": "```python\nwhile True:\n    pass\n```",
        "tests": [{"stdio": {"input": "", "output": "1\n"}}],
        "options": {"time_limit": 10},
        "timeout_seconds": 1,
    }
    healthy = [
        {"id": f"math{i}", "verifier": "math", "response": f"\\boxed{{{i}/2}}", "ground_truth": str(i / 2)}
        for i in range(1, 9)
    ] + [
        {"id": f"fmt{i}", "verifier": "format", "response": "<think>a</think><answer>b</answer>"}
        for i in range(8)
    ]

    async def run() -> tuple[list[str], dict[str, pb.VerifyResponse]]:
        finished: list[str] = []
        answers: dict[str, pb.VerifyResponse] = {}
        async with AsyncClient(server.target) as client:

            async def one(request: dict) -> None:
                answers[request["id"]] = await client.verify(request)
                finished.append(request["id"])

            slow = [asyncio.create_task(one(hung_math)), asyncio.create_task(one(hostile))]
            await asyncio.gather(*(one(r) for r in healthy))
            await asyncio.gather(*slow)
        return finished, answers

    finished, answers = asyncio.run(run())
    assert answers["hung-math"].status == pb.TIMEOUT
    assert answers["hostile"].status == pb.TIMEOUT
    assert all(answers[r["id"]].status == pb.CORRECT for r in healthy)
    assert finished[-1] == "hostile"  # no healthy item waited for the hostile program's deadline
