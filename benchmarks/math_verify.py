"""Benchmark: rlvr's math verifier vs Hugging Face math-verify on the case table (speed and accuracy).

Run `python benchmarks/math_verify.py`. It installs nothing: install the baseline first with
`pip install 'math-verify[antlr4_13_2]'`. Measures, on one core and in one run:
  - rlvr direct: `MathVerifier().check` in this process (the work one worker does per request);
  - rlvr pool: `rlvr.verify_batch` through a 1-worker pool (adds process isolation and IPC);
  - math-verify: `verify(parse(gold), parse(answer))` with its default extraction configs.
Accuracy is agreement with the table's `expected` labels; a false accept is a must-not-match case
judged correct. "issue-10 cats" is the accuracy on the categories added for issue 10 (numeric
soundness, named functions, sums, non-English prose, ...), and the last table times the slowest
cases of both tools side by side (ratios in the same run, never a lone absolute time).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CASES = HERE.parent / "tests" / "math" / "cases.jsonl"
# This file is named like the baseline package; keep its folder off the path so `import math_verify` finds it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


#: the case-table categories added for issue 10 (reward correctness on real answers)
ISSUE_10_CATEGORIES = frozenset(
    {
        "numeric_soundness",
        "marked_unparseable",
        "named_functions",
        "sums",
        "equation_rearranged",
        "non_english",
        "approximation",
        "percent_bare",
        "trailing_backslash",
        "set_union",
        "abs_inequality",
    }
)


@dataclass
class Result:
    tool: str
    latencies: list[float]
    verdicts: list[bool]
    wall: float

    def row(self, expected: list[bool], new: list[bool]) -> list[str]:
        agree = sum(v == e for v, e in zip(self.verdicts, expected))
        false_accepts = sum(v and not e for v, e in zip(self.verdicts, expected))
        new_agree = sum(v == e for v, e, n in zip(self.verdicts, expected, new) if n)
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return [
            self.tool,
            f"{len(self.verdicts) / self.wall:,.0f}",
            f"{statistics.median(ordered) * 1e3:.2f}",
            f"{p99 * 1e3:.2f}",
            f"{agree / len(expected):.1%}",
            f"{new_agree / max(1, sum(new)):.1%}",
            str(false_accepts),
        ]


def load_cases(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def timed(tool: str, cases: list[dict], check: Callable[[dict], bool]) -> Result:
    latencies, verdicts = [], []
    started = time.perf_counter()
    for case in cases:
        begin = time.perf_counter()
        verdicts.append(check(case))
        latencies.append(time.perf_counter() - begin)
    return Result(tool, latencies, verdicts, time.perf_counter() - started)


def run_rlvr_direct(cases: list[dict]) -> Result:
    from rlvr.verifier.v1 import verifier_pb2 as pb
    from rlvr.verifier_server.verifiers.math import parse_reference
    from rlvr.verifier_server.verifiers.math.verifier import MathVerifier

    verifier = MathVerifier()
    requests = [
        pb.VerifyRequest(verifier="math", response=c["response"], ground_truth=c["ground_truth"])
        for c in cases
    ]
    by_id = {id(c): r for c, r in zip(cases, requests)}
    parse_reference.cache_clear()  # each distinct reference is parsed once, as in one GRPO group
    return timed(
        "rlvr (direct, 1 core)", cases, lambda c: verifier.check(by_id[id(c)], {}).status == pb.CORRECT
    )


def run_rlvr_pool(cases: list[dict]) -> Result:
    import rlvr
    from rlvr.verifier.v1 import verifier_pb2 as pb
    from rlvr.verifier_server.engine.pool import WorkerPool

    pool = WorkerPool(size=1)
    try:
        requests = [
            {"id": str(i), "verifier": "math", "response": c["response"], "ground_truth": c["ground_truth"]}
            for i, c in enumerate(cases)
        ]
        rlvr.verify_batch(requests[:5], pool=pool)  # start-up: the worker imports sympy once
        started = time.perf_counter()
        responses = rlvr.verify_batch(requests, pool=pool)
        wall = time.perf_counter() - started
    finally:
        pool.close()
    return Result(
        "rlvr (verify_batch, 1 worker)",
        [r.elapsed_seconds for r in responses],
        [r.status == pb.CORRECT for r in responses],
        wall,
    )


def run_math_verify(cases: list[dict]) -> Result:
    from math_verify import parse, verify

    def check(case: dict) -> bool:
        gold = case["ground_truth"]
        if "$" not in gold and "\\boxed" not in gold and "\\(" not in gold:
            gold = f"${gold}$"  # its LaTeX extraction wants delimiters; give it the form it expects
        try:
            return bool(verify(parse(gold), parse(case["response"])))
        except Exception:  # noqa: BLE001 - a crash in the baseline counts as "not accepted"
            return False

    return timed("math-verify", cases, check)


def print_table(results: list[Result], expected: list[bool], new: list[bool]) -> None:
    header = ["tool", "cases/s", "p50 ms", "p99 ms", "accuracy", "issue-10 cats", "false accepts"]
    _print_rows([header] + [r.row(expected, new) for r in results])


def print_slowest(cases: list[dict], direct: Result, baseline: Result, count: int = 6) -> None:
    """The slowest cases of either tool, with both tools' latency on each and their ratio."""
    slowest = sorted(
        range(len(cases)),
        key=lambda i: max(direct.latencies[i], baseline.latencies[i]),
        reverse=True,
    )[:count]
    rows = [["case", "category", "rlvr ms", "math-verify ms", "rlvr / math-verify"]]
    for i in slowest:
        ours, theirs = direct.latencies[i] * 1e3, baseline.latencies[i] * 1e3
        rows.append(
            [str(i), cases[i]["category"], f"{ours:.2f}", f"{theirs:.2f}", f"{ours / max(theirs, 1e-6):.2f}"]
        )
    _print_rows(rows)


def _print_rows(rows: list[list[str]]) -> None:
    header = rows[0]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases", type=Path, default=DEFAULT_CASES, help="JSONL case table (default: %(default)s)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed passes per tool; the fastest is reported"
    )
    args = parser.parse_args(argv)
    try:
        import math_verify

        version = importlib.metadata.version("math-verify")
        print(f"baseline: math-verify {version} from {Path(math_verify.__file__).parent}")
    except ImportError:
        print(
            "math-verify is not installed; install the baseline with:\n  pip install 'math-verify[antlr4_13_2]'"
        )
        return 2
    cases = load_cases(args.cases)
    expected = [bool(c["expected"]) for c in cases]
    new = [c["category"] in ISSUE_10_CATEGORIES for c in cases]
    print(
        f"{len(cases)} cases from {args.cases} ({sum(not e for e in expected)} must not match, "
        f"{sum(new)} in issue-10 categories)\n"
    )
    run_rlvr_direct(cases[:20])  # warm-up: imports and first-call costs, for both tools
    run_math_verify(cases[:20])
    direct = min((run_rlvr_direct(cases) for _ in range(args.repeat)), key=lambda r: r.wall)
    baseline = min((run_math_verify(cases) for _ in range(args.repeat)), key=lambda r: r.wall)
    pooled = run_rlvr_pool(cases)
    print_table([direct, pooled, baseline], expected, new)
    print("\nslowest cases (either tool):")
    print_slowest(cases, direct, baseline)
    ratio = (len(cases) / direct.wall) / (len(cases) / baseline.wall)
    print(f"\nthroughput ratio rlvr direct / math-verify: {ratio:.1f}x")
    for name, result in (("rlvr", direct), ("math-verify", baseline)):
        wrong = [i for i, (v, e) in enumerate(zip(result.verdicts, expected)) if v != e]
        print(f"{name} disagreements (case indexes): {wrong[:40]}{' ...' if len(wrong) > 40 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
