"""The judge through a real `rlvr serve` over gRPC on loopback: its model lane, gating and statuses."""

from __future__ import annotations

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.specs import load_spec
from rlvr.verifier_server.service.client import Client


def test_a_served_spec_judges_only_correct_answers_and_reports_judge_failures(serve_target, fake_judge):
    fake_judge.answer = lambda body: "Score: 10" if "\\boxed{4}" in body["messages"][-1]["content"] else "hmm"
    judge = {"endpoint": fake_judge.url, "model": "judge", "retries": 0, "cache": False}
    spec = load_spec(
        {
            "terms": [
                {"name": "accuracy", "verifier": "math"},
                {
                    "name": "style",
                    "verifier": "llm_judge",
                    "weight": 0.5,
                    "gate": "accuracy",
                    "options": judge,
                },
            ]
        }
    )
    requests = [
        pb.VerifyRequest(id=str(i), prompt="2 + 2?", response=text, ground_truth=truth, reward_spec=spec)
        for i, (text, truth) in enumerate([(r"\boxed{4}", "4"), (r"\boxed{5}", "4"), (r"\boxed{5}", "5")])
    ]
    with Client(serve_target) as client:
        correct, wrong, unread = client.verify_batch(requests)
    assert (correct.status, correct.reward) == (pb.CORRECT, 1.5)
    assert (wrong.status, wrong.reward, wrong.components["style.skipped"]) == (pb.INCORRECT, 0.0, 1.0)
    assert unread.status == pb.ERROR and "no score in the judge's reply 'hmm'" in unread.message
    assert len(fake_judge.bodies) == 2  # the wrong answer cost no judge call
