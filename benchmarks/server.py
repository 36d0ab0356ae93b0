"""Load test of the verifier service: mixed traffic over many streams, and every path to the same work.

    python benchmarks/server.py                      # 10,000 mixed requests at 500 concurrent streams
    python benchmarks/server.py --requests 2000      # scaled down

Starts `rlvr serve` (gRPC + HTTP/JSON gateway) in a subprocess and drives it from this process:
1. unloaded latency: each healthy kind (format, math, code) alone, sent exactly as in section 2 at
   its share of the rate: the baseline of section 2;
2. mixed load: `--requests` items (format, math, code, with ~5 % pathological sympy inputs and ~5 %
   hostile programs) over `--streams` concurrent VerifyStreams, open loop at `--rate` items/s;
   throughput, p50/p99 per kind, statuses, p99 ratio to unloaded, how late TIMEOUT answers come
   after their deadline, lost items (must be 0), and the server's own histograms;
3. the same work by every path: in-process `verify_batch` (baseline), gRPC VerifyBatch, VerifyStream,
   unary Verify, and the HTTP/JSON gateway (batch and unary), for format and for math.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import grpc
from prometheus_client.parser import text_string_to_metric_families

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier.v1 import verifier_pb2_grpc as pb_grpc
from rlvr.verifier_server.engine import registry
from rlvr.verifier_server.engine.core import verify_batch
from rlvr.verifier_server.engine.messages import options_dict, request_to_dict
from rlvr.verifier_server.service.client import AsyncClient, Client

# ---------------------------------------------------------------- workload


def format_request(i: int, rng: random.Random) -> pb.VerifyRequest:
    good = rng.random() < 0.7
    body = f"<think>step {i}: {rng.randint(0, 10**6)}</think><answer>{i}</answer>"
    return pb.VerifyRequest(id=f"format-{i}", verifier="format", response=body if good else body[7:])


def math_request(i: int, rng: random.Random) -> pb.VerifyRequest:
    # Distinct numbers per request: no path benefits from another's cached parse.
    a, b = i * 1000 + rng.randint(1, 999), rng.randint(2, 999)
    right = rng.random() < 0.6
    answer = f"\\frac{{{a}}}{{{b}}}" if right else f"\\frac{{{a + 1}}}{{{b}}}"
    return pb.VerifyRequest(
        id=f"math-{i}",
        verifier="math",
        response=f"The answer is $\\boxed{{{answer}}}$.",
        ground_truth=f"{a}/{b}",
    )


_PATHOLOGICAL = (
    ("\\boxed{{(x+1)^{{{n}}}-(x-1)^{{{n}}}}}", "(x-1)^{{{n}}}"),  # huge symbolic expansion
    ("\\boxed{{10^{{10^{{10^{{{n}}}}}}}}}", "10^{{10^{{10^{{{n}}}}}}}+1"),  # exponent tower
    ("\\boxed{{((((((x+1)^2+1)^2+1)^2+1)^2+1)^2+{n})^{{{n}}}}}", "(x+{n})^{{{n}}}"),  # nested powers
    # sqrt(2) is not rational: no exact modular shortcut, so this one runs to its deadline
    ("\\boxed{{(\\sqrt{{2}}x+1)^{{{n}}}-(x-1)^{{{n}}}}}", "(x-1)^{{{n}}}"),
)


def pathological_math_request(i: int, rng: random.Random) -> pb.VerifyRequest:
    response, truth = rng.choice(_PATHOLOGICAL)
    n = rng.randint(1500, 2500)
    # A trainer sets a tight deadline; the pool kills the worker past it (+1 s grace).
    return pb.VerifyRequest(
        id=f"math_pathological-{i}",
        verifier="math",
        response=response.format(n=n),
        ground_truth=truth.format(n=n),
        timeout_seconds=1.0,
    )


def _code(program: str) -> str:
    return f"```python\n{program}\n```"


def code_request(i: int, rng: random.Random) -> pb.VerifyRequest:
    k = rng.randint(2, 9)
    right = rng.random() < 0.7
    program = f"print(int(input()) * {k if right else k + 1})"
    tests = [pb.TestCase(stdio=pb.StdioTest(input=f"{x}\n", output=f"{x * k}\n")) for x in (1, 7)]
    request = pb.VerifyRequest(id=f"code-{i}", verifier="code", language="python", response=_code(program))
    request.tests.extend(tests)
    request.options.update({"time_limit": 1})
    return request


_HOSTILE = (
    "while True:\n    pass",  # infinite loop
    "import os\nwhile True:\n    os.fork()",  # fork bomb
    "x = [0] * 10**10",  # memory hog
    "print('A' * 10**9)",  # output flood
    "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\nprint(2)",  # network
)


def hostile_code_request(i: int, rng: random.Random) -> pb.VerifyRequest:
    request = code_request(i, rng)
    request.id = f"code_hostile-{i}"
    request.response = _code(rng.choice(_HOSTILE))
    return request


HEALTHY = {"format": format_request, "math": math_request, "code": code_request}
MAKERS = {**HEALTHY, "math_pathological": pathological_math_request, "code_hostile": hostile_code_request}
MIX = {"format": 0.50, "math": 0.30, "code": 0.10, "math_pathological": 0.05, "code_hostile": 0.05}


def mixed_workload(count: int, rng: random.Random) -> list[pb.VerifyRequest]:
    """`MIX` of `count` requests (~50 % format, ~30 % math, ~10 % code, ~5 % pathological math, ~5 %
    hostile code), shuffled."""
    requests: list[pb.VerifyRequest] = []
    for name, share in MIX.items():
        requests.extend(MAKERS[name](len(requests) + i, rng) for i in range(round(count * share)))
    rng.shuffle(requests)
    return requests


def kind(response_id: str) -> str:
    return response_id.rsplit("-", 1)[0]


# ---------------------------------------------------------------- measuring


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Tally:
    """Latencies (s) and statuses per kind of request."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    errors: dict[str, str] = field(default_factory=dict)  # kind -> first ERROR message
    timed_out: dict[str, float] = field(default_factory=dict)  # id -> latency of a TIMEOUT answer
    latency_of: dict[str, float] = field(default_factory=dict)  # id -> latency

    def add(self, response: pb.VerifyResponse, latency: float) -> None:
        self.latencies[kind(response.id)].append(latency)
        self.latency_of[response.id] = latency
        if response.status == pb.TIMEOUT:
            self.timed_out[response.id] = latency
        self.statuses[kind(response.id)][pb.Status.Name(response.status)] += 1
        if response.status == pb.ERROR:
            self.errors.setdefault(kind(response.id), response.message[:160])


def deadline(request: pb.VerifyRequest) -> float:
    """The check's deadline in seconds (`timeout_seconds`, else the verifier's own), as the server computes it."""
    return registry.get_verifier(request.verifier).timeout_for(request, options_dict(request.options))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f}"


# ---------------------------------------------------------------- the server under test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`rlvr serve` in a subprocess with the gateway on; stopped with SIGTERM (drain) at exit."""

    def __init__(self, workers: int, extra: list[str]):
        self.port, self.http_port, self.metrics_port = free_port(), free_port(), free_port()
        command = [
            sys.executable,
            "-m",
            "rlvr",
            "serve",
            "--port",
            str(self.port),
            "--http-port",
            str(self.http_port),
        ]
        command += ["--metrics-port", str(self.metrics_port)]
        command += ["--workers", str(workers), "--max-queue", "100000", "--max-batch", "100000"]
        command += ["--stream-window", "64", "--log-level", "ERROR", *extra]
        self.process = subprocess.Popen(command)
        self.target = f"127.0.0.1:{self.port}"
        with grpc.insecure_channel(self.target) as channel:
            ready = grpc.channel_ready_future(channel)
            for _ in range(120):
                if self.process.poll() is not None:
                    raise RuntimeError(f"rlvr serve exited with code {self.process.returncode}: {command}")
                try:
                    ready.result(timeout=1)
                    return
                except grpc.FutureTimeoutError:
                    pass
            raise RuntimeError("rlvr serve did not become ready within 120 s")

    def scrape(self) -> dict[tuple[str, tuple], float]:
        """The server's Prometheus samples: (name, sorted labels) -> value."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(120)


# ---------------------------------------------------------------- 1. unloaded latency


def unloaded(
    target: str, per_kind: int, rate: float, streams: int, rng: random.Random
) -> dict[str, list[float]]:
    """Each healthy kind alone, sent as in section 2 (open loop at its share of `rate`, over
    `streams` streams): section 2's traffic of that kind without the rest of the load.

    Code runs a quarter as many (each starts a sandbox).
    """
    latencies: dict[str, list[float]] = {}
    for name, make in HEALTHY.items():
        count = per_kind if name != "code" else max(1, per_kind // 4)
        requests = [make(10_000_000 + i, rng) for i in range(count)]
        tally, _, _ = asyncio.run(mixed_load(target, requests, streams, rate * MIX[name]))
        latencies[name] = tally.latencies[name]
    return latencies


# ---------------------------------------------------------------- 2. mixed load over many streams


async def mixed_load(
    target: str, requests: list[pb.VerifyRequest], streams: int, rate: float
) -> tuple[Tally, float, int]:
    """Send `requests` over `streams` concurrent VerifyStreams; return tally, wall seconds, items lost.

    rate > 0: open loop, item i is sent at i / rate seconds (on stream i mod streams) whatever the
    answers, the way trainers submit. rate == 0: closed loop, each stream keeps one item in flight
    (the server is saturated by construction, so latency is queueing: Little's law).
    """
    tally = Tally()
    channel = grpc.aio.insecure_channel(target)
    stub = pb_grpc.VerifierStub(channel)
    started = time.perf_counter()

    async def one_stream(first: int) -> int:
        share = list(range(first, len(requests), streams))
        answered: asyncio.Queue[None] = asyncio.Queue()
        sent: dict[str, float] = {}

        async def outgoing():
            for index in share:
                if rate > 0:
                    await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
                sent[requests[index].id] = time.perf_counter()
                yield requests[index]
                if rate == 0:
                    await answered.get()

        received = 0
        async for response in stub.VerifyStream(outgoing()):
            tally.add(response, time.perf_counter() - sent[response.id])
            received += 1
            answered.put_nowait(None)
        return len(share) - received

    lost = sum(await asyncio.gather(*(one_stream(s) for s in range(min(streams, len(requests))))))
    elapsed = time.perf_counter() - started
    await channel.close()
    return tally, elapsed, lost


def histogram_quantile(samples: dict, name: str, verifier: str, q: float) -> float:
    """Upper bound of the bucket holding quantile `q` of a Prometheus histogram (seconds)."""
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (sample, labels), value in samples.items()
        if sample == f"{name}_bucket" and dict(labels).get("verifier") == verifier
    )
    total = buckets[-1][1] if buckets else 0
    return next((bound for bound, count in buckets if count >= q * total), float("nan"))


def print_server_view(samples: dict) -> None:
    print("server view (Prometheus buckets, upper bounds): queue wait and latency per verifier, ms")
    for verifier in ("format", "math", "code"):
        cells = [
            histogram_quantile(samples, metric, verifier, q) * 1000
            for metric in ("rlvr_queue_wait_seconds", "rlvr_item_latency_seconds")
            for q in (0.5, 0.99)
        ]
        print(
            f"  {verifier:<8} wait p50/p99 {cells[0]:.1f}/{cells[1]:.1f}   latency p50/p99 {cells[2]:.1f}/{cells[3]:.1f}"
        )
    restarts = {
        dict(labels)["reason"]: v for (n, labels), v in samples.items() if n == "rlvr_worker_restarts_total"
    }
    demoted = samples.get(("rlvr_pool_demoted_tasks", ()), 0)
    print(f"  worker restarts {restarts}, demoted checks {demoted:.0f}")


# ---------------------------------------------------------------- 3. the same work by every path


def chunked(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def bounded(jobs: list[Callable[[], Awaitable[int]]], concurrency: int) -> int:
    """Run jobs with at most `concurrency` at once; sum the item counts they return."""
    gate = asyncio.Semaphore(concurrency)

    async def run(job: Callable[[], Awaitable[int]]) -> int:
        async with gate:
            return await job()

    return sum(await asyncio.gather(*(run(job) for job in jobs)))


async def grpc_batch(target: str, requests: list[pb.VerifyRequest], size: int, concurrency: int) -> int:
    async with AsyncClient(target) as client:

        def job(chunk: list[pb.VerifyRequest]) -> Callable[[], Awaitable[int]]:
            async def call() -> int:
                return len(await client.verify_batch(chunk, chunk_size=size))

            return call

        return await bounded([job(c) for c in chunked(requests, size)], concurrency)


async def grpc_unary(target: str, requests: list[pb.VerifyRequest], concurrency: int) -> int:
    async with AsyncClient(target) as client:

        def job(request: pb.VerifyRequest) -> Callable[[], Awaitable[int]]:
            async def call() -> int:
                await client.verify(request)
                return 1

            return call

        return await bounded([job(r) for r in requests], concurrency)


async def grpc_stream(target: str, requests: list[pb.VerifyRequest], streams: int) -> int:
    async with AsyncClient(target) as client:

        async def one(share: list[pb.VerifyRequest]) -> int:
            return len([r async for r in client.stream(share)])

        return sum(await asyncio.gather(*(one(requests[s::streams]) for s in range(streams))))


async def http_batch(url: str, requests: list[pb.VerifyRequest], size: int, concurrency: int) -> int:
    bodies = [
        json.dumps({"requests": [request_to_dict(r) for r in chunk]}) for chunk in chunked(requests, size)
    ]
    async with aiohttp.ClientSession() as session:

        def job(body: str) -> Callable[[], Awaitable[int]]:
            async def call() -> int:
                async with session.post(f"{url}/verify_batch", data=body) as reply:
                    return len((await reply.json())["responses"])

            return call

        return await bounded([job(b) for b in bodies], concurrency)


async def http_unary(url: str, requests: list[pb.VerifyRequest], concurrency: int) -> int:
    bodies = [json.dumps(request_to_dict(r)) for r in requests]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        def job(body: str) -> Callable[[], Awaitable[int]]:
            async def call() -> int:
                async with session.post(f"{url}/verify", data=body) as reply:
                    await reply.json()
                    return 1

            return call

        return await bounded([job(b) for b in bodies], concurrency)


def in_process(requests: list[pb.VerifyRequest], size: int) -> int:
    return sum(len(verify_batch(chunk)) for chunk in chunked(requests, size))


def compare_paths(
    server: ServerProcess,
    name: str,
    make: Callable[[int, random.Random], pb.VerifyRequest],
    count: int,
    args: argparse.Namespace,
) -> None:
    """Each path verifies its own fresh `count` requests of one kind (unary paths 1/unary_fraction),
    so no path profits from another's caches."""
    url = f"http://127.0.0.1:{server.http_port}"
    rng = random.Random(args.seed)
    unary = max(1, count // args.unary_fraction)
    paths: list[tuple[str, int, Callable[[list[pb.VerifyRequest]], int]]] = [
        ("in-process verify_batch", count, lambda r: in_process(r, args.batch_size)),
        ("gRPC VerifyBatch", count, lambda r: asyncio.run(grpc_batch(server.target, r, args.batch_size, 4))),
        ("gRPC VerifyStream (16)", count, lambda r: asyncio.run(grpc_stream(server.target, r, 16))),
        ("gRPC Verify unary (64)", unary, lambda r: asyncio.run(grpc_unary(server.target, r, 64))),
        ("HTTP/JSON /verify_batch", count, lambda r: asyncio.run(http_batch(url, r, args.batch_size, 4))),
        ("HTTP/JSON /verify (64)", unary, lambda r: asyncio.run(http_unary(url, r, 64))),
    ]
    print(
        f"\n3. same {name} work by every path (batch size {args.batch_size}; unary paths on 1/{args.unary_fraction})"
    )
    print(f"{'path':<28}{'items':>8}{'seconds':>10}{'items/s':>11}{'vs in-process':>15}")
    baseline = None
    for number, (label, items, run) in enumerate(paths):
        requests = [make((number + 1) * 10_000_000 + i, rng) for i in range(items)]
        started = time.perf_counter()
        done = run(requests)
        seconds = time.perf_counter() - started
        assert done == items, f"{label}: {done} answers for {items} requests"
        rate = done / seconds
        baseline = baseline or rate
        print(f"{label:<28}{done:>8}{seconds:>10.2f}{rate:>11.0f}{rate / baseline:>14.2f}x")


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000, help="mixed requests in section 2")
    parser.add_argument("--streams", type=int, default=500, help="concurrent VerifyStreams in section 2")
    parser.add_argument("--rate", type=float, default=20.0, help="section 2 arrivals/s (0: closed loop)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    parser.add_argument(
        "--serve-args", default="", help="extra `rlvr serve` flags, e.g. '--burst-workers 64'"
    )
    parser.add_argument("--sections", default="1,2,3", help="which sections to run, e.g. 1,3")
    parser.add_argument(
        "--kinds", default="", help="keep only these kinds in section 2, e.g. format,math (default all)"
    )
    parser.add_argument("--format-requests", type=int, default=20_000, help="format requests in section 3")
    parser.add_argument("--math-requests", type=int, default=400, help="healthy math requests in section 3")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--unary-fraction", type=int, default=4, help="unary paths run 1/N of the items")
    parser.add_argument(
        "--unloaded", type=int, default=300, help="requests per healthy kind in section 1 (code: 1/4)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    print(
        f"cores: {os.cpu_count()}, server workers: {args.workers}, requests: {args.requests}, streams: {args.streams}"
    )
    server = ServerProcess(args.workers, args.serve_args.split())
    try:
        warm = [format_request(-1, rng), math_request(-1, rng), code_request(-1, rng)]
        with Client(server.target) as client:  # the server's workers import sympy on first use
            client.verify_batch(warm * 2)
        verify_batch(warm * 2)  # and so do this process's own (the in-process baseline)

        base = unloaded(server.target, args.unloaded, args.rate, args.streams, rng)
        print(
            f"\n1. unloaded latency: each healthy kind alone, paced as in section 2 ({args.unloaded} each), ms"
        )
        print(f"{'verifier':<22}{'p50':>9}{'p99':>10}")
        for name, samples in base.items():
            print(f"{name:<22}{ms(percentile(samples, 0.5))}{ms(percentile(samples, 0.99))}")

        if "2" in args.sections:
            requests = mixed_workload(args.requests, rng)
            if args.kinds:
                requests = [r for r in requests if kind(r.id) in args.kinds.split(",")]
            tally, seconds, lost = asyncio.run(mixed_load(server.target, requests, args.streams, args.rate))
            answered = sum(len(v) for v in tally.latencies.values())
            pacing = f"open loop at {args.rate:g}/s" if args.rate else "closed loop"
            print(
                f"\n2. mixed load ({pacing}): {len(requests)} requests over {args.streams} streams in {seconds:.1f} s: "
                f"{answered / seconds:.0f} items/s, lost = {lost}"
            )
            print(f"{'kind':<22}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'p99/unloaded':>14}  statuses")
            ratios: dict[str, float] = {}
            for name in sorted(tally.latencies):
                samples = tally.latencies[name]
                p99 = percentile(samples, 0.99)
                if name in base:
                    ratios[name] = p99 / percentile(base[name], 0.99)
                ratio = f"{ratios[name]:13.1f}x" if name in base else f"{'':>14}"
                statuses = ", ".join(f"{s}={n}" for s, n in tally.statuses[name].most_common())
                print(
                    f"{name:<22}{len(samples):>6}{ms(percentile(samples, 0.5))} {ms(p99)}{ratio}  {statuses}"
                )
            deadlines = {r.id: deadline(r) for r in requests}
            late = [latency - deadlines[i] for i, latency in tally.timed_out.items()]
            overdue = sum(latency > deadlines[i] + 0.5 for i, latency in tally.latency_of.items())
            print(
                f"TIMEOUT answers: {len(late)}, past their deadline by p50 {ms(percentile(late, 0.5)).strip()} ms, "
                f"max {ms(max(late, default=0.0)).strip()} ms; answers of any status later than deadline + 0.5 s: "
                f"{overdue}; lost: {lost}"
            )
            for name, message in sorted(tally.errors.items()):
                print(f"first ERROR of {name}: {message}")
            print(
                f"targets: format p99 {ratios.get('format', float('nan')):.2f}x and math p99 "
                f"{ratios.get('math', float('nan')):.2f}x unloaded (<= 2x), TIMEOUT at most "
                f"{max(late, default=0.0):.2f} s late (<= 0.5 s), lost {lost} (0)"
            )
            print_server_view(server.scrape())

        if "3" not in args.sections:
            return
        compare_paths(server, "format", format_request, args.format_requests, args)
        compare_paths(server, "math", math_request, args.math_requests, args)
    finally:
        code = server.stop()
        print(f"\nserver drained and exited with code {code}")


if __name__ == "__main__":
    main()
