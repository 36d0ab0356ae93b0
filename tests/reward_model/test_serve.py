"""A reward spec mixing `math` accuracy with a reward model's score, through a real `rlvr serve` on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.service.client import Client


@pytest.mark.slow
def test_a_served_spec_adds_math_accuracy_and_a_reward_model_score(
    serve_target: str, reward_dir: Path
) -> None:
    spec = {
        "terms": [
            {"name": "accuracy", "verifier": "math", "weight": 1.0},
            {
                "name": "preference",
                "verifier": "reward_model",
                "weight": 0.5,
                "options": {"model": str(reward_dir)},
            },
        ]
    }
    completions = ["so \\boxed{7}", "so \\boxed{8}", "7, I think \\boxed{7}"]
    requests = [
        {"id": str(i), "reward_spec": spec, "prompt": "What is 3 + 4?", "response": text, "ground_truth": "7"}
        for i, text in enumerate(completions)
    ]
    with Client(serve_target, timeout=180) as client:
        answers = client.verify_batch(requests)
    assert [a.status for a in answers] == [pb.CORRECT, pb.INCORRECT, pb.CORRECT], [a.message for a in answers]
    for answer in answers:
        score = answer.components["preference"]
        assert answer.components["preference.score"] == score
        assert answer.reward == answer.components["accuracy"] + 0.5 * score
    assert "reward_model@1" in answers[0].verifier_version
