"""`evaluate` on hand-made records: verifier equivalence in maj@k, groups per env and level, statuses."""

from __future__ import annotations

import pytest

from rlvr.agents.evaluation import evaluate, format_table

MATH = {"verifier": "math", "ground_truth": "1/2"}


def record(prompt: int, sample: int, answer: str, status: str, *, difficulty: int = 1, source: str = "envA"):
    return {
        "task_id": f"t{prompt}",
        "prompt_index": prompt,
        "sample_index": sample,
        "source": source,
        "difficulty": difficulty,
        "completion": f"so \\boxed{{{answer}}}",
        "status": status,
        "correct": None if status == "TIMEOUT" else status == "CORRECT",
        "reward": float(status == "CORRECT"),
        "components": {"accuracy": float(status == "CORRECT")},
        "completion_tokens": 5,
        "finish_reason": "stop",
        "request": MATH,
    }


def test_maj_at_k_groups_answers_by_verifier_equivalence():
    records = [record(0, 0, "1/2", "CORRECT"), record(0, 1, "0.5", "CORRECT"), record(0, 2, "3", "INCORRECT")]
    report = evaluate(records, [3])
    assert report["maj@k"]["3"] == 1.0  # "1/2" and "0.5" vote together: 2 against 1
    assert report["pass@k"]["3"] == 1.0


def test_unscorable_samples_are_not_counted_as_wrong():
    records = [record(0, 0, "1/2", "CORRECT"), record(0, 1, "?", "TIMEOUT")]
    report = evaluate(records, [1])
    assert report["pass@k"]["1"] == 1.0 and report["status"] == {"CORRECT": 1, "TIMEOUT": 1}
    assert report["scored"] == 1 and report["mean_reward"] == 1.0


def test_metrics_are_broken_down_by_env_and_difficulty():
    records = [
        record(0, 0, "1/2", "CORRECT", difficulty=1),
        record(0, 1, "2", "INCORRECT", difficulty=1),
        record(1, 0, "2", "INCORRECT", difficulty=2),
        record(1, 1, "2", "INCORRECT", difficulty=2),
        record(0, 0, "1/2", "CORRECT", source="envB"),
        record(0, 1, "1/2", "CORRECT", source="envB"),
    ]
    report = evaluate(records, [1, 2])
    groups = {(g["source"], g["difficulty"]): g["pass@k"] for g in report["by_group"]}
    assert groups == {
        ("envA", 1): {"1": 0.5, "2": 1.0},
        ("envA", 2): {"1": 0.0, "2": 0.0},
        ("envB", 1): {"1": 1.0, "2": 1.0},
    }
    assert report["pass@k"]["1"] == pytest.approx(0.5)
    table = format_table(report)
    assert "envA d2" in table and "envB d1" in table
