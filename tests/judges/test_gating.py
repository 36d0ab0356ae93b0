"""Specs mixing rules and judges: weighted math + judge terms, and gated terms that cost no judge call."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.specs import InvalidRewardSpec, Spec, Term, dump_spec, load_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "judged_math_reward.yaml"


def judged_math(url: str, gate: str = "accuracy") -> pb.RewardSpec:
    judge = {"endpoint": url, "model": "judge", "retries": 0}
    style = {"name": "style", "verifier": "llm_judge", "weight": 0.5, "options": judge}
    return load_spec(
        {"name": "judged_math", "terms": [{"name": "accuracy", "verifier": "math"}, style | {"gate": gate}]}
    )


def requests(spec: pb.RewardSpec, answers: list[str]) -> list[pb.VerifyRequest]:
    return [
        pb.VerifyRequest(
            id=str(i), prompt="2 + 2?", response=rf"\boxed{{{a}}}", ground_truth="4", reward_spec=spec
        )
        for i, a in enumerate(answers)
    ]


def test_a_gated_judge_is_called_only_for_correct_answers(fake_judge):
    fake_judge.answers = ["Score: 10"]
    results = rlvr.verify_batch(requests(judged_math(fake_judge.url), ["4", "5", "4.0", "22"]))
    assert [r.reward for r in results] == [1.5, 0.0, 1.5, 0.0]
    assert [r.status for r in results] == [pb.CORRECT, pb.INCORRECT, pb.CORRECT, pb.INCORRECT]
    assert len(fake_judge.bodies) == 2  # one judge call per correct answer, none for the wrong ones
    wrong = results[1]
    assert wrong.components["style"] == 0.0 and wrong.components["style.skipped"] == 1.0
    assert "style: not run: gate 'accuracy' is INCORRECT" in wrong.message
    assert "style.skipped" not in results[0].components


def test_an_ungated_judge_scores_every_answer_with_its_weight(fake_judge):
    fake_judge.answers = ["Score: 4"]
    spec = load_spec(
        {
            "terms": [
                {"name": "accuracy", "verifier": "math"},
                {
                    "name": "style",
                    "verifier": "llm_judge",
                    "weight": 0.5,
                    "options": {"endpoint": fake_judge.url, "model": "judge"},
                },
            ]
        }
    )
    results = rlvr.verify_batch(requests(spec, ["4", "5"]))
    assert [r.reward for r in results] == pytest.approx([1 + 0.5 / 3, 0.5 / 3])
    assert [r.components["style.score"] for r in results] == [4, 4]
    assert len(fake_judge.bodies) == 2


def test_a_judge_failure_is_the_answer_status_never_a_silent_zero(fake_judge):
    fake_judge.answers = ["The answer looks fine to me."]
    [result] = rlvr.verify_batch(requests(judged_math(fake_judge.url), ["4"]))
    assert result.status == pb.ERROR and result.reward == 0.0
    assert "style: llm_judge: no score in the judge's reply" in result.message


def test_a_gate_without_a_verdict_skips_its_term_and_the_answer_stays_unknown(fake_judge):
    [request] = requests(judged_math(fake_judge.url), ["4"])
    request.reward_spec.terms[0].verifier = "code"  # no tests: the gate is INVALID_REQUEST, not wrong
    [result] = rlvr.verify_batch([request])
    assert result.status == pb.INVALID_REQUEST and result.components["style.skipped"] == 1.0
    assert fake_judge.bodies == []


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ([{"name": "a", "verifier": "math", "gate": "zzz"}], "gate 'zzz' must name another term"),
        ([{"name": "a", "verifier": "math", "gate": "a"}], "gate 'a' must name another term"),
        (
            [
                {"name": "a", "verifier": "math"},
                {"name": "b", "verifier": "format", "gate": "a"},
                {"name": "c", "verifier": "overlong", "gate": "b"},
            ],
            "gate 'b' is itself gated on 'a'; gate on 'a' directly",
        ),
        (
            [{"name": "a", "verifier": "math"}, {"name": "k", "verifier": "kimi_length", "gate": "a"}],
            "a group term ('kimi_length' or 'math') scores a whole group",
        ),
        ([{"name": "a", "verifier": "math"}, {"name": "b", "verifier": "format", "gate": 3}], "gate must be"),
    ],
)
def test_bad_gates_are_refused_saying_what_to_fix(terms, message):
    with pytest.raises(InvalidRewardSpec, match=re.escape(message)):
        load_spec({"name": "bad", "terms": terms})


def test_a_bad_gate_in_a_request_spec_is_invalid_request():
    spec = pb.RewardSpec(terms=[pb.RewardTerm(name="a", verifier="math", gate="nope")])
    result = rlvr.verify(pb.VerifyRequest(response="4", ground_truth="4", reward_spec=spec))
    assert result.status == pb.INVALID_REQUEST and "gate 'nope'" in result.message


def test_gates_survive_yaml_and_json_round_trips_and_python_specs(fake_judge):
    spec = judged_math(fake_judge.url)
    assert load_spec(dump_spec(spec, "yaml")) == spec == load_spec(dump_spec(spec, "json"))
    judge = {"endpoint": fake_judge.url, "model": "judge", "retries": 0}
    built = Spec(
        "judged_math",
        [Term("math", name="accuracy"), Term("llm_judge", 0.5, "style", judge, gate="accuracy")],
    )
    assert built.to_proto() == spec


def test_the_example_spec_loads_and_gates_its_judge_on_accuracy():
    spec = load_spec(EXAMPLE)
    assert [(t.name, t.verifier, t.gate) for t in spec.terms] == [
        ("accuracy", "math", ""),
        ("style", "llm_judge", "accuracy"),
    ]
