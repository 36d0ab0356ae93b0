"""pass@k, maj@k and best-of-N on ALGORITHMS.md §3's hand-checked vectors (no torch needed)."""

from __future__ import annotations

import itertools
import math

import pytest

from rlvr.agents.estimators import (
    EstimatorError,
    answer_classes,
    best_of_n,
    maj_at_k,
    majority_credit,
    pass_at_k,
)


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (10, 3, 1, 0.3),
        (10, 3, 2, 0.5333333),
        (10, 3, 5, 0.9166667),
        (10, 0, 5, 0.0),
        (10, 8, 5, 1.0),
        (200, 1, 100, 0.5),
    ],
)
def test_pass_at_k_matches_the_reference_vectors(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-7)


def test_pass_at_k_equals_the_binomial_ratio_form():
    for n, c, k in itertools.product(range(1, 12), range(12), range(1, 12)):
        if c <= n and k <= n:
            exact = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_pass_at_k_is_stable_for_thousands_of_samples():
    # C(4000, 2000) overflows floats; the product form does not.
    assert 0 < pass_at_k(4000, 3, 2000) <= 1
    assert pass_at_k(4000, 3, 1) == pytest.approx(3 / 4000)


def test_k_larger_than_n_is_an_error_naming_both():
    with pytest.raises(EstimatorError, match=r"pass@16 needs at least 16 samples.*n=8"):
        pass_at_k(8, 2, 16)
    with pytest.raises(EstimatorError, match="maj@6"):
        maj_at_k([1, 2], {1: True}, 6)


def test_majority_vote_gives_tied_classes_equal_credit():
    answers = [3, 3, 5, 5, 7]
    assert majority_credit(answers, {3: True, 5: False, 7: False}) == 0.5
    assert maj_at_k(answers, {3: True, 5: False, 7: False}, 5) == 0.5


def test_maj_at_k_averages_over_all_subsets():
    answers = [3, 5, 3, 7, 5, 3]
    assert maj_at_k(answers, {3: True}, 3) == pytest.approx(0.6)


def test_maj_at_k_beyond_k_32_uses_seeded_random_subsets_close_to_exact():
    from collections import Counter

    from rlvr.agents.estimators import _exact_maj

    answers = [3, 5, 3, 7, 5, 3, None] * 6
    exact = _exact_maj(Counter(answers), {3: True}, 33, len(answers))
    sampled = maj_at_k(answers, {3: True}, 33, max_subsets=3000, seed=1)
    assert sampled == maj_at_k(answers, {3: True}, 33, max_subsets=3000, seed=1)
    assert sampled == pytest.approx(exact, abs=0.03)


def test_abstentions_do_not_vote():
    assert majority_credit([None, None, 3], {3: True}) == 1.0
    assert majority_credit([None, None], {}) == 0.0


def test_best_of_n_prefers_reward_then_shortest_then_first():
    assert best_of_n([0.0, 1.0, 1.0, 1.0], [5, 9, 4, 4]) == 2
    assert best_of_n([None, float("nan")], [1, 1]) is None
    assert best_of_n([None, 0.2], [1, 9]) == 1


def test_answer_classes_use_the_equivalence_not_string_equality():
    calls = []

    def same(pairs):
        calls.append(pairs)
        return [float(eval(a)) == float(eval(b)) for a, b in pairs]

    labels = answer_classes(["1/2", "0.5", "2", None, "1/2", "4/2"], same)
    assert labels == [0, 0, 1, None, 0, 1]
    assert len(calls) == 3  # 0.5, 2, 4/2; the first and the repeated 1/2 need no call


def test_exact_maj_at_k_equals_brute_force_enumeration():
    import random

    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 9)
        answers = [rng.choice([None, "a", "b", "c", "d"]) for _ in range(n)]
        correct = {"a": True, "c": rng.random() < 0.5}
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(range(n), k))
            brute = sum(majority_credit([answers[i] for i in s], correct) for s in subsets) / len(subsets)
            assert maj_at_k(answers, correct, k) == pytest.approx(brute, abs=1e-12)


def test_maj_at_k_is_fast_for_large_groups():
    import time

    answers = [i % 7 for i in range(256)]
    began = time.perf_counter()
    value = maj_at_k(answers, {0: True}, 16)
    assert 0 < value < 1 and time.perf_counter() - began < 2
