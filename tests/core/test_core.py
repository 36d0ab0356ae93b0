"""The verify core: validation, statuses, dedupe, reward specs, groups, and the killable pool."""

from __future__ import annotations

import pytest

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.pool import TaskTimeout, WorkerPool

from . import verifiers_for_tests as tv


@pytest.fixture(scope="module")
def pool():
    # fork (not forkserver) so the workers inherit the test-only verifiers registered above
    pool = WorkerPool(2, memory_limit_mb=1024, start_method="fork")
    yield pool
    pool.close()


def test_dict_json_and_message_forms_give_the_same_answer():
    as_dict = {"id": "a", "verifier": "test_echo", "response": "abc", "ground_truth": "abc"}
    message = pb.VerifyRequest(id="a", verifier="test_echo", response="abc", ground_truth="abc")
    import json

    answers = [rlvr.verify(form) for form in (as_dict, json.dumps(as_dict), message)]
    assert all(a.status == pb.CORRECT and a.reward == pytest.approx(0.3) and a.id == "a" for a in answers)


def test_unknown_verifier_is_invalid_request_naming_the_known_ones():
    response = rlvr.verify({"id": "x", "verifier": "nope", "response": "1"})
    assert response.status == pb.INVALID_REQUEST
    assert "nope" in response.message and "test_echo" in response.message


@pytest.mark.parametrize(
    "raw",
    [
        '{"id": "7", "verifier": ',
        b"\xff\xfe",
        '["a list"]',
        '{"id": "7", "no_such_field": 1}',
        {"id": "7", "tests": 3},
    ],
)
def test_malformed_requests_are_answered_invalid_request(raw):
    response = rlvr.verify(raw)
    assert response.status == pb.INVALID_REQUEST
    assert response.message


def test_bad_item_in_a_batch_harms_no_other_item():
    good = {"id": "g", "verifier": "test_echo", "response": "ok", "ground_truth": "ok"}
    responses = rlvr.verify_batch(
        [good, "not json", {"id": "i", "verifier": "test_echo", "response": "invalid"}, good]
    )
    assert [r.status for r in responses] == [pb.CORRECT, pb.INVALID_REQUEST, pb.INVALID_REQUEST, pb.CORRECT]


def test_verifier_crash_is_error_not_incorrect():
    response = rlvr.verify({"id": "b", "verifier": "test_echo", "response": "boom"})
    assert response.status == pb.ERROR
    assert "ZeroDivisionError" in response.message


def test_identical_checks_in_a_batch_run_once():
    tv.CALLS.clear()
    batch = [{"id": str(i), "verifier": "test_echo", "response": "same"} for i in range(8)]
    responses = rlvr.verify_batch(batch + [{"id": "d", "verifier": "test_echo", "response": "other"}])
    assert tv.CALLS == ["same", "other"]
    assert [r.id for r in responses] == [str(i) for i in range(8)] + ["d"]


def test_hung_check_times_out_and_the_pool_keeps_serving(pool):
    responses = rlvr.verify_batch(
        [
            {"id": "hang", "verifier": "test_sleep", "response": "forever", "timeout_seconds": 0.5},
            {"id": "fast", "verifier": "test_sleep", "response": "0"},
        ],
        pool=pool,
    )
    assert responses[0].status == pb.TIMEOUT and responses[0].reward == 0.0
    assert "timed out" in responses[0].message
    assert responses[1].status == pb.CORRECT
    assert (
        rlvr.verify({"id": "again", "verifier": "test_sleep", "response": "0"}, pool=pool).status
        == pb.CORRECT
    )


def test_worker_that_dies_is_replaced_and_its_item_is_error(pool):
    restarts = pool.restarts
    died = rlvr.verify({"id": "x", "verifier": "test_sleep", "response": "exit"}, pool=pool)
    assert died.status == pb.ERROR and "crashed" in died.message
    assert pool.restarts == restarts + 1
    assert rlvr.verify({"id": "y", "verifier": "test_sleep", "response": "0"}, pool=pool).status == pb.CORRECT


def test_pool_run_raises_timeout_and_replaces_the_worker(pool):
    with pytest.raises(TaskTimeout):
        pool.run(_spin, (), timeout=0.3)
    assert pool.run(pow, (2, 10), timeout=5) == 1024


def _spin():
    while True:
        pass


def spec_request(response: str, **extra) -> dict:
    return {
        "id": "s",
        "response": response,
        "ground_truth": "abcd",
        "reward_spec": {
            "name": "demo",
            "terms": [
                {"name": "accuracy", "verifier": "test_echo", "weight": 1.0},
                {"name": "bonus", "verifier": "test_echo", "weight": 0.5, "options": {"scale": 2}},
            ],
        },
        **extra,
    }


def test_reward_spec_sums_weighted_terms_and_reports_each_component():
    response = rlvr.verify(spec_request("abcd"))
    assert response.status == pb.CORRECT
    assert response.reward == pytest.approx(0.4 + 0.5 * 0.4)
    assert dict(response.components) == pytest.approx({"accuracy": 0.4, "bonus": 0.4})
    assert response.verifier == "demo"
    assert "scale=2" in response.message


def test_error_in_any_term_wins_over_the_first_terms_status():
    request = spec_request("boom")
    request["reward_spec"]["terms"][0]["verifier"] = "test_sleep"
    response = rlvr.verify(request)
    assert response.status == pb.ERROR


def test_group_verifier_sees_the_whole_group_and_correctness_of_first_term():
    tv.GroupRank.seen.clear()
    spec = {
        "terms": [
            {"name": "acc", "verifier": "test_echo", "weight": 1},
            {"name": "rank", "verifier": "test_group", "weight": 1},
        ]
    }
    batch = [
        {"id": "1", "group_id": "g", "response": "a", "ground_truth": "a", "reward_spec": spec},
        {"id": "2", "group_id": "g", "response": "bbb", "ground_truth": "x", "reward_spec": spec},
        {"id": "3", "group_id": "h", "response": "cc", "ground_truth": "cc", "reward_spec": spec},
    ]
    responses = rlvr.verify_batch(batch)
    assert sorted(tv.GroupRank.seen) == [(["a", "bbb"], [True, False]), (["cc"], [True])]
    assert [r.components["rank"] for r in responses] == [0.0, 1.0, 0.0]


def test_spec_term_without_verifier_is_invalid_request():
    response = rlvr.verify(
        {"id": "z", "response": "x", "reward_spec": {"terms": [{"name": "a", "weight": 1}]}}
    )
    assert response.status == pb.INVALID_REQUEST and "names no verifier" in response.message


def test_request_without_verifier_or_spec_is_invalid_request():
    assert rlvr.verify({"id": "z", "response": "x"}).status == pb.INVALID_REQUEST


def test_messages_quote_latex_as_written_not_as_a_repr():
    answer = rlvr.verify({"verifier": "math", "response": "\\boxed{\\frac{1}{3}}", "ground_truth": "1/2"})
    assert answer.message == "different numbers; answer '\\frac{1}{3}' (boxed)"
    broken = rlvr.verify({"verifier": "math", "response": "\\boxed{\\frac{1}{}}", "ground_truth": "1/2"})
    assert "answer '\\frac{1}{}'" in broken.message and "\\\\" not in broken.message


def test_concurrent_first_calls_all_see_the_loaded_registry():
    # A fresh interpreter: the registry loads on first use, here from 8 threads at once (verl's threaded
    # reward calls). None may see a half-filled registry ("unknown verifier 'math'").
    import subprocess
    import sys

    program = (
        "import threading, rlvr\n"
        "out = []\n"
        "def call(): out.append(rlvr.verify({'id': '1', 'verifier': 'math', 'response': '\\\\boxed{2}', 'ground_truth': '2'}).status)\n"
        "threads = [threading.Thread(target=call) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(sorted(set(out)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert result.stdout.strip() == "[1]", result.stderr[-2000:]
