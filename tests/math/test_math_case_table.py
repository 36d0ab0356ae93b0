"""The case table (tests/math/cases.jsonl): every pair must get the verdict a careful grader gives."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.verifiers.math import judge

CASES_PATH = Path(__file__).with_name("cases.jsonl")
CASES = [json.loads(line) for line in CASES_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_table_is_large_and_has_enough_must_not_match_cases() -> None:
    assert len(CASES) >= 300
    assert sum(not case["expected"] for case in CASES) >= 80
    assert {"response", "ground_truth", "expected", "category"} <= set(CASES[0])


def test_most_categories_include_a_near_miss() -> None:
    negatives = Counter(case["category"] for case in CASES if not case["expected"])
    categories = {case["category"] for case in CASES}
    without = sorted(categories - set(negatives))
    assert len(without) <= 3, f"categories without a must-not-match case: {without}"


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[f"{i}-{c['category']}-{'match' if c['expected'] else 'nomatch'}" for i, c in enumerate(CASES)],
)
def test_case_gets_the_expected_verdict(case: dict) -> None:
    outcome = judge(case["response"], case["ground_truth"])
    assert outcome.status in (pb.CORRECT, pb.INCORRECT, pb.ERROR), outcome.message
    assert (outcome.status == pb.CORRECT) == case["expected"], outcome.message
    assert outcome.message  # every decision says how it was made
