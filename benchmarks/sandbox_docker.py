"""Docker backend speed: a warm `docker exec` per run against a `docker run` per run, in the same run.

    python benchmarks/sandbox_docker.py              # 20 runs per case
    python benchmarks/sandbox_docker.py --runs 50

Cases (each the same tiny Python program, `print(1)`, unless named otherwise):
- `docker run --rm` per run with the backend's lockdown flags (the baseline the backend avoids);
- `docker exec` into a running container (the engine's floor for one exec; no limits, no cleanup);
- `DockerBackend.run` warm: exec with rlimits, files in, capped output, then the cleanup exec;
- `DockerBackend.run` of `true`, i.e. the backend's own overhead per run;
- `DockerBackend.run` from 2 threads at once (throughput on 2 warm containers);
- host `subprocess.run` without any sandbox (what isolation costs in total).
`docker_rows()` returns the table for benchmarks/sandbox.py; run alone, this prints it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from rlvr.sandbox import Limits, SandboxUnavailable
from rlvr.sandbox.docker_backend import IMAGE, DockerBackend

COLUMNS = ("docker case", "runs", "p50 ms", "p99 ms", "runs/s", "p50 vs docker run")
PROGRAM = "print(1)"
LOCKDOWN = [
    "--network=none",
    "--read-only",
    "--tmpfs=/work:rw,exec,size=64m",
    "--workdir=/work",
    "--memory=512m",
    "--memory-swap=512m",
    "--pids-limit=40",
    "--cpus=1",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    "--user=65534:65534",
    "--init",
]


def _timed(action: Callable[[], object], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return seconds


def _check(completed: subprocess.CompletedProcess[bytes]) -> None:
    if completed.returncode != 0 or completed.stdout != b"1\n":
        raise RuntimeError(f"benchmark program failed: {completed}")


def _docker_run() -> None:
    _check(
        subprocess.run(
            ["docker", "run", "--rm", *LOCKDOWN, IMAGE, "python3", "-c", PROGRAM], capture_output=True
        )
    )


def _row(case: str, seconds: list[float], baseline_p50: float, wall: float | None = None) -> tuple[str, ...]:
    ordered = sorted(seconds)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    rate = len(seconds) / (wall if wall is not None else sum(seconds))
    return (
        case,
        str(len(seconds)),
        f"{p50 * 1e3:.0f}",
        f"{p99 * 1e3:.0f}",
        f"{rate:.1f}",
        f"{p50 / baseline_p50:.2f}x",
    )


def docker_rows(runs: int = 20) -> list[tuple[str, ...]]:
    """The measured table (columns: COLUMNS), or one row saying why Docker could not be measured."""
    backend = DockerBackend(max_containers=2)
    try:
        backend.check()
    except SandboxUnavailable as e:
        return [("docker: unavailable", "0", "-", "-", "-", str(e).split(";")[0])]
    limits = Limits()
    command = ["python3", "-c", PROGRAM]

    def warm() -> None:
        result = backend.run(command, limits=limits)
        if not result.ok or result.stdout != b"1\n":
            raise RuntimeError(f"benchmark program failed: {result}")

    container = (
        subprocess.run(
            ["docker", "run", "-d", "--rm", *LOCKDOWN, IMAGE, "sleep", "infinity"],
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    try:
        warm()  # starts the warm container outside the timings, as a long-lived service would
        docker_run = _timed(_docker_run, runs)
        baseline = statistics.median(docker_run)
        exec_cli = _timed(
            lambda: _check(
                subprocess.run(["docker", "exec", container, "python3", "-c", PROGRAM], capture_output=True)
            ),
            runs,
        )
        backend_python = _timed(warm, runs)
        backend_true = _timed(lambda: backend.run(["true"], limits=limits), runs)
        with ThreadPoolExecutor(2) as threads:
            threads.submit(warm).result()  # the second warm container
            start = time.perf_counter()
            parallel = list(threads.map(lambda _: _timed(warm, 1)[0], range(2 * runs)))
            parallel_wall = time.perf_counter() - start
        host = _timed(
            lambda: _check(subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True)), runs
        )
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        backend.close()
    return [
        _row("docker run --rm per run (baseline)", docker_run, baseline),
        _row("docker exec CLI, warm container", exec_cli, baseline),
        _row("DockerBackend.run, warm", backend_python, baseline),
        _row("DockerBackend.run `true` (overhead)", backend_true, baseline),
        _row("DockerBackend.run, 2 threads", parallel, baseline, parallel_wall),
        _row("host subprocess, no sandbox", host, baseline),
    ]


def format_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A markdown table of `rows` under `columns`."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per case (default 20)")
    args = parser.parse_args()
    print(format_table(COLUMNS, docker_rows(args.runs)))


if __name__ == "__main__":
    main()
