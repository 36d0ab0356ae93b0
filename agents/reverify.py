"""`rlvr reverify`: re-score stored samples or rollouts with today's verifiers (or another reward spec)
and report what changed, by verifier version, so the effect of a fixed grader on old data is visible.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf import json_format

from rlvr.agents.evaluation import is_correct, prompt_key
from rlvr.agents.sample import UNKNOWN, spec_hash
from rlvr.verifier.v1 import verifier_pb2 as pb


def stored_request(
    record: dict[str, Any], spec: pb.RewardSpec | None, default_verifier: str = "math"
) -> pb.VerifyRequest:
    """The request a record was (or is now to be) scored with, its response filled in.

    `rlvr sample` records carry it under "request"; other rollouts need `ground_truth` (and
    optionally `verifier`, `tests`, `language`). `spec` replaces the stored reward spec.
    """
    if record.get("request"):
        request = json_format.ParseDict(record["request"], pb.VerifyRequest(), ignore_unknown_fields=True)
    else:
        fields = {k: record[k] for k in ("ground_truth", "tests", "language", "options") if k in record}
        if isinstance(fields.get("ground_truth"), list):  # revealed code tests
            fields["tests"] = fields.pop("ground_truth")
        request = json_format.ParseDict(fields, pb.VerifyRequest(), ignore_unknown_fields=True)
        request.verifier = str(record.get("verifier") or default_verifier)
    if spec is not None:
        request.ClearField("verifier")
        request.reward_spec.CopyFrom(spec)
    request.response = str(record.get("completion", record.get("response", "")))
    tokens = record.get("completion_tokens")
    if tokens is not None:
        request.response_tokens = int(tokens)
    return request


def reverify_records(
    records: Sequence[dict[str, Any]],
    *,
    verify_batch: Callable | None = None,
    spec: pb.RewardSpec | None = None,
    tolerance: float = 1e-9,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """New records (rescored, with the old score under "previous") and a report of the changes.

    Samples of one prompt are scored in one call as one group, as `rlvr sample` scores them, so
    unchanged verifiers give unchanged rewards. The report counts changed rewards and status
    transitions overall and per (old verifier version -> new verifier version), and pass@1 and mean
    reward before and after.
    """
    from rlvr import verify_batch as local_verify_batch

    check = verify_batch or local_verify_batch
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        groups[prompt_key(record)].append(i)
    new: list[dict[str, Any] | None] = [None] * len(records)
    for g, members in enumerate(groups.values()):
        requests = []
        for i in members:
            request = stored_request(records[i], spec)
            request.id = str(i)
            request.group_id = f"r{g}"
            request.group_size = len(members)
            requests.append(request)
        for i, request, response in zip(members, requests, check(requests)):
            status = pb.Status.Name(response.status)
            old = records[i]
            new[i] = {
                **old,
                "reward": response.reward,
                "status": status,
                "correct": None if status in UNKNOWN else status == "CORRECT",
                "components": dict(response.components),
                "message": response.message,
                "verifier": response.verifier,
                "verifier_version": response.verifier_version,
                "spec_hash": spec_hash(request),
                "previous": {
                    key: old.get(key)
                    for key in ("reward", "status", "verifier", "verifier_version", "spec_hash", "message")
                },
            }
    rescored = [r for r in new if r is not None]
    return rescored, change_report(records, rescored, tolerance=tolerance)


def change_report(
    old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]], *, tolerance: float = 1e-9
) -> dict[str, Any]:
    """What changed between two scorings of the same samples (same order)."""
    transitions: Counter[str] = Counter()
    by_version: dict[str, Counter[str]] = defaultdict(Counter)
    examples: list[dict[str, Any]] = []
    changed = 0
    for before, after in zip(old, new):
        version = f"{before.get('verifier', '?')} {before.get('verifier_version', '?')} -> {after['verifier']} {after['verifier_version']}"
        delta = _differs(before.get("reward"), after["reward"], tolerance)
        status_moved = before.get("status") != after["status"]
        by_version[version]["samples"] += 1
        if delta or status_moved:
            changed += 1
            by_version[version]["changed"] += 1
            transitions[f"{before.get('status')} -> {after['status']}"] += 1
            if len(examples) < 5:
                examples.append(
                    {
                        "task_id": after.get("task_id"),
                        "sample_index": after.get("sample_index"),
                        "before": {"reward": before.get("reward"), "status": before.get("status")},
                        "after": {
                            "reward": after["reward"],
                            "status": after["status"],
                            "message": after["message"],
                        },
                    }
                )
    return {
        "samples": len(new),
        "changed": changed,
        "transitions": dict(transitions.most_common()),
        "by_version": {v: dict(c) for v, c in sorted(by_version.items())},
        "pass@1": {"before": _accuracy(old), "after": _accuracy(new)},
        "mean_reward": {"before": _mean_reward(old), "after": _mean_reward(new)},
        "examples": examples,
    }


def _differs(a: Any, b: float, tolerance: float) -> bool:
    if a is None:
        return True
    a = float(a)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) != math.isnan(b)
    return abs(a - b) > tolerance


def _accuracy(records: Sequence[dict[str, Any]]) -> float | None:
    known = [bool(is_correct(r)) for r in records if is_correct(r) is not None]
    return sum(known) / len(known) if known else None


def _mean_reward(records: Sequence[dict[str, Any]]) -> float | None:
    known = [float(r["reward"]) for r in records if is_correct(r) is not None and r.get("reward") is not None]
    return sum(known) / len(known) if known else None


def format_change_report(report: dict[str, Any]) -> str:
    """The change report as terminal text."""
    lines = [f"re-verified {report['samples']} samples: {report['changed']} changed"]
    for version, counts in report["by_version"].items():
        lines.append(f"  {version}: {counts.get('changed', 0)} of {counts['samples']} changed")
    for transition, count in report["transitions"].items():
        lines.append(f"  {transition}: {count}")
    for name in ("pass@1", "mean_reward"):
        before, after = report[name]["before"], report[name]["after"]
        lines.append(f"  {name:<12} {_fmt(before)} -> {_fmt(after)}")
    for example in report["examples"]:
        lines.append(
            f"  e.g. task {example['task_id']} sample {example['sample_index']}: "
            f"{example['before']['status']} {_fmt(example['before']['reward'])} -> "
            f"{example['after']['status']} {_fmt(example['after']['reward'])} ({example['after']['message'][:80]})"
        )
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"
