"""`rlvr eval`: pass@k, maj@k, best-of-N, rewards, lengths and statuses of sample records, per env and level.

Works on the JSON lines `rlvr sample` writes (docs/sampling.md). Unscorable samples (TIMEOUT, ERROR,
INVALID_REQUEST) are counted by status and left out of n: they are not wrong answers.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rlvr.agents.estimators import EstimatorError, answer_classes, best_of_n, maj_at_k, pass_at_k
from rlvr.verifier.v1 import verifier_pb2 as pb

#: JSON keys of one metrics block, in table order.
UNKNOWN = ("TIMEOUT", "ERROR", "INVALID_REQUEST", "STATUS_UNSPECIFIED")


def read_records(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a JSON-lines file and a message per line that is not one (named by its number).

    Invalid UTF-8 is replaced (U+FFFD), never fatal; an unparsable line is skipped and reported.
    """
    records, problems = [], []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8", errors="replace"))
                if not isinstance(record, dict) or "completion" not in record:
                    raise ValueError("not a sample record (no 'completion')")
                records.append(record)
            except ValueError as exc:
                problems.append(f"{path} line {number}: {exc}")
    return records, problems


def prompt_key(record: dict[str, Any]) -> tuple[str, Any, str]:
    return (str(record.get("source", "")), record.get("prompt_index"), str(record.get("task_id", "")))


def is_correct(record: dict[str, Any]) -> bool | None:
    """True / False for a scored sample, None when the verifier could not decide."""
    if "correct" in record:
        return record["correct"]
    status = str(record.get("status", ""))
    return None if status in UNKNOWN else status == "CORRECT"


def accuracy_verifier(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The verifier deciding correctness of a record (the spec's first term) and its options."""
    request = record.get("request") or {}
    options = dict(request.get("options") or {})
    terms = (request.get("reward_spec") or {}).get("terms") or []
    if terms:
        return str(terms[0].get("verifier", "")), {**options, **(terms[0].get("options") or {})}
    return str(request.get("verifier") or record.get("verifier") or ""), options


def final_answer(text: str, options: dict[str, Any]) -> str | None:
    """The final answer of a math completion as the math verifier extracts it (None: no answer)."""
    from rlvr.verifier_server.verifiers.math import ExtractConfig, extract_answer

    found = extract_answer(
        text, ExtractConfig(last_expression=bool(options.get("allow_last_expression", True)))
    )
    return found.text.strip() if found is not None else None


def math_equivalence(options: dict[str, Any], verify_batch: Callable | None = None) -> Callable:
    """`same(pairs)` for maj@k: a == b iff the math verifier judges answer a CORRECT against b."""
    from rlvr import verify_batch as local_verify_batch

    check = verify_batch or local_verify_batch

    def same(pairs: Sequence[tuple[str, str]]) -> list[bool]:
        requests = [
            {
                "id": str(i),
                "verifier": "math",
                "response": f"<answer>{a}</answer>",
                "ground_truth": b,
                "options": options,
            }
            for i, (a, b) in enumerate(pairs)
        ]
        return [r.status == pb.CORRECT for r in check(requests)]

    return same


def _length(record: dict[str, Any]) -> int:
    tokens = record.get("completion_tokens")
    return int(tokens) if tokens is not None else len(record.get("completion", ""))


def _prompt_stats(
    records: list[dict[str, Any]], ks: Sequence[int], maj: bool, seed: int, verify_batch: Callable | None
) -> dict[str, Any]:
    known = [r for r in records if is_correct(r) is not None]
    n, c = len(known), sum(bool(is_correct(r)) for r in known)
    out: dict[str, Any] = {"n": n, "c": c, "pass": {}, "maj": {}}
    for k in ks:
        out["pass"][k] = pass_at_k(n, c, k) if n >= k else None
    rewards = [float(r["reward"]) if is_correct(r) is not None else None for r in records]
    best = best_of_n(rewards, [_length(r) for r in records])
    out["best_reward"] = rewards[best] if best is not None else None
    out["best_correct"] = bool(is_correct(records[best])) if best is not None else None
    verifier, options = accuracy_verifier(records[0]) if records else ("", {})
    if maj and verifier == "math" and known:
        answers = [final_answer(r["completion"], options) for r in known]
        labels = answer_classes(answers, math_equivalence(options, verify_batch))
        votes: dict[int, list[bool]] = defaultdict(list)
        for label, record in zip(labels, known):
            if label is not None:
                votes[label].append(bool(is_correct(record)))
        correct = {label: sum(v) * 2 > len(v) for label, v in votes.items()}
        for k in ks:
            out["maj"][k] = maj_at_k(labels, correct, k, seed=seed) if n >= k else None
    return out


def _block(records: list[dict[str, Any]], prompts: list[dict[str, Any]], ks: Sequence[int]) -> dict[str, Any]:
    statuses = Counter(str(r.get("status", "")) for r in records)
    scored = [r for r in records if is_correct(r) is not None]
    lengths = [_length(r) for r in records]
    components: dict[str, list[float]] = defaultdict(list)
    for r in scored:
        for name, value in (r.get("components") or {}).items():
            components[name].append(float(value))
    block: dict[str, Any] = {
        "prompts": len(prompts),
        "samples": len(records),
        "scored": len(scored),
        "pass@k": {},
        "maj@k": {},
        "best_of_n": {
            "n": max((p["n"] for p in prompts), default=0),
            "reward": _mean(p["best_reward"] for p in prompts),
            "correct": _mean(p["best_correct"] for p in prompts),
        },
        "mean_reward": _mean(float(r["reward"]) for r in scored),
        "components": {name: statistics.fmean(v) for name, v in sorted(components.items())},
        "length": {
            "mean": statistics.fmean(lengths) if lengths else math.nan,
            "p50": statistics.median(lengths) if lengths else math.nan,
            "max": max(lengths, default=0),
            "truncated": _mean(r.get("finish_reason") == "length" for r in records),
            "unit": "tokens" if records and records[0].get("completion_tokens") is not None else "chars",
        },
        "status": dict(sorted(statuses.items())),
    }
    for k in ks:
        values = [p["pass"][k] for p in prompts]
        block["pass@k"][str(k)] = _mean(values) if values and None not in values else None
        majs = [p["maj"].get(k) for p in prompts if p["maj"]]
        if majs:
            block["maj@k"][str(k)] = _mean(majs) if None not in majs else None
    return block


def _mean(values: Iterable[Any]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return statistics.fmean(kept) if kept else None


def evaluate(
    records: Sequence[dict[str, Any]],
    ks: Sequence[int],
    *,
    maj: bool = True,
    seed: int = 0,
    verify_batch: Callable | None = None,
) -> dict[str, Any]:
    """The metrics of `records` overall and per (env, difficulty): a JSON-ready dict.

    `"pass@k"` and `"maj@k"` map each k (a string) to its mean over prompts; a k larger than some
    prompt's scored samples gives null there and a message in `"errors"`. maj@k is computed for
    math-verified records only (answers grouped by the math verifier, ties credited 1/m).
    """
    if not ks or any(k < 1 for k in ks):
        raise EstimatorError(f"k values {list(ks)}: pass positive integers, e.g. --k 1,4,16")
    ks = sorted(set(ks))
    by_prompt: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_prompt[prompt_key(record)].append(record)
    prompt_stats = {}
    for key, group in by_prompt.items():
        group.sort(key=lambda r: r.get("sample_index", 0))
        prompt_stats[key] = {**_prompt_stats(group, ks, maj, seed, verify_batch), "records": group}
    report = _block(list(records), list(prompt_stats.values()), ks)
    errors = []
    for k in ks:
        short = [p["n"] for p in prompt_stats.values() if p["n"] < k]
        if short:
            errors.append(
                f"k={k} is larger than the scored samples of {len(short)} of {len(prompt_stats)} prompts "
                f"(smallest n={min(short)}): pass@{k} not reported; sample more (--n) or lower k"
            )
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for key, stats in prompt_stats.items():
        first = stats["records"][0]
        groups[(key[0], int(first.get("difficulty", 1)))].append(stats)
    report["by_group"] = [
        {
            "source": source,
            "difficulty": level,
            **_block([r for p in members for r in p["records"]], members, ks),
        }
        for (source, level), members in sorted(groups.items())
    ]
    report["errors"] = errors
    report["k"] = list(ks)
    return report


def format_table(report: dict[str, Any]) -> str:
    """The report as a terminal table: one row for all samples and one per (env, difficulty)."""
    ks = report["k"]
    header = ["group", "prompts", "samples"]
    header += [f"pass@{k}" for k in ks]
    has_maj = bool(report["maj@k"])
    if has_maj:
        header += [f"maj@{k}" for k in ks]
    header += ["best-of-N", "reward", "len", "trunc", "statuses"]
    rows = []
    blocks = [("all", report)]
    if len(report["by_group"]) > 1:
        blocks += [(f"{b['source']} d{b['difficulty']}", b) for b in report["by_group"]]
    for name, block in blocks:
        row = [name, str(block["prompts"]), str(block["samples"])]
        row += [_cell(block["pass@k"].get(str(k))) for k in ks]
        if has_maj:
            row += [_cell(block["maj@k"].get(str(k))) for k in ks]
        best = block["best_of_n"]
        row += [
            f"{_cell(best['correct'])} (N={best['n']})",
            _cell(block["mean_reward"]),
            f"{block['length']['mean']:.1f}",
            _cell(block["length"]["truncated"]),
            " ".join(f"{s}={c}" for s, c in block["status"].items()),
        ]
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    components = report["components"]
    if components:
        lines.append(
            "components (mean over scored samples): "
            + ", ".join(f"{k}={v:.3f}" for k, v in components.items())
        )
    lines.append(f"length unit: {report['length']['unit']}; N is the most samples of one prompt")
    lines.extend(f"warning: {e}" for e in report["errors"])
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def plot_pass_at_k(report: dict[str, Any], path: str | Path) -> Path:
    """A PNG of pass@k (and maj@k, dashed) against k, overall and per (env, difficulty)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    blocks = [("all", report)] + [(f"{b['source']} d{b['difficulty']}", b) for b in report["by_group"]]
    if len(blocks) == 2:
        blocks = blocks[:1]
    for name, block in blocks:
        points = [(int(k), v) for k, v in block["pass@k"].items() if v is not None]
        if points:
            line = ax.plot(*zip(*points), marker="o", label=f"pass@k {name}")[0]
            majs = [(int(k), v) for k, v in block["maj@k"].items() if v is not None]
            if majs:
                ax.plot(
                    *zip(*majs), marker="x", linestyle="--", color=line.get_color(), label=f"maj@k {name}"
                )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{report['prompts']} prompts, {report['samples']} samples")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
