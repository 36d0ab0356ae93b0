"""Guess-and-check estimators: unbiased pass@k, maj@k with tie credit, best-of-N (ALGORITHMS.md §6).

Pure Python (no torch): `rlvr eval` and the OpenAI-endpoint path run without the train extra.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Hashable, Sequence

from rlvr.errors import RlvrError

#: Decides a batch of (answer, representative) pairs: equal under the verifier or not.
SameAnswer = Callable[[Sequence[tuple[str, str]]], list[bool]]

#: Random k-subsets maj@k averages over when k is too large for the exact computation.
MAJ_EXACT_SUBSETS = 20_000


class EstimatorError(RlvrError, ValueError):
    """An estimator got counts it cannot use (k larger than n, c larger than n...); the message says which."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one prompt with `c` correct among `n` samples (Chen et al. 2021).

    `1 - C(n-c, k) / C(n, k)` in its stable product form: 1 if `n - c < k`, else
    `1 - prod_{i=n-c+1..n} (1 - k/i)`. Raises `EstimatorError` when `k > n` (the estimator needs at
    least k samples) or the counts are inconsistent.
    """
    if not 0 <= c <= n:
        raise EstimatorError(f"pass@k got c={c} correct of n={n} samples; c must be in [0, n]")
    if k < 1:
        raise EstimatorError(f"pass@k got k={k}; pass k >= 1")
    if k > n:
        raise EstimatorError(f"pass@{k} needs at least {k} samples per prompt, this prompt has n={n}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def majority_credit(answers: Sequence[Hashable], correct: dict[Hashable, bool]) -> float:
    """Credit of one majority vote over `answers` (class labels; None abstains).

    The most frequent class wins; a tie between m classes gives each 1/m, so the credit is the share
    of tied classes that are correct. All abstaining gives 0.
    """
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return 0.0
    top = max(counts.values())
    tied = [a for a, count in counts.items() if count == top]
    return sum(bool(correct.get(a, False)) for a in tied) / len(tied)


def maj_at_k(
    answers: Sequence[Hashable],
    correct: dict[Hashable, bool],
    k: int,
    *,
    seed: int = 0,
    max_subsets: int = MAJ_EXACT_SUBSETS,
) -> float:
    """maj@k of one prompt: the expected majority-vote credit over the k-subsets of its n `answers`.

    `answers[i]` is the equivalence class of sample i's final answer (None: no answer, an abstention)
    and `correct[cls]` whether that class is the right answer. With n == k this is one vote; with
    n > k it is the exact mean over all C(n, k) subsets, computed from the class counts (a dynamic
    programme over classes, no enumeration) when k <= 32, else the mean over `max_subsets` subsets
    drawn with `random.Random(seed)`.
    """
    n = len(answers)
    if k < 1:
        raise EstimatorError(f"maj@k got k={k}; pass k >= 1")
    if k > n:
        raise EstimatorError(f"maj@{k} needs at least {k} samples per prompt, this prompt has n={n}")
    if k <= 32:
        return _exact_maj(Counter(answers), correct, k, n)
    rng = random.Random(seed)
    indices = range(n)
    total = sum(
        majority_credit([answers[i] for i in rng.sample(indices, k)], correct) for _ in range(max_subsets)
    )
    return total / max_subsets


def _exact_maj(counts: Counter, correct: dict[Hashable, bool], k: int, n: int) -> float:
    """Sum over the ways to draw x_j of class j's c_j samples (sum x_j = k), weighted by prod C(c_j, x_j),
    of the vote's credit; the state is (drawn, top count, classes tied at top, correct among them)."""
    abstain = counts.pop(None, 0)
    states: dict[tuple[int, int, int, int], int] = {(0, 0, 0, 0): 1}
    for answer, count in counts.items():
        right = int(bool(correct.get(answer, False)))
        grown: dict[tuple[int, int, int, int], int] = {}
        for (drawn, top, tied, good), weight in states.items():
            for x in range(0, min(count, k - drawn) + 1):
                if x > top:
                    state = (drawn + x, x, 1, right)
                elif x == top and x > 0:
                    state = (drawn + x, top, tied + 1, good + right)
                else:
                    state = (drawn + x, top, tied, good)
                grown[state] = grown.get(state, 0) + weight * math.comb(count, x)
        states = grown
    total = 0.0
    for (drawn, top, tied, good), weight in states.items():
        if top > 0 and k - drawn <= abstain:
            total += weight * math.comb(abstain, k - drawn) * good / tied
    return total / math.comb(n, k)


def best_of_n(rewards: Sequence[float | None], lengths: Sequence[int]) -> int | None:
    """Index of the best sample: highest reward, ties to the shortest, then the first.

    Unscored samples (None or NaN) never win; None when no sample is scored.
    """
    best: int | None = None
    for i, (reward, length) in enumerate(zip(rewards, lengths)):
        if reward is None or math.isnan(reward):
            continue
        if best is None:
            best = i
            continue
        if reward > rewards[best] or (reward == rewards[best] and length < lengths[best]):  # type: ignore[operator]
            best = i
    return best


def answer_classes(answers: Sequence[str | None], same: SameAnswer) -> list[int | None]:
    """Cluster final answers into equivalence classes; returns a class index per answer (None for None).

    Each answer joins the first class whose representative `same` declares equal to it, else opens a
    new class. Identical texts share a class without asking. `same` is asked one batch per answer:
    `same([(answer, representative), ...]) -> [bool, ...]` (e.g. one `verify_batch` call).
    """
    labels: list[int | None] = [None] * len(answers)
    representatives: list[str] = []
    by_text: dict[str, int] = {}
    for i, text in enumerate(answers):
        if text is None:
            continue
        if text not in by_text:
            verdicts = same([(text, rep) for rep in representatives]) if representatives else []
            match = next((j for j, equal in enumerate(verdicts) if equal), None)
            if match is None:
                match = len(representatives)
                representatives.append(text)
            by_text[text] = match
        labels[i] = by_text[text]
    return labels
