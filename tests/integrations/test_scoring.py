"""The scorer every adapter shares: same numbers as `rlvr verify`, and bad input is an error, never a 0."""

from __future__ import annotations

import pickle

import pytest

import rlvr
from rlvr.integrations import (
    CompletionFormatError,
    MissingGroundTruth,
    RewardScorer,
    Sample,
    UnknownDataSource,
    VerifierUnavailable,
)
from rlvr.integrations.scoring import completion_text, object_or_text
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest

MATH = {"name": "m", "terms": [{"name": "accuracy", "verifier": "math"}]}


def test_scores_equal_rlvr_verify_batch():
    scorer = RewardScorer(spec="r1_math")
    samples = [
        Sample("<think>7+5</think><answer>12</answer>", ground_truth="12"),
        Sample("<think>x</think><answer>13</answer>", ground_truth="12"),
        Sample("\\boxed{12}", ground_truth="12"),
    ]
    mine = scorer.score(samples)
    direct = rlvr.verify_batch(
        [{"response": s.completion, "ground_truth": "12", "verifier": "r1_math"} for s in samples]
    )
    assert [r.reward for r in mine] == [r.reward for r in direct]
    assert [r.status for r in mine] == [r.status for r in direct]
    assert dict(mine[0].components) == dict(direct[0].components)


def test_spec_is_chosen_per_data_source_with_a_default():
    scorer = RewardScorer(specs={"gsm8k": MATH, "*": "r1_math"})
    gsm, other = scorer.score(
        [Sample("\\boxed{3}", ground_truth="3", data_source="gsm8k"), Sample("\\boxed{3}", ground_truth="3")]
    )
    assert set(gsm.components) == {"accuracy"} and "format" in other.components  # r1_math has a format term


def test_unknown_data_source_is_an_error_naming_the_known_ones():
    scorer = RewardScorer(specs={"gsm8k": MATH})
    with pytest.raises(UnknownDataSource, match="gsm8k"):
        scorer.score([Sample("\\boxed{3}", ground_truth="3", data_source="aime")])


def test_data_source_naming_a_registered_spec_is_that_spec():
    (response,) = RewardScorer().score([Sample("\\boxed{3}", ground_truth="3", data_source="math")])
    assert response.status == pb.CORRECT


def test_row_without_ground_truth_is_an_error_not_a_zero():
    with pytest.raises(MissingGroundTruth, match="row 1"):
        RewardScorer(spec=MATH).score([Sample("\\boxed{3}", ground_truth="3"), Sample("\\boxed{3}")])


def test_code_row_without_tests_is_an_error():
    spec = {"name": "c", "terms": [{"verifier": "code"}]}
    with pytest.raises(MissingGroundTruth, match="tests"):
        RewardScorer(spec=spec).score([Sample("print(1)", language="python")])


def test_format_only_spec_needs_no_ground_truth():
    spec = {"name": "f", "terms": [{"verifier": "format"}]}
    (response,) = RewardScorer(spec=spec).score([Sample("<think>a</think><answer>b</answer>")])
    assert response.reward == 1.0


def test_unreachable_server_raises_instead_of_scoring_zero(dead_target):
    scorer = RewardScorer(spec=MATH, verifier=f"grpc://{dead_target}")
    with pytest.raises(VerifierUnavailable, match="rlvr serve"):
        scorer.score([Sample("\\boxed{3}", ground_truth="3")])


def test_a_batch_answered_invalid_throughout_is_a_configuration_error():
    spec = {"name": "bad", "terms": [{"verifier": "format", "options": {"template": "nonsense"}}]}
    with pytest.raises(InvalidRequest, match="INVALID_REQUEST"):
        RewardScorer(spec=spec).score([Sample("x"), Sample("y")])


def test_chat_completions_are_read_as_their_last_assistant_message():
    messages = [{"role": "assistant", "content": "<calc>1</calc>"}, {"role": "tool", "content": "1"}]
    messages.append({"role": "assistant", "content": "\\boxed{1}"})
    assert completion_text(messages) == "\\boxed{1}"
    blocks = [
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "\\boxed{"}, {"type": "text", "text": "2}"}],
        }
    ]
    assert completion_text(blocks) == "\\boxed{2}"
    for bad in (3, [{"role": "user", "content": "hi"}], None, [1, 2]):
        with pytest.raises(CompletionFormatError):
            completion_text(bad)


def test_answers_that_look_like_json_stay_answers():
    assert object_or_text("{1, 2}") == "{1, 2}"
    assert object_or_text("[0, 1)") == "[0, 1)"
    assert object_or_text('{"ground_truth": "3"}') == {"ground_truth": "3"}


def test_scorer_pickles_with_its_remote_target(dead_target):
    scorer = RewardScorer(spec="r1_math", verifier=f"grpc://{dead_target}")
    copy = pickle.loads(pickle.dumps(scorer))
    assert copy.target == dead_target and copy.spec_for(Sample("x")) == scorer.spec_for(Sample("x"))


def test_a_server_with_a_token_is_reached_with_client_options():
    from .conftest import Served

    server = Served(token="s3cret")
    try:
        sample = Sample("\\boxed{3}", ground_truth="3")
        with pytest.raises(VerifierUnavailable, match="UNAUTHENTICATED"):
            RewardScorer(spec=MATH, verifier=f"grpc://{server.target}").score([sample])
        scorer = RewardScorer(
            spec=MATH, verifier=f"grpc://{server.target}", client_options={"token": "s3cret"}
        )
        assert scorer.score([sample])[0].reward == 1.0
    finally:
        server.close()
