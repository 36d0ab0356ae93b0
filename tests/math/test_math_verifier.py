"""The registered `math` verifier through the real core: statuses, options, bad input and time limits."""

from __future__ import annotations

import pytest

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.pool import WorkerPool
from rlvr.verifier_server.verifiers.math import MathConfig, judge, parse_reference
from rlvr.verifier_server.verifiers.math.deadlines import StepTimeout, time_limit


@pytest.fixture(scope="module")
def pool():
    workers = WorkerPool(size=1, memory_limit_mb=2048)
    yield workers
    workers.close()


def request(response: str, ground_truth: str = "0.5", **extra) -> dict:
    return {"id": "r", "verifier": "math", "response": response, "ground_truth": ground_truth, **extra}


def test_issue_example_is_correct_with_reward_one(pool: WorkerPool) -> None:
    response = rlvr.verify(
        {
            "id": "1",
            "verifier": "math",
            "response": "so the answer is $\\boxed{\\frac{1}{2}}$",
            "ground_truth": "0.5",
        },
        pool=pool,
    )
    assert (response.id, response.reward, response.status) == ("1", 1.0, pb.CORRECT)
    assert response.verifier == "math" and response.verifier_version
    assert "boxed" in response.message


def test_wrong_answer_is_incorrect_with_reward_zero(pool: WorkerPool) -> None:
    response = rlvr.verify(request(r"\boxed{0.6}"), pool=pool)
    assert (response.reward, response.status) == (0.0, pb.INCORRECT)
    assert "different numbers" in response.message


def test_power_tower_is_refused_without_blocking(pool: WorkerPool) -> None:
    response = rlvr.verify(request(r"\boxed{10^{10^{10^{10}}}}", "5", timeout_seconds=3), pool=pool)
    assert response.status in (pb.INCORRECT, pb.TIMEOUT)
    assert "too large" in response.message or "timed out" in response.message


def test_slow_comparison_reports_timeout_not_wrong(pool: WorkerPool) -> None:
    # Not a rational function (sqrt 2), so no exact modular check: expand runs into the soft limit.
    slow = request(r"\boxed{(\sqrt{2}a+b+c+d+1)^{60}}", r"(\sqrt{2}a+b+c+d+2)^{60}", timeout_seconds=0.8)
    response = rlvr.verify(slow, pool=pool)
    assert response.status == pb.TIMEOUT
    assert response.reward == 0.0


def test_batch_of_a_group_shares_one_reference(pool: WorkerPool) -> None:
    group = [
        request(rf"\boxed{{{v}}}", r"\frac{3}{4}", id=str(i))
        for i, v in enumerate(["0.75", "3/4", "0.7", "1"])
    ]
    responses = rlvr.verify_batch(group, pool=pool)
    assert [r.status for r in responses] == [pb.CORRECT, pb.CORRECT, pb.INCORRECT, pb.INCORRECT]
    assert [r.id for r in responses] == ["0", "1", "2", "3"]


def test_reference_is_parsed_once_per_process() -> None:
    parse_reference.cache_clear()
    for answer in ("1/2", "0.5", "2/4"):
        judge(rf"\boxed{{{answer}}}", r"\frac{1}{2}")
    info = parse_reference.cache_info()
    assert (info.misses, info.hits) == (1, 2)


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({"rel_tol": 0}, pb.INVALID_REQUEST),
        ({"rel_tol": "big"}, pb.INVALID_REQUEST),
        ({"ordered": "yes"}, pb.INVALID_REQUEST),
        ({"percent": "maybe"}, pb.INVALID_REQUEST),
        ({"units": "check", "ordered": True, "rel_tol": 1e-3}, pb.CORRECT),
        ({"template": {"think": True}, "max_length": [1, 2]}, pb.CORRECT),
        ({"rel_tol": [1e-3]}, pb.INVALID_REQUEST),
    ],
)
def test_options_are_validated(options: dict, status: int) -> None:
    response = rlvr.verify(request(r"\boxed{0.5}", options=options))
    assert response.status == status, response.message


def test_options_change_the_decision() -> None:
    assert rlvr.verify(request(r"\boxed{2, 1}", "1, 2")).status == pb.CORRECT
    assert rlvr.verify(request(r"\boxed{2, 1}", "1, 2", options={"ordered": True})).status == pb.INCORRECT
    assert rlvr.verify(request(r"\boxed{1.414}", r"\sqrt{2}", options={"rel_tol": 1e-3})).status == pb.CORRECT
    assert (
        rlvr.verify(request("so it is 7", "7", options={"allow_last_expression": False})).status
        == pb.INCORRECT
    )


def test_empty_ground_truth_is_an_invalid_request() -> None:
    response = rlvr.verify(request(r"\boxed{1}", "  "))
    assert response.status == pb.INVALID_REQUEST
    assert "ground_truth" in response.message


@pytest.mark.parametrize(
    ("response_text", "fragment"),
    [
        ("", "no final answer"),
        ("x" * 1_000_000, "no final answer"),
        (r"\boxed{\frac{1}{} ^ \sqrt}", "could not be parsed"),
        (r"\boxed{" + "{" * 900 + "1" + "}" * 900 + "}", "nested"),
        (r"\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}", "characters long"),
        (r"\boxed{" + "(" * 400 + "1" + ")" * 400 + "}", "nested"),
        ("\udcff\udcfe broken \\boxed{\udcff}", "could not be parsed"),
        ("\\(" * 100_000, "no final answer"),
        ("<answer>" * 100_000, "no final answer"),
        ("$$a" * 100_000, "differ"),
    ],
    ids=[
        "empty",
        "1MB-prose",
        "latex-garbage",
        "deep-braces",
        "huge-braces",
        "deep-parens",
        "lone-surrogates",
        "unclosed-delimiters",
        "unclosed-tags",
        "many-spans",
    ],
)
def test_bad_input_gets_a_clear_incorrect(response_text: str, fragment: str) -> None:
    outcome = judge(response_text, "1")
    assert outcome.status == pb.INCORRECT
    assert fragment in outcome.message


def test_one_megabyte_response_with_an_answer_at_the_end(pool: WorkerPool) -> None:
    response = rlvr.verify(request("blah " * 200_000 + r"so \boxed{\frac12}"), pool=pool)
    assert response.status == pb.CORRECT


def test_invalid_utf8_bytes_are_an_invalid_request() -> None:
    raw = b'{"id":"u","verifier":"math","response":"\xff\xfe","ground_truth":"1"}'
    response = rlvr.verify(raw)
    assert response.status == pb.INVALID_REQUEST
    assert response.id == "" or response.id == "u"


def test_unparsable_ground_truth_is_an_error_not_a_wrong_answer() -> None:
    outcome = judge(r"\boxed{3}", r"\int_0^1 \frac{}{}")
    assert outcome.status == pb.ERROR
    assert "ground truth" in outcome.message


def test_response_over_the_size_limit_is_incorrect() -> None:
    from rlvr.verifier_server.verifiers.math.verifier import MathVerifier

    config_limit = MathConfig().max_response_chars
    message = pb.VerifyRequest(verifier="math", response="1" * (config_limit + 1), ground_truth="1")
    outcome = MathVerifier().check(message, {})
    assert outcome.status == pb.INCORRECT
    assert "limit" in outcome.message


def test_time_limit_interrupts_and_nests() -> None:
    with pytest.raises(StepTimeout), time_limit(0.05):
        while True:
            pass
    with time_limit(5.0), time_limit(0.01):  # an inner limit shorter than the outer one is armed
        pass
