"""The llm_judge verifier against a real HTTP endpoint on loopback whose answers each test scripts."""

from __future__ import annotations

import time

import pytest

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb

QUESTION = "What is the capital of France?"


def judge(fake, response="Paris.", *, request=None, **options):
    """The judge's VerifyResponse for `response` with `options` over the fake endpoint's."""
    body = {
        "verifier": "llm_judge",
        "prompt": QUESTION,
        "response": response,
        "options": {"endpoint": fake.url, "model": "judge", "retries": 2, **options},
        **(request or {}),
    }
    return rlvr.verify(body)


def test_pointwise_score_becomes_a_reward_on_zero_to_one(fake_judge):
    fake_judge.answers = ["Accurate and clear.\nScore: 8"]
    result = judge(fake_judge, rubric="factual accuracy")
    assert result.status == pb.PARTIAL
    assert result.reward == pytest.approx(7 / 9)
    assert result.components["llm_judge.score"] == 8
    assert "judge score 8/10" in result.message
    [body] = fake_judge.bodies
    assert body["model"] == "judge" and body["temperature"] == 0
    assert body["messages"][0]["role"] == "system"
    user = body["messages"][-1]["content"]
    assert QUESTION in user and "Paris." in user and "factual accuracy" in user and "Score: N" in user


def test_top_score_is_correct_and_bottom_incorrect(fake_judge):
    fake_judge.answers = ["Score: 10"]
    assert judge(fake_judge).status == pb.CORRECT
    fake_judge.answers = ["Score: 1"]
    bottom = judge(fake_judge, "Lyon.")
    assert (bottom.status, bottom.reward) == (pb.INCORRECT, 0.0)


def test_pass_score_and_scale_are_options(fake_judge):
    fake_judge.answers = ['{"score": 4}']
    result = judge(fake_judge, min_score=0, max_score=5, pass_score=4)
    assert (result.status, result.reward) == (pb.CORRECT, pytest.approx(0.8))


def test_prose_reply_is_error_quoting_the_reply_never_zero(fake_judge):
    fake_judge.answers = ["I think this answer is quite good overall, well done."]
    result = judge(fake_judge)
    assert result.status == pb.ERROR and result.reward == 0.0
    assert "no score in the judge's reply 'I think this answer is quite good" in result.message


def test_score_off_the_scale_is_error(fake_judge):
    fake_judge.answers = ["Score: 11"]
    result = judge(fake_judge)
    assert result.status == pb.ERROR and "outside its scale 1..10" in result.message


def test_unreadable_reply_is_not_cached(fake_judge):
    fake_judge.answers = ["no idea", "Score: 9"]
    assert judge(fake_judge).status == pb.ERROR
    assert judge(fake_judge).status == pb.PARTIAL
    assert len(fake_judge.bodies) == 2


def test_endpoint_that_stalls_is_timeout_within_the_deadline(fake_judge):
    fake_judge.answers = [(30.0, "Score: 9")]
    started = time.monotonic()
    result = judge(fake_judge, request={"timeout_seconds": 0.5})
    assert time.monotonic() - started < 10  # the 30 s stall is not waited out
    assert result.status == pb.TIMEOUT and result.reward == 0.0
    assert "no answer from" in result.message and "within 0.5 s" in result.message


def test_timeout_option_sets_the_deadline_inside_a_spec_term(fake_judge):
    fake_judge.answers = [(30.0, "Score: 9")]
    assert judge(fake_judge, timeout=0.3).status == pb.TIMEOUT


def test_server_error_is_retried_then_succeeds(fake_judge):
    fake_judge.answers = [500, 503, "Score: 10"]
    result = judge(fake_judge, retries=2)
    assert result.status == pb.CORRECT
    assert len(fake_judge.bodies) == 3


def test_rate_limit_is_retried_and_reported_with_its_status_when_it_persists(fake_judge):
    fake_judge.answers = [429, "Score: 10"]
    assert judge(fake_judge).status == pb.CORRECT
    fake_judge.answers, fake_judge.bodies = [429], []
    result = judge(fake_judge, "Marseille.", retries=1)
    assert result.status == pb.ERROR
    assert "HTTP 429" in result.message and "scripted failure 429" in result.message
    assert "after 2 attempt(s)" in result.message and len(fake_judge.bodies) == 2


def test_client_error_is_not_retried_and_names_the_status(fake_judge):
    fake_judge.answers = [400]
    result = judge(fake_judge)
    assert result.status == pb.ERROR and "answered HTTP 400" in result.message
    assert len(fake_judge.bodies) == 1


def test_endpoint_that_is_down_is_error_saying_so():
    result = rlvr.verify(
        {
            "verifier": "llm_judge",
            "response": "Paris.",
            "options": {"endpoint": "http://127.0.0.1:9/v1", "model": "judge", "retries": 0},
        }
    )
    assert result.status == pb.ERROR and "cannot connect" in result.message


def test_identical_judge_requests_are_answered_from_the_cache(fake_judge):
    fake_judge.answers = ["Score: 7"]
    first, second = judge(fake_judge), judge(fake_judge)
    assert first.reward == second.reward and "(cached)" in second.message
    assert len(fake_judge.bodies) == 1
    judge(fake_judge, "Paris, France.")  # another completion is another judge request
    judge(fake_judge, rubric="brevity")  # and so is another rubric
    judge(fake_judge, cache=False)
    assert len(fake_judge.bodies) == 4


def test_a_batch_is_judged_concurrently_within_the_concurrency_limit(fake_judge):
    fake_judge.delay = 0.3

    def batch(concurrency: int) -> list[pb.VerifyResponse]:
        options = {"endpoint": fake_judge.url, "model": "judge", "concurrency": concurrency, "cache": False}
        return rlvr.verify_batch(
            [{"verifier": "llm_judge", "response": f"answer {i}", "options": options} for i in range(6)]
        )

    assert all(r.status == pb.CORRECT for r in batch(2))
    assert fake_judge.max_in_flight == 2
    fake_judge.max_in_flight = 0
    batch(8)
    assert fake_judge.max_in_flight == 6  # every call of the batch at once


def test_api_key_comes_from_the_named_environment_variable_and_is_never_shown(fake_judge, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-secret-123")
    fake_judge.answers = [401]
    result = judge(fake_judge, api_key_env="JUDGE_KEY")
    assert fake_judge.headers[0]["Authorization"] == "Bearer sk-secret-123"
    assert result.status == pb.ERROR and "HTTP 401" in result.message
    assert "sk-secret" not in result.message and "sk-secret" not in str(fake_judge.bodies)


def test_missing_api_key_variable_is_invalid_request(fake_judge):
    result = judge(fake_judge, api_key_env="RLVR_TEST_UNSET_KEY")
    assert result.status == pb.INVALID_REQUEST and "'RLVR_TEST_UNSET_KEY', which is not set" in result.message
    assert fake_judge.bodies == []


def test_pairwise_compares_the_response_with_the_reference(fake_judge):
    fake_judge.answers = ["A is more precise.\nVerdict: A"]
    result = judge(fake_judge, "Paris is the capital.", mode="pairwise", request={"ground_truth": "Paris"})
    assert (result.status, result.reward) == (pb.CORRECT, 1.0)
    user = fake_judge.user_texts()[0]
    assert user.index("Paris is the capital.") < user.index("[Response B]\nParis")
    fake_judge.answers = ["[[C]]"]
    tie = judge(fake_judge, "Paris!", mode="pairwise", reference="Paris")
    assert (tie.status, tie.reward) == (pb.PARTIAL, 0.5)


def test_pairwise_in_both_orders_cancels_a_judge_that_always_picks_a(fake_judge):
    fake_judge.answers = ["Verdict: A"]
    result = judge(fake_judge, mode="pairwise", both_orders=True, reference="Paris")
    assert (result.status, result.reward) == (pb.PARTIAL, 0.5)
    assert len(fake_judge.bodies) == 2 and "response: A, swapped: A" in result.message


def test_pairwise_without_a_reference_is_invalid_request(fake_judge):
    result = judge(fake_judge, mode="pairwise")
    assert result.status == pb.INVALID_REQUEST and "ground_truth or option 'reference'" in result.message


def test_constitution_scores_each_principle(fake_judge):
    fake_judge.answer = lambda body: (
        "Score: 10" if "polite" in body["messages"][-1]["content"] else "Score: 1"
    )
    result = judge(fake_judge, mode="constitution", principles=["Be polite.", "Cite a source."])
    assert result.reward == pytest.approx(0.5) and result.status == pb.PARTIAL
    assert result.components["llm_judge.principle_1"] == 1.0
    assert result.components["llm_judge.principle_2"] == 0.0
    assert len(fake_judge.bodies) == 2


def test_one_unreadable_principle_makes_the_whole_judgement_error(fake_judge):
    fake_judge.answer = lambda body: "Score: 9" if "polite" in body["messages"][-1]["content"] else "hmm"
    result = judge(fake_judge, mode="constitution", principles=["Be polite.", "Cite a source."])
    assert result.status == pb.ERROR and "(principle_2)" in result.message


def test_custom_template_fills_known_fields_and_keeps_other_braces(fake_judge):
    fake_judge.answers = ['{"score": 3}']
    template = 'Q: {prompt}\nA: {response}\nReply as JSON {"score": <{min_score}-{max_score}>}'
    judge(fake_judge, "x = {y}", template=template, system="")
    [body] = fake_judge.bodies
    assert body["messages"] == [
        {"role": "user", "content": f'Q: {QUESTION}\nA: x = {{y}}\nReply as JSON {{"score": <1-10>}}'}
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"endpoint": None}, "option 'endpoint' is required"),
        ({"endpoint": "127.0.0.1:8000"}, "must be an http(s) URL"),
        ({"model": None}, "option 'model' is required"),
        ({"mode": "vibes"}, "option 'mode' must be one of 'pointwise', 'pairwise', 'constitution'"),
        ({"mode": "constitution"}, "needs option 'principles'"),
        ({"min_score": 5, "max_score": 5}, "min_score 5 must be below max_score 5"),
        ({"concurrency": 0}, "'concurrency' must be at least 1"),
        ({"template": "{question}"}, "placeholder {question} is unknown"),
        ({"timeout": -1}, "'timeout' must be positive"),
    ],
)
def test_bad_options_are_invalid_request_naming_the_fix(fake_judge, options, message):
    base = {"endpoint": fake_judge.url, "model": "judge"}
    merged = {k: v for k, v in {**base, **options}.items() if v is not None}
    result = rlvr.verify({"verifier": "llm_judge", "response": "Paris.", "options": merged})
    assert result.status == pb.INVALID_REQUEST and message in result.message
    assert fake_judge.bodies == []
