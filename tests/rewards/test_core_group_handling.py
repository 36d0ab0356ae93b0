"""Group terms see their whole group whatever their position in each member's spec, take correctness
from a named accuracy term, and never raise."""

from __future__ import annotations

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb

from .conftest import WELL_FORMED

ACCURACY = {"name": "accuracy", "verifier": "format"}
SHORT_SPEC = {"name": "a", "terms": [ACCURACY, {"name": "length", "verifier": "kimi_length"}]}
OVERLONG = {"name": "overlong", "verifier": "overlong", "options": {"max_length": 1000}}


def test_group_term_at_another_position_still_sees_its_group_and_correctness():
    length = {"name": "length", "verifier": "kimi_length", "accuracy_term": "accuracy"}
    long_spec = {"name": "b", "terms": [OVERLONG, ACCURACY, length]}
    requests = [
        {"id": "1", "group_id": "g", "response": WELL_FORMED, "reward_spec": SHORT_SPEC},
        {"id": "2", "group_id": "g", "response": WELL_FORMED + " " * 2, "reward_spec": long_spec},
        {"id": "3", "group_id": "g", "response": WELL_FORMED + " " * 4, "reward_spec": long_spec},
    ]
    answers = rlvr.verify_batch(requests)
    assert [a.status for a in answers] == [pb.CORRECT] * 3
    assert [a.components["length"] for a in answers] == [0.5, 0.0, -0.5]


def test_failing_group_term_of_a_differently_shaped_spec_is_answered_not_raised():
    in_tokens = {"name": "length", "verifier": "kimi_length", "options": {"unit": "tokens"}}
    short_spec = {"name": "a", "terms": [ACCURACY, in_tokens]}
    long_spec = {"name": "c", "terms": [ACCURACY, OVERLONG, {**in_tokens, "accuracy_term": "accuracy"}]}
    requests = [
        {
            "id": "1",
            "group_id": "g",
            "response": WELL_FORMED,
            "response_tokens": 9,
            "reward_spec": short_spec,
        },
        {"id": "2", "group_id": "g", "response": WELL_FORMED, "reward_spec": long_spec},  # no response_tokens
    ]
    answers = rlvr.verify_batch(requests)
    assert answers[1].status == pb.INVALID_REQUEST and "response_tokens" in answers[1].message


def test_group_term_takes_correctness_from_the_named_term_not_the_first():
    wrong_first = {"name": "strict", "verifier": "format", "options": {"template": "answer_only"}}
    spec = {
        "name": "named",
        "terms": [
            wrong_first,
            ACCURACY,
            {"name": "length", "verifier": "kimi_length", "accuracy_term": "accuracy"},
        ],
    }
    requests = [
        {"id": str(i), "group_id": "g", "response": WELL_FORMED + " " * (2 * i), "reward_spec": spec}
        for i in range(3)
    ]
    answers = rlvr.verify_batch(requests)
    # `strict` judges every one wrong; `accuracy` (named) judges them right, so λ is paid in full
    assert [a.components["strict"] for a in answers] == [0.0] * 3
    assert [a.components["length"] for a in answers] == [0.5, 0.0, -0.5]


def test_spec_that_leaves_the_accuracy_term_ambiguous_is_invalid_request():
    spec = {"name": "ambiguous", "terms": [ACCURACY, OVERLONG, {"name": "length", "verifier": "kimi_length"}]}
    answer = rlvr.verify({"id": "1", "group_id": "g", "response": WELL_FORMED, "reward_spec": spec})
    assert answer.status == pb.INVALID_REQUEST
    assert "accuracy_term" in answer.message and "'accuracy'" in answer.message


def test_accuracy_term_must_name_a_per_completion_term_of_the_spec():
    for accuracy_term in ("missing", "length"):
        length = {"name": "length", "verifier": "kimi_length", "accuracy_term": accuracy_term}
        spec = {"name": "bad", "terms": [ACCURACY, length]}
        answer = rlvr.verify({"id": "1", "response": WELL_FORMED, "reward_spec": spec})
        assert answer.status == pb.INVALID_REQUEST and repr(accuracy_term) in answer.message
    spec = {"name": "bad", "terms": [{**ACCURACY, "accuracy_term": "accuracy"}]}
    answer = rlvr.verify({"id": "1", "response": WELL_FORMED, "reward_spec": spec})
    assert answer.status == pb.INVALID_REQUEST and "only for group terms" in answer.message
