"""Env overhead benchmark: reset+step against a direct `rlvr.verify` of the same request, and vector throughput.

Run: `python benchmarks/envs.py` (options: --steps, --num-envs, --group-size). Prints one table.
Target: the env adds at most 0.2 ms per step over the direct verify call (median).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium

import rlvr
import rlvr.envs

ANSWER = "<think>Computing {}.</think>\n<answer>{}</answer>"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def completion_for(env, salt: str) -> str:
    """A correct completion for the env's task. `salt` makes it unique, so no cache (the math
    verifier's, or batch dedupe) serves one side of the comparison from the other's work."""
    task = env.unwrapped.task
    if task.metadata.get("tags"):  # FormatOnly: fill every asked section
        return "".join(f"<{t}>{salt} \\boxed{{1}}</{t}>" for t in task.metadata["tags"])
    return ANSWER.format(salt, task.ground_truth)


def measure_env_overhead(env_id: str, steps: int) -> dict[str, float]:
    """Median / p99 of (reset + step) and of a direct verify of the same request, interleaved."""
    env = gymnasium.make(env_id)
    raw = env.unwrapped
    for i in range(20):  # warm the worker pool and imports
        env.reset(seed=i)
        env.step(completion_for(env, f"warm {i}"))
    # Tasks of the same generator and equally long completions on both sides, but never the same task:
    # the math verifier caches by (answer, ground truth), so a shared task would let one side ride on
    # the other's work. The env side pays for drawing the task, building the request and the info;
    # the direct side gets a ready request.
    tasks = []
    for i in range(steps):
        env.reset(seed=steps + i)
        tasks.append(raw.prepare_step(completion_for(env, f"b{i:05d}")))
    env_times, verify_times = [], []
    for i in range(steps):
        # Alternate which side goes first: a verifier cache warmed by one side must not favour the other.
        for side in ("env", "verify") if i % 2 else ("verify", "env"):
            started = time.perf_counter()
            if side == "env":
                env.reset(seed=i)
                env.step(completion_for(env, f"a{i:05d}"))
                env_times.append(time.perf_counter() - started)
            else:
                rlvr.verify(tasks[i])
                verify_times.append(time.perf_counter() - started)
    env_med, verify_med = statistics.median(env_times), statistics.median(verify_times)
    return {
        "env_p50_ms": env_med * 1e3,
        "env_p99_ms": percentile(env_times, 0.99) * 1e3,
        "verify_p50_ms": verify_med * 1e3,
        "verify_p99_ms": percentile(verify_times, 0.99) * 1e3,
        "overhead_ms": (env_med - verify_med) * 1e3,
    }


def measure_vector(env_id: str, num_envs: int, group_size: int, steps: int, **env_kwargs) -> dict[str, float]:
    """Completions/s of TextVectorEnv.step against one direct verify_batch of as many ready requests."""
    vec = gymnasium.make_vec(env_id, num_envs=num_envs, group_size=group_size, **env_kwargs)
    vec.reset(seed=0)

    def completions(salt: str) -> list[str]:
        return [completion_for(env, f"{salt}{i}") for i, env in enumerate(vec.envs)]

    for step in range(3):
        vec.step(completions(f"warm{step}-"))
    vec_time, batch_time = 0.0, 0.0
    for step in range(steps):
        actions = completions(f"a{step}-")
        requests = [env.prepare_step(action) for env, action in zip(vec.envs, completions(f"b{step}-"))]
        # Alternate which goes first: the second would find the math verifier's cache warm.
        if step % 2:
            batch_time += timed(lambda requests=requests: rlvr.verify_batch(requests))
            vec_time += timed(lambda actions=actions: vec.step(actions))
        else:
            vec_time += timed(lambda actions=actions: vec.step(actions))
            batch_time += timed(lambda requests=requests: rlvr.verify_batch(requests))
    total = num_envs * steps
    return {"vector_per_s": total / vec_time, "batch_per_s": total / batch_time}


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="episodes per single-env measurement")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--vector-steps", type=int, default=10)
    args = parser.parse_args(argv)

    single: list[tuple[str, Callable[[], dict[str, float]]]] = [
        (
            "rlvr/FormatOnly-v0 (format, inline)",
            lambda: measure_env_overhead("rlvr/FormatOnly-v0", args.steps),
        ),
        ("rlvr/Arithmetic-v0 (math, worker)", lambda: measure_env_overhead("rlvr/Arithmetic-v0", args.steps)),
        (
            "rlvr/WordProblems-v0 (math, worker)",
            lambda: measure_env_overhead("rlvr/WordProblems-v0", args.steps),
        ),
    ]
    widths = [38, 12, 12, 12, 12, 14, 8]
    print(
        f"reset+step vs direct rlvr.verify of a ready request of the same env ({args.steps} episodes, interleaved)"
    )
    print(
        row(["env", "env p50 ms", "env p99 ms", "verify p50", "verify p99", "overhead ms", "<=0.2?"], widths)
    )
    for name, run in single:
        r = run()
        cells = [
            name,
            f"{r['env_p50_ms']:.3f}",
            f"{r['env_p99_ms']:.3f}",
            f"{r['verify_p50_ms']:.3f}",
            f"{r['verify_p99_ms']:.3f}",
            f"{r['overhead_ms']:+.3f}",
            "yes" if r["overhead_ms"] <= 0.2 else "NO",
        ]
        print(row(cells, widths))
    print()
    print(
        f"TextVectorEnv.step vs one direct verify_batch ({args.num_envs} envs, groups of {args.group_size}; "
        f"{args.vector_steps} steps, 10x for format)"
    )
    widths = [38, 16, 16, 8]
    print(row(["env", "vector compl/s", "verify_batch/s", "ratio"], widths))
    for env_id, steps in (
        ("rlvr/FormatOnly-v0", args.vector_steps * 10),
        ("rlvr/Arithmetic-v0", args.vector_steps),
    ):
        r = measure_vector(env_id, args.num_envs, args.group_size, steps)
        ratio = r["vector_per_s"] / r["batch_per_s"]
        print(row([env_id, f"{r['vector_per_s']:.0f}", f"{r['batch_per_s']:.0f}", f"{ratio:.2f}"], widths))


if __name__ == "__main__":
    main()
