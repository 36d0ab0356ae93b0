"""Sandbox overhead and throughput against a bare `subprocess.run`, measured in the same run.

Run: `python benchmarks/sandbox.py [--runs N] [--seconds S]`. Prints one table: median and p99
latency of `python3 -c 'print(1)'` bare and sandboxed (process backend) with the ratio, and
sandboxed runs/s with 2 concurrent slots. Docker rows come from `benchmarks/sandbox_docker.py`
when that module exists and Docker is available.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rlvr.sandbox import Limits, get_backend

PROGRAM = ["/usr/bin/python3", "-c", "print(1)"]
LIMITS = Limits(cpu_seconds=2.0, wall_seconds=10.0)


def bare_once() -> None:
    done = subprocess.run(PROGRAM, capture_output=True, check=True)
    assert done.stdout == b"1\n"


def sandboxed_once() -> None:
    result = get_backend("process").run(PROGRAM, limits=LIMITS)
    assert result.ok and result.stdout == b"1\n", result


def latencies(fn: Callable[[], None], runs: int) -> list[float]:
    fn()  # warm caches (page cache, slot lock files, bwrap's first start)
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def throughput(fn: Callable[[], None], workers: int, seconds: float) -> float:
    """Completed calls per second with `workers` threads calling `fn` back to back for `seconds`."""
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        n = 0
        while time.perf_counter() < deadline:
            fn()
            n += 1
        return n

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(lambda _: loop(), range(workers)))
    return total / (time.perf_counter() - start)


def p99(xs: list[float]) -> float:
    return sorted(xs)[min(len(xs) - 1, int(0.99 * len(xs)))]


def docker_rows() -> list[tuple[str, str, str, str]]:
    """Rows from benchmarks/sandbox_docker.py (the docker backend's own measurements), if present."""
    path = Path(__file__).with_name("sandbox_docker.py")
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location("sandbox_docker", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return [tuple(str(cell) for cell in row) for row in module.docker_rows()]
    except Exception as e:  # Docker missing or broken: say so in the table rather than crash
        return [("docker", "unavailable", type(e).__name__, str(e)[:60])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="sequential runs per latency row")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput row")
    args = parser.parse_args(argv)
    get_backend("process").check()

    bare = latencies(bare_once, args.runs)
    boxed = latencies(sandboxed_once, args.runs)
    bare_rate = throughput(bare_once, 2, args.seconds)
    boxed_rate = throughput(sandboxed_once, 2, args.seconds)
    ratio = statistics.median(boxed) / statistics.median(bare)

    rows = [
        ("bare subprocess.run", f"{statistics.median(bare) * 1e3:.1f}", f"{p99(bare) * 1e3:.1f}", "1.00x (baseline)"),
        ("process sandbox", f"{statistics.median(boxed) * 1e3:.1f}", f"{p99(boxed) * 1e3:.1f}",
         f"{ratio:.2f}x (target <= 1.3x)"),
        ("bare, 2 threads", "", "", f"{bare_rate:.0f} runs/s"),
        ("process sandbox, 2 slots", "", "", f"{boxed_rate:.0f} runs/s (target >= 60)"),
    ]  # fmt: skip
    rows += docker_rows()
    print(f"python3 -c 'print(1)', {args.runs} sequential runs; throughput over {args.seconds:.0f} s; "
          f"{os.cpu_count()} cpus; python {sys.version.split()[0]}")  # fmt: skip
    header = ("what", "p50 ms", "p99 ms", "ratio / rate")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main()
