"""Reward specs: building from Python, dicts, JSON and YAML; validation errors; composition in verify."""

from __future__ import annotations

import json

import pytest

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine import registry
from rlvr.verifier_server.engine.specs import (
    NAMED_SPECS,
    InvalidRewardSpec,
    Spec,
    Term,
    dump_spec,
    load_spec,
    spec_to_dict,
)

from .conftest import WELL_FORMED, needs_math

AS_DICT = {
    "name": "shaped",
    "terms": [
        {"name": "fmt", "verifier": "format", "weight": 1.0, "options": {"template": "think_answer"}},
        {"verifier": "overlong", "weight": 0.5, "options": {"max_length": 100, "buffer": 20}},
    ],
}
AS_YAML = """
name: shaped
terms:
  - name: fmt
    verifier: format
    weight: 1.0
    options: {template: think_answer}
  - verifier: overlong
    weight: 0.5
    options:
      max_length: 100
      buffer: 20
"""


def expected_proto() -> pb.RewardSpec:
    spec = pb.RewardSpec(name="shaped")
    fmt = spec.terms.add(name="fmt", verifier="format", weight=1.0)
    fmt.options.update({"template": "think_answer"})
    overlong = spec.terms.add(name="overlong", verifier="overlong", weight=0.5)
    overlong.options.update({"max_length": 100, "buffer": 20})
    return spec


@pytest.mark.parametrize(
    "form",
    [
        AS_DICT,
        json.dumps(AS_DICT),
        AS_YAML,
        Spec(
            "shaped",
            [
                Term("format", 1.0, "fmt", {"template": "think_answer"}),
                Term("overlong", 0.5, options={"max_length": 100, "buffer": 20}),
            ],
        ),
        Spec("shaped", [Term("format", 1.0, "fmt", {"template": "think_answer"}), AS_DICT["terms"][1]]),
    ],
    ids=["dict", "json", "yaml", "python", "python-with-a-dict-term"],
)
def test_every_form_builds_the_same_spec(form):
    assert load_spec(form) == expected_proto()


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_spec_files_load_by_path_or_path_text(tmp_path, suffix):
    path = tmp_path / f"spec{suffix}"
    path.write_text(json.dumps(AS_DICT) if suffix == ".json" else AS_YAML, encoding="utf-8")
    assert load_spec(path) == expected_proto()
    assert load_spec(str(path)) == expected_proto()


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_dump_then_load_round_trips(fmt):
    spec = expected_proto()
    text = dump_spec(spec, fmt)
    assert load_spec(text) == spec
    assert load_spec(dump_spec(load_spec(text), fmt)) == spec


def test_proto_spec_round_trips_through_its_dict_and_gets_default_term_names():
    spec = pb.RewardSpec(name="p", terms=[pb.RewardTerm(verifier="format", weight=2.0)])
    loaded = load_spec(spec)
    assert loaded.terms[0].name == "format"
    assert load_spec(spec_to_dict(loaded)) == loaded


def test_registered_spec_loads_by_name():
    assert load_spec("r1_math") == registry.get_spec("r1_math")


@pytest.mark.parametrize(
    ("form", "complaint"),
    [
        ({"name": "x", "terms": [{"verifier": "nope"}]}, "unknown verifier 'nope'"),
        (
            {"name": "x", "terms": [{"verifier": "format", "weight": "heavy"}]},
            "weight must be a finite number",
        ),
        ({"name": "x", "terms": [{"verifier": "format", "weight": True}]}, "got True"),
        ({"name": "x", "terms": [{"verifier": "format", "weight": float("nan")}]}, "got nan"),
        ("name: x\nterms:\n  - {verifier: format, weight: 1e-3}\n", "write 1.0e-3"),
        ({"name": "x", "term": []}, "unknown key(s) 'term'"),
        (
            {"name": "x", "terms": [{"verifier": "format", "weigth": 1}]},
            "'weigth'; allowed: accuracy_term, gate, name",
        ),
        ({"name": "x", "terms": []}, "non-empty list 'terms'"),
        ({"name": "x", "terms": ["format"]}, "must be a mapping"),
        ({"name": "x", "terms": [{"verifier": "format"}, {"verifier": "format"}]}, "'format' is used twice"),
        ({"name": "x", "terms": [{"verifier": "format", "options": [1]}]}, "options must be a mapping"),
        (
            {
                "name": "x",
                "terms": [{"verifier": "format"}, {"verifier": "overlong"}, {"verifier": "kimi_length"}],
            },
            "set accuracy_term to one of them",
        ),
        ({"name": "x", "terms": [{"verifier": "cosine_length"}]}, "per-completion terms: none"),
        (
            {
                "name": "x",
                "terms": [{"verifier": "format"}, {"verifier": "kimi_length", "accuracy_term": "fmt"}],
            },
            "accuracy_term 'fmt' is not a term of this spec",
        ),
        ({"name": 3, "terms": [{"verifier": "format"}]}, "name must be text"),
        ("- just\n- a list\n", "must be a mapping, got list"),
        ("name: [unclosed", "not valid JSON or YAML"),
        ("r1_mth", "not a registered spec (cosine_math, dapo_math"),
    ],
)
def test_bad_specs_raise_typed_errors_saying_what_to_fix(form, complaint):
    with pytest.raises(InvalidRewardSpec) as caught:
        load_spec(form)
    assert complaint in str(caught.value)
    assert isinstance(caught.value, rlvr.InvalidRequest)


def test_unreadable_spec_file_names_the_path(tmp_path):
    missing = tmp_path / "absent.yaml"
    with pytest.raises(InvalidRewardSpec, match="absent.yaml"):
        load_spec(missing)


def test_spec_in_a_request_sums_weighted_terms_and_reports_each_component():
    # format 1.0 * 1 + overlong 0.5 * ((80 - 90) / 20) = 1 - 0.25
    response = WELL_FORMED + " " * (90 - len(WELL_FORMED))
    answer = rlvr.verify({"id": "s", "response": response, "reward_spec": spec_to_dict(load_spec(AS_DICT))})
    assert answer.reward == pytest.approx(0.75)
    assert dict(answer.components) == {"fmt": 1.0, "overlong": -0.5}
    assert answer.status == pb.CORRECT  # the first term's
    assert answer.verifier == "shaped" and "format@" in answer.verifier_version


def test_first_term_decides_the_status_and_an_unknown_term_wins():
    wrong = rlvr.verify({"response": "x" * 95, "reward_spec": AS_DICT})
    assert wrong.status == pb.INCORRECT and wrong.reward == pytest.approx(0.5 * -0.75)
    slow = {"pattern": "(a|aa)+b", "pattern_timeout": 0.05}
    timed_out = rlvr.verify(
        {
            "response": "a" * 64,
            "options": slow,
            "reward_spec": {"terms": [AS_DICT["terms"][1], {"verifier": "format"}]},
        }
    )
    assert timed_out.status == pb.TIMEOUT and timed_out.reward == 0.0


def test_named_specs_use_only_known_verifiers_and_none_starts_with_shaping():
    names = {info.name for info in rlvr.list_verifiers()}
    for name, body in NAMED_SPECS.items():
        assert name in names
        verifiers = [term["verifier"] for term in body["terms"]]
        assert verifiers[0] == "math"
        assert all(v == "math" or v in names for v in verifiers)


@needs_math
def test_r1_math_spec_rewards_accuracy_plus_a_tenth_for_format():
    right = "<think>half of one</think><answer>\\boxed{\\frac{1}{2}}</answer>"
    answers = rlvr.verify_batch(
        [
            {"id": "1", "verifier": "r1_math", "response": right, "ground_truth": "0.5"},
            {"id": "2", "verifier": "r1_math", "response": right, "ground_truth": "0.25"},
            {"id": "3", "verifier": "r1_math", "response": "\\boxed{0.5}", "ground_truth": "1/2"},
        ]
    )
    assert [a.reward for a in answers] == pytest.approx([1.1, 0.1, 1.0])
    assert [a.status for a in answers] == [pb.CORRECT, pb.INCORRECT, pb.CORRECT]
    assert dict(answers[0].components) == {"accuracy": 1.0, "format": 1.0}


@needs_math
def test_r1_math_lang_spec_reads_the_target_language_from_the_request():
    response = "<think>一半就是 one half</think><answer>\\boxed{0.5}</answer>"
    answer = rlvr.verify(
        {
            "verifier": "r1_math_lang",
            "response": response,
            "ground_truth": "1/2",
            "options": {"language": "zh"},
        }
    )
    # accuracy 1 + 0.1 * format 1 + 0.1 * language (4 Han of 6 units)
    assert answer.components["language"] == pytest.approx(4 / 6)
    assert answer.reward == pytest.approx(1.1 + 0.1 * 4 / 6)


@needs_math
def test_kimi_math_spec_shapes_a_group_by_length_and_correctness():
    base = {"verifier": "kimi_math", "group_id": "q", "ground_truth": "7"}
    requests = [
        {**base, "id": "1", "response": "\\boxed{7}", "response_tokens": 10},
        {**base, "id": "2", "response": "\\boxed{8}", "response_tokens": 20},
        {**base, "id": "3", "response": "\\boxed{7}", "response_tokens": 30},
    ]
    # λ = 0.5, 0, -0.5; the wrong one gets min(0, 0) = 0
    assert [a.reward for a in rlvr.verify_batch(requests)] == pytest.approx([1.5, 0.0, 0.5])


@needs_math
def test_dapo_and_cosine_specs_take_length_budgets_from_the_request():
    options = {"max_length": 100, "buffer": 20}
    dapo = rlvr.verify(
        {
            "verifier": "dapo_math",
            "response": "\\boxed{7}",
            "ground_truth": "7",
            "response_tokens": 90,
            "options": options,
        }
    )
    assert dapo.reward == pytest.approx(0.5) and dapo.components["overlong"] == pytest.approx(-0.5)
    cosine = rlvr.verify(
        {
            "verifier": "cosine_math",
            "response": "\\boxed{7}",
            "ground_truth": "7",
            "response_tokens": 50,
            "options": options,
        }
    )
    assert cosine.reward == pytest.approx(1.5) and cosine.status == pb.CORRECT
