"""Reading a verdict out of a judge's reply: what counts as a score or a choice, and what does not."""

from __future__ import annotations

import pytest

from rlvr.verifier_server.verifiers.llm_judge.verdict import UnreadableVerdict, read_choice, read_score


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Score: 7", 7),
        ("The answer is right.\n**Score:** 8", 8),
        ("score = 6/10", 6),
        ("Rating: [[9]]", 9),
        ("My score is 4.5", 4.5),
        ("First I thought Score: 3, but on reflection Score: 5", 5),
        ("[[2]]", 2),
        ("The response is rated 3 out of 5 based on the criteria", 3),
        ("I would give it 4 out of 10.", 4),
        ("7", 7),
        (" 7/10. ", 7),
        ('Reasoning...\n{"score": 6, "why": "ok"}', 6),
    ],
)
def test_scores_are_read_from_common_reply_shapes(reply, score):
    assert read_score(reply, 1, 10).value == score


@pytest.mark.parametrize(
    "reply", ["", "Great answer!", "It has 3 mistakes in 10 lines.", '{"score": "high"}']
)
def test_replies_without_a_score_raise(reply):
    with pytest.raises(UnreadableVerdict, match="no score in the judge's reply"):
        read_score(reply, 1, 10)


def test_a_score_off_the_scale_raises():
    with pytest.raises(UnreadableVerdict, match="outside its scale 1..10"):
        read_score("Score: 0", 1, 10)


@pytest.mark.parametrize(
    ("reply", "choice"),
    [
        ("Verdict: A", "A"),
        ("Both are fine. Verdict: tie", "tie"),
        ("The better response is B.", "B"),
        ("[[B]]", "B"),
        ("[[C]]", "tie"),
        ("A", "A"),
        ('{"winner": "b"}', "B"),
    ],
)
def test_choices_are_read_from_common_reply_shapes(reply, choice):
    assert read_choice(reply) == choice


@pytest.mark.parametrize("reply", ["", "Response A is long and response B is short.", "Verdict: neither"])
def test_replies_without_a_choice_raise(reply):
    with pytest.raises(UnreadableVerdict, match="no verdict"):
        read_choice(reply)
