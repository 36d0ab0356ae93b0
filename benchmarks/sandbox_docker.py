"""Docker backend speed: a warm `docker exec` per run against a `docker run` per run, in the same run.

    python benchmarks/sandbox_docker.py              # 20 runs per case
    python benchmarks/sandbox_docker.py --runs 50

Cases (each the same tiny Python program, `print(1)`, unless named otherwise):
- `docker run --rm` per run with the backend's lockdown flags (the baseline the backend avoids);
- `docker exec` into a running container (the engine's floor for one exec; no limits, no cleanup);
- `DockerBackend.run` warm: one exec with rlimits and capped output, then the host-side check that
  nothing of the run is left (a cleanup exec only when something is);
- `DockerBackend.run` of `true`, i.e. the backend's own overhead per run;
- `DockerBackend.run` of `exit 137`: a status above 128, whose exit report a cleanup exec reads;
- runs/s from 2 threads at once: `docker run --rm` against the backend on 2 warm containers.
`COLUMNS` and `docker_rows()` are the table benchmarks/sandbox.py prints after its own; run alone,
this prints it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from rlvr.sandbox import Limits, RunResult, SandboxUnavailable
from rlvr.sandbox.docker import DockerBackend
from rlvr.sandbox.docker.backend import IMAGE

COLUMNS = ("docker case", "p50 ms", "p99 ms", "ratio / rate")
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


def _exits_137(result: RunResult) -> None:
    if (result.exit_code, result.signal) != (137, None):
        raise RuntimeError(f"`exit 137` was not read as exit code 137: {result}")


def _docker_run() -> None:
    _check(
        subprocess.run(
            ["docker", "run", "--rm", *LOCKDOWN, IMAGE, "python3", "-c", PROGRAM], capture_output=True
        )
    )


def _latency_row(case: str, seconds: list[float], baseline_p50: float) -> tuple[str, str, str, str]:
    ordered = sorted(seconds)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    ratio = "1.00x (baseline)" if p50 == baseline_p50 else f"{p50 / baseline_p50:.2f}x docker run"
    return (case, f"{p50 * 1e3:.0f}", f"{p99 * 1e3:.0f}", ratio)


def _rate(action: Callable[[], object], runs: int, threads: int = 2) -> float:
    """Calls per second of `action` run `runs` times from `threads` threads at once."""
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        list(pool.map(lambda _: action(), range(runs)))
        return runs / (time.perf_counter() - start)


def docker_rows(runs: int = 20) -> list[tuple[str, str, str, str]]:
    """The measured rows (columns: COLUMNS), or one row saying why Docker could not be measured."""
    backend = DockerBackend(max_containers=2)
    try:
        backend.check()
    except SandboxUnavailable as e:
        return [("docker", "unavailable", "", str(e).split(";")[0])]
    limits = Limits()
    command = ["python3", "-c", PROGRAM]

    def warm() -> None:
        result = backend.run(command, limits=limits)
        if not result.ok or result.stdout != b"1\n":
            raise RuntimeError(f"benchmark program failed: {result}")

    container = subprocess.run(
        ["docker", "run", "-d", "--rm", *LOCKDOWN, IMAGE, "sleep", "infinity"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    try:
        _rate(warm, 2)  # starts both warm containers outside the timings, as a long-lived service would
        docker_run = _timed(_docker_run, runs)
        exec_cli = _timed(
            lambda: _check(
                subprocess.run(
                    ["docker", "exec", container.strip(), "python3", "-c", PROGRAM], capture_output=True
                )
            ),
            runs,
        )
        backend_python = _timed(warm, runs)
        backend_true = _timed(lambda: backend.run(["true"], limits=limits), runs)
        backend_137 = _timed(lambda: _exits_137(backend.run(["sh", "-c", "exit 137"], limits=limits)), runs)
        docker_run_rate = _rate(_docker_run, runs)
        backend_rate = _rate(warm, 2 * runs)
    finally:
        subprocess.run(["docker", "rm", "-f", container.strip()], capture_output=True)
        backend.close()
    baseline = statistics.median(docker_run)
    return [
        _latency_row("docker run --rm per run", docker_run, baseline),
        _latency_row("docker exec CLI, warm container", exec_cli, baseline),
        _latency_row("docker backend, warm exec", backend_python, baseline),
        _latency_row("docker backend, `true`", backend_true, baseline),
        _latency_row("docker backend, `exit 137`", backend_137, baseline),
        ("docker run --rm, 2 threads", "", "", f"{docker_run_rate:.1f} runs/s (baseline)"),
        (
            "docker backend, 2 threads",
            "",
            "",
            f"{backend_rate:.1f} runs/s ({backend_rate / docker_run_rate:.1f}x)",
        ),
    ]


def format_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
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
