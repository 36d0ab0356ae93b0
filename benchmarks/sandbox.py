"""Process-sandbox overhead and throughput against a bare `subprocess.run`, measured in the same run.

    python benchmarks/sandbox.py                  # 200 paired runs, 5 s per throughput row
    python benchmarks/sandbox.py --runs 50 --seconds 2 --no-docker

Latency rows time `python3 -c 'print(1)'` bare and sandboxed (the default backend, with its
per-slot memory cgroup where the host has one, and without it), interleaved pairwise so load
changes hit both alike (p50/p99, and the ratio of medians: the per-run overhead, target <= 1.3x).
Sandboxes are started ahead of demand, so a run's latency excludes the start; the CPU row shows
what each run costs in total (this process and all its children, the background starts included).
Throughput rows run it back to back from 2 threads (2 concurrent callers), one sandbox per run and
batched through `run_many` (target >= 150 runs/s on 2 cores). The Docker table comes from
`benchmarks/sandbox_docker.py` (`docker_rows()`) when that module and a Docker engine exist.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rlvr.sandbox import Limits, get_backend
from rlvr.sandbox.process.backend import ProcessBackend

PROGRAM = ["/usr/bin/python3", "-c", "print(1)"]
LIMITS = Limits(cpu_seconds=2.0, wall_seconds=10.0)
COLUMNS = ("case", "runs", "p50 ms", "p99 ms", "runs/s", "p50 vs bare")
BATCH = 16


def bare_once() -> int:
    done = subprocess.run(PROGRAM, capture_output=True, check=True)
    assert done.stdout == b"1\n"
    return 1


def sandboxed_once() -> int:
    result = get_backend("process").run(PROGRAM, limits=LIMITS)
    assert result.ok and result.stdout == b"1\n", result
    return 1


RLIMITS_ONLY = ProcessBackend(memory_cgroups=False)


def sandboxed_rlimits_only() -> int:
    result = RLIMITS_ONLY.run(PROGRAM, limits=LIMITS)
    assert result.ok and result.stdout == b"1\n", result
    return 1


def sandboxed_batch() -> int:
    results = get_backend("process").run_many(PROGRAM, stdins=[b""] * BATCH, limits=LIMITS)
    assert all(r.ok and r.stdout == b"1\n" for r in results), results
    return BATCH


def paired_latencies(
    a: Callable[[], int], b: Callable[[], int], runs: int
) -> tuple[list[float], list[float]]:
    """Seconds per call of `a` and of `b`, alternating which goes first."""
    a(), b()  # warm caches: page cache, slot lock files, the first bwrap start
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(runs):
        order = ((0, a), (1, b)) if i % 2 == 0 else ((1, b), (0, a))
        for slot, fn in order:
            start = time.perf_counter()
            fn()
            times[slot].append(time.perf_counter() - start)
    return times


def cpu_per_run(fn: Callable[[], int], runs: int) -> float:
    """CPU seconds per program run of `fn`: this process and every child it reaped."""

    def used() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    time.sleep(0.5)  # let the pool finish refilling from earlier rows
    before, done = used(), 0
    for _ in range(runs):
        done += fn()
    time.sleep(0.5)  # the last sandboxes' background teardown and the refill belong to these runs
    return (used() - before) / done


def throughput(fn: Callable[[], int], workers: int, seconds: float) -> float:
    """Program runs completed per second with `workers` threads calling `fn` back to back."""
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        done = 0
        while time.perf_counter() < deadline:
            done += fn()
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(lambda _: loop(), range(workers)))
    return total / (time.perf_counter() - start)


def percentile(xs: Sequence[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_row(case: str, xs: list[float], baseline: float) -> tuple[str, ...]:
    p50 = statistics.median(xs)
    return (
        case,
        str(len(xs)),
        f"{p50 * 1e3:.1f}",
        f"{percentile(xs, 0.99) * 1e3:.1f}",
        "",
        f"{p50 / baseline:.2f}x",
    )


def rate_row(case: str, rate: float, seconds: float) -> tuple[str, ...]:
    return (case, str(round(rate * seconds)), "", "", f"{rate:.0f}", "")


def docker_table() -> tuple[Sequence[str], list[tuple[str, ...]]] | None:
    """The docker helper's table from benchmarks/sandbox_docker.py, or None when that file is absent."""
    path = Path(__file__).with_name("sandbox_docker.py")
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("sandbox_docker", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return module.COLUMNS, [tuple(str(c) for c in row) for row in module.docker_rows()]
    except Exception as e:  # no engine, no image: report it in the output rather than fail the benchmark
        return ("docker", "error"), [("unavailable", f"{type(e).__name__}: {e}"[:100])]


def print_table(columns: Sequence[str], rows: list[tuple[str, ...]]) -> None:
    widths = [
        max(len(str(row[i])) if i < len(row) else 0 for row in [columns, *rows]) for i in range(len(columns))
    ]
    for row in [tuple(columns), tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="process sandbox overhead and throughput")
    parser.add_argument("--runs", type=int, default=200, help="paired runs for the latency rows")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput row")
    parser.add_argument("--no-docker", action="store_true", help="skip the docker table")
    args = parser.parse_args(argv)
    get_backend("process").check()

    bare, boxed = paired_latencies(bare_once, sandboxed_once, args.runs)
    baseline = statistics.median(bare)
    rows = [
        latency_row("bare subprocess.run (baseline)", bare, baseline),
        latency_row("process sandbox (default)", boxed, baseline),
    ]
    if get_backend("process").memory_cgroups:  # type: ignore[attr-defined]
        _, uncapped = paired_latencies(bare_once, sandboxed_rlimits_only, args.runs)
        rows.append(latency_row("process sandbox, no memory cgroup", uncapped, baseline))
    cpu_runs = max(20, args.runs // 4)
    bare_cpu, boxed_cpu = cpu_per_run(bare_once, cpu_runs), cpu_per_run(sandboxed_once, cpu_runs)
    rows += [
        rate_row("bare, 2 threads", throughput(bare_once, 2, args.seconds), args.seconds),
        rate_row("process sandbox, 2 slots", throughput(sandboxed_once, 2, args.seconds), args.seconds),
        rate_row(f"process sandbox, 2 slots, run_many x{BATCH}", throughput(sandboxed_batch, 2, args.seconds), args.seconds),
    ]  # fmt: skip
    print(
        f"python3 -c 'print(1)'; {os.cpu_count()} cpus; load {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}"
    )
    print_table(COLUMNS, rows)
    print(f"per-run overhead: {statistics.median(boxed) / baseline:.2f}x the bare median (target <= 1.3x)")
    print(
        f"CPU per run: bare {bare_cpu * 1e3:.1f} ms, sandboxed {boxed_cpu * 1e3:.1f} ms"
        f" ({boxed_cpu / bare_cpu:.2f}x; {cpu_runs} runs each)"
    )
    batched = float(rows[-1][4])
    print(f"run_many throughput: {batched:.0f} runs/s on {os.cpu_count()} cpus (target >= 150)")
    docker = None if args.no_docker else docker_table()
    if docker is not None:
        print()
        print_table(*docker)


if __name__ == "__main__":
    main()
