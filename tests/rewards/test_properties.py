"""Properties of the shaping formulas and the format check, over generated inputs."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from rlvr.verifier_server.verifiers.format import TEMPLATES, check_template
from rlvr.verifier_server.verifiers.length import (
    cosine_schedule,
    kimi_lambdas,
    kimi_length_reward,
    overlong_penalty,
)

lengths = st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=64)


@given(lengths)
def test_kimi_lambda_is_bounded_and_shorter_is_never_worse(group):
    lambdas = kimi_lambdas(group)
    assert all(-0.5 <= lam <= 0.5 for lam in lambdas)
    for (a, la), (b, lb) in zip(zip(group, lambdas), zip(group[1:], lambdas[1:])):
        assert (a < b) <= (la > lb) and (a == b) <= (la == lb)
    if len(set(group)) > 1:
        assert lambdas[group.index(min(group))] == 0.5 and lambdas[group.index(max(group))] == -0.5


@given(lengths, st.lists(st.booleans(), min_size=64, max_size=64))
def test_kimi_never_pays_a_wrong_answer_and_keeps_correct_above_wrong(group, correct):
    rewards = [1.0 * ok + kimi_length_reward(lam, ok) for lam, ok in zip(kimi_lambdas(group), correct)]
    assert all(r <= 0.0 for r, ok in zip(rewards, correct) if not ok)
    assert all(r >= 0.5 for r, ok in zip(rewards, correct) if ok)


@given(st.integers(1, 10_000), st.data())
def test_overlong_penalty_is_continuous_non_increasing_and_in_range(max_length, data):
    buffer = data.draw(st.integers(1, max_length))
    points = [
        overlong_penalty(n, max_length, buffer)
        for n in range(max(0, max_length - buffer - 2), max_length + 3)
    ]
    assert all(-1.0 <= p <= 0.0 for p in points)
    assert all(a >= b for a, b in zip(points, points[1:]))
    assert overlong_penalty(max_length - buffer, max_length, buffer) == 0.0
    assert math.isclose(overlong_penalty(max_length, max_length, buffer), -1.0)


@given(
    st.floats(0, 1),
    st.floats(-10, 10, allow_nan=False),
    st.floats(-10, 10, allow_nan=False),
)
def test_cosine_schedule_runs_between_its_end_values(fraction, at_zero, at_max):
    value = cosine_schedule(fraction * 1000, 1000, at_zero, at_max)
    assert min(at_zero, at_max) - 1e-9 <= value <= max(at_zero, at_max) + 1e-9
    assert math.isclose(cosine_schedule(0, 1000, at_zero, at_max), at_zero, abs_tol=1e-9)
    assert math.isclose(cosine_schedule(1000, 1000, at_zero, at_max), at_max, abs_tol=1e-9)


tag_free = st.text(min_size=1, max_size=200).filter(lambda s: s.strip() and "<" not in s and ">" not in s)


@given(tag_free, tag_free, st.sampled_from(["", " ", "\n", "\n\n"]))
def test_any_non_empty_reasoning_and_answer_in_the_r1_template_pass(think, answer, gap):
    response = f"<think>{think}</think>{gap}<answer>{answer}</answer>"
    assert all(c.met for c in check_template(response, TEMPLATES["think_answer"]))


@given(tag_free, tag_free, tag_free)
def test_text_outside_the_r1_template_always_fails_it(think, answer, extra):
    response = f"<think>{think}</think><answer>{answer}</answer>{extra}"
    assert not all(c.met for c in check_template(response, TEMPLATES["think_answer"]))
