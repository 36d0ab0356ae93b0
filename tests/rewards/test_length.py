"""Length shaping: Kimi k1.5 group reward, DAPO overlong punishment, cosine scaling, units, groups."""

from __future__ import annotations

import math

import pytest

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.verifiers.length import (
    cosine_schedule,
    kimi_lambdas,
    kimi_length_reward,
    overlong_penalty,
    response_length,
)

from .conftest import WELL_FORMED

# "format" stands in for an accuracy term: a well-formed response is "correct", a bare one is not.
WRONG = "no tags at all"


def spec(*terms: dict) -> dict:
    return {"name": "test", "terms": [{"name": "accuracy", "verifier": "format", "weight": 1.0}, *terms]}


KIMI = spec({"name": "length", "verifier": "kimi_length", "weight": 1.0})


def test_kimi_lambda_is_half_minus_relative_length():
    # min 100, max 500: λ = 0.5 - (len - 100) / 400
    assert kimi_lambdas([100, 200, 300, 500]) == [0.5, 0.25, 0.0, -0.5]


@pytest.mark.parametrize("lengths", [[7], [0, 0, 0], [42, 42]])
def test_kimi_lambda_is_zero_when_all_lengths_are_equal(lengths):
    assert kimi_lambdas(lengths) == [0.0] * len(lengths)


def test_kimi_reward_keeps_lambda_for_correct_and_caps_it_at_zero_for_incorrect():
    assert kimi_length_reward(0.25, True) == 0.25
    assert kimi_length_reward(-0.5, True) == -0.5
    assert kimi_length_reward(0.25, False) == 0.0
    assert kimi_length_reward(-0.5, False) == -0.5


def test_kimi_group_reward_through_verify_batch_uses_group_and_first_term_correctness():
    group = [
        (WELL_FORMED, 100),  # correct, shortest: λ = 0.5
        (WRONG, 200),  # incorrect: min(0, 0.25) = 0
        (WELL_FORMED, 300),  # correct: λ = 0
        (WRONG, 500),  # incorrect, longest: -0.5
    ]
    requests = [
        {"id": str(i), "group_id": "p1", "response": r, "response_tokens": n, "reward_spec": KIMI}
        for i, (r, n) in enumerate(group)
    ]
    answers = rlvr.verify_batch(requests)
    assert [a.components["length"] for a in answers] == [0.5, 0.0, 0.0, -0.5]
    assert [a.reward for a in answers] == [1.5, 0.0, 1.0, -0.5]
    assert [a.status for a in answers] == [pb.CORRECT, pb.INCORRECT, pb.CORRECT, pb.INCORRECT]
    assert "tokens" in answers[0].message


def test_kimi_groups_are_separate_per_group_id_and_a_request_without_one_is_alone():
    requests = [
        {"id": "a", "group_id": "p1", "response": WELL_FORMED, "response_tokens": 10, "reward_spec": KIMI},
        {"id": "b", "group_id": "p1", "response": WELL_FORMED, "response_tokens": 30, "reward_spec": KIMI},
        {"id": "c", "group_id": "p2", "response": WELL_FORMED, "response_tokens": 1000, "reward_spec": KIMI},
        {"id": "d", "response": WELL_FORMED, "response_tokens": 5, "reward_spec": KIMI},
    ]
    lengths = [a.components["length"] for a in rlvr.verify_batch(requests)]
    assert lengths == [0.5, -0.5, 0.0, 0.0]


def test_kimi_counts_characters_for_the_whole_group_when_any_member_lacks_tokens():
    requests = [
        {"id": "a", "group_id": "g", "response": WELL_FORMED, "response_tokens": 900, "reward_spec": KIMI},
        {"id": "b", "group_id": "g", "response": WELL_FORMED + " " * 10, "reward_spec": KIMI},
    ]
    a, b = rlvr.verify_batch(requests)
    assert "chars" in a.message
    assert (a.components["length"], b.components["length"]) == (0.5, -0.5)


def test_kimi_member_with_unknown_correctness_is_not_rewarded_but_still_sets_the_range():
    slow = {"pattern": "(a|aa)+b", "pattern_timeout": 0.05}  # the accuracy stand-in times out
    requests = [
        {"id": "t", "group_id": "g", "response": "a" * 64, "options": slow, "reward_spec": KIMI},
        {"id": "s", "group_id": "g", "response": WELL_FORMED, "reward_spec": KIMI},
    ]
    timed_out, short = rlvr.verify_batch(requests)
    assert timed_out.status == pb.TIMEOUT and timed_out.reward == 0.0
    # 42 chars against 64: the timed-out one is the group's max, so the short one gets λ = 0.5
    assert short.components["length"] == 0.5 and short.reward == 1.5


def test_kimi_alone_has_no_correctness_and_is_invalid_request():
    answer = rlvr.verify({"id": "k", "verifier": "kimi_length", "response": "x"})
    assert answer.status == pb.INVALID_REQUEST and "accuracy term" in answer.message


def test_kimi_group_mixing_explicit_units_is_invalid_request():
    requests = [
        {
            "id": "a",
            "group_id": "g",
            "response": WELL_FORMED,
            "options": {"unit": "chars"},
            "reward_spec": KIMI,
        },
        {
            "id": "b",
            "group_id": "g",
            "response": WELL_FORMED,
            "options": {"unit": "words"},
            "reward_spec": KIMI,
        },
    ]
    assert all(a.status == pb.INVALID_REQUEST and "mixes" in a.message for a in rlvr.verify_batch(requests))


@pytest.mark.parametrize(
    ("length", "expected"),
    [(0, 0.0), (80, 0.0), (81, -0.05), (90, -0.5), (100, -1.0), (101, -1.0), (10_000, -1.0)],
)
def test_overlong_penalty_matches_dapo(length, expected):
    # max 100, buffer 20: free up to 80, then (80 - len) / 20, -1 beyond 100
    assert overlong_penalty(length, 100, 20) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("chars", "reward", "status"),
    [(80, 0.0, pb.CORRECT), (90, -0.5, pb.PARTIAL), (100, -1.0, pb.PARTIAL), (101, -1.0, pb.INCORRECT)],
)
def test_overlong_verifier_reports_reward_and_status(chars, reward, status):
    answer = rlvr.verify(
        {"verifier": "overlong", "response": "x" * chars, "options": {"max_length": 100, "buffer": 20}}
    )
    assert answer.reward == pytest.approx(reward) and answer.status == status


def test_overlong_buffer_defaults_to_a_fifth_of_max_length_and_zero_buffer_is_a_hard_cut():
    # max 50 -> buffer 10: 45 chars give (40 - 45) / 10 = -0.5
    assert (
        rlvr.verify({"verifier": "overlong", "response": "x" * 45, "options": {"max_length": 50}}).reward
        == -0.5
    )
    hard = {"max_length": 100, "buffer": 0}
    assert rlvr.verify({"verifier": "overlong", "response": "x" * 100, "options": hard}).reward == 0.0
    assert rlvr.verify({"verifier": "overlong", "response": "x" * 101, "options": hard}).reward == -1.0


def test_overlong_counts_tokens_when_the_request_carries_them():
    request = {"verifier": "overlong", "response": "short", "response_tokens": 95}
    answer = rlvr.verify({**request, "options": {"max_length": 100, "buffer": 10}})
    assert answer.reward == pytest.approx(-0.5) and "tokens" in answer.message


@pytest.mark.parametrize(
    ("options", "tokens", "complaint"),
    [
        ({}, 0, "'max_length' is required"),
        ({"max_length": 0}, 0, "must be > 0"),
        ({"max_length": "100"}, 0, "must be a number, got '100'"),
        ({"max_length": 100, "buffer": 150}, 0, "buffer"),
        ({"max_length": 100, "unit": "bytes"}, 0, "'auto', 'tokens', 'chars', 'words'"),
        ({"max_length": 100, "unit": "tokens"}, 0, "response_tokens"),
    ],
)
def test_bad_length_options_are_invalid_request(options, tokens, complaint):
    answer = rlvr.verify(
        {"verifier": "overlong", "response": "abc", "response_tokens": tokens, "options": options}
    )
    assert answer.status == pb.INVALID_REQUEST and complaint in answer.message


def test_length_units_count_tokens_code_points_or_whitespace_separated_words():
    request = pb.VerifyRequest(response="né 日本 ok", response_tokens=4)
    assert response_length(request, "tokens") == 4
    assert response_length(request, "chars") == 8
    assert response_length(request, "words") == 3
    assert response_length(pb.VerifyRequest(response="ne\u0301"), "chars") == 3  # no normalisation


def test_cosine_schedule_hand_computed_points():
    # r(L) = r_L + (r_0 - r_L)(1 + cos(pi L / L_max)) / 2 with the paper's correct (2 -> 1) and wrong (-10 -> 0)
    assert cosine_schedule(0, 100, 2.0, 1.0) == pytest.approx(2.0)
    assert cosine_schedule(50, 100, 2.0, 1.0) == pytest.approx(1.5)
    assert cosine_schedule(25, 100, 2.0, 1.0) == pytest.approx(1.0 + 0.5 * (1 + math.sqrt(0.5)))
    assert cosine_schedule(50, 100, -10.0, 0.0) == pytest.approx(-5.0)
    assert cosine_schedule(75, 100, -10.0, 0.0) == pytest.approx(-5.0 * (1 - math.sqrt(0.5)))
    assert cosine_schedule(100, 100, -10.0, 0.0) == pytest.approx(0.0)


COSINE = spec({"name": "length", "verifier": "cosine_length", "weight": 1.0, "options": {"max_length": 100}})


@pytest.mark.parametrize(
    ("response", "tokens", "expected"),
    [
        (WELL_FORMED, 50, 1.5),
        (WELL_FORMED, 100, -10.0),  # hit the limit: exceed penalty, even when correct
        (WRONG, 50, -5.0),
        (WRONG, 1, -10.0 * 0.5 * (1 + math.cos(math.pi / 100))),
        (WRONG, 250, -10.0),
    ],
)
def test_cosine_length_reward_depends_on_first_term_correctness(response, tokens, expected):
    answer = rlvr.verify({"response": response, "response_tokens": tokens, "reward_spec": COSINE})
    assert answer.components["length"] == pytest.approx(expected)


def test_cosine_length_values_are_configurable():
    options = {"max_length": 100, "correct_at_zero": 1.0, "correct_at_max": 0.5, "exceed": -1.0}
    custom = spec({"name": "length", "verifier": "cosine_length", "options": options})
    answer = rlvr.verify({"response": WELL_FORMED, "response_tokens": 50, "reward_spec": custom})
    assert answer.components["length"] == pytest.approx(0.75)


def test_cosine_length_alone_is_invalid_request():
    answer = rlvr.verify({"verifier": "cosine_length", "response": "x", "options": {"max_length": 10}})
    assert answer.status == pb.INVALID_REQUEST and "accuracy term" in answer.message


def test_empty_responses_have_length_zero_everywhere():
    requests = [{"id": str(i), "group_id": "e", "response": "", "reward_spec": KIMI} for i in range(3)]
    assert [a.components["length"] for a in rlvr.verify_batch(requests)] == [0.0, 0.0, 0.0]
    overlong = rlvr.verify({"verifier": "overlong", "response": "", "options": {"max_length": 10}})
    assert overlong.reward == 0.0 and overlong.status == pb.CORRECT


def test_cosine_length_bad_request_in_a_group_harms_no_other_member():
    requests = [
        {"id": "ok", "group_id": "g", "response": WELL_FORMED, "response_tokens": 50, "reward_spec": COSINE},
        {
            "id": "bad",
            "group_id": "g",
            "response": WELL_FORMED,
            "options": {"unit": "tokens"},
            "reward_spec": COSINE,
        },
    ]
    ok, bad = rlvr.verify_batch(requests)
    assert ok.status == pb.CORRECT and ok.components["length"] == pytest.approx(1.5)
    assert bad.status == pb.INVALID_REQUEST and "response_tokens" in bad.message
