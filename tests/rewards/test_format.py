"""The format reward: templates, partial credit, custom tags and regexes, and hostile input."""

from __future__ import annotations

import pytest

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.verifiers.format import TEMPLATES, check_template, last_boxed

from .conftest import WELL_FORMED


def check(response: str, **options) -> pb.VerifyResponse:
    return rlvr.verify({"id": "f", "verifier": "format", "response": response, "options": options})


@pytest.mark.parametrize(
    "response",
    [
        WELL_FORMED,
        "<think>\nstep 1\nstep 2\n</think>\n\n<answer>\n42\n</answer>\n",
        "  <think>思考过程</think><answer>答案是 5</answer>",
    ],
)
def test_r1_template_followed_earns_one(response):
    answer = check(response)
    assert answer.status == pb.CORRECT and answer.reward == 1.0
    assert answer.components == {"format": 1.0}


@pytest.mark.parametrize(
    ("response", "missing"),
    [
        ("", "one <think>…</think> block"),
        ("The answer is 4.", "one <think>…</think> block"),
        ("<think>reasoning</think>", "one <answer>…</answer> block"),
        ("<think></think><answer>4</answer>", "<think> non-empty"),
        ("<think>r</think><answer>  \n </answer>", "<answer> non-empty"),
        ("<answer>4</answer><think>reasoning</think>", "tags in order"),
        ("Sure! <think>r</think><answer>4</answer>", "text outside the tags: 'Sure!'"),
        ("<think>r</think><answer>4</answer> Hope it helps", "nothing outside the tags"),
        ("<think>r<answer>4</answer></think>", "tags overlap"),
        ("<think>a</think><think>b</think><answer>4</answer>", "<think> ×2"),
        ("</think>r<think><answer>4</answer>", "</think> before <think>"),
        ("<THINK>r</THINK><ANSWER>4</ANSWER>", "one <think>…</think> block"),
    ],
)
def test_strict_template_violation_earns_zero_and_says_what_is_missing(response, missing):
    answer = check(response)
    assert answer.status == pb.INCORRECT and answer.reward == 0.0
    assert missing in answer.message


def test_partial_mode_pays_the_fraction_of_criteria_met():
    # think_answer has 6 criteria; only the think block and "nothing outside" hold here: 3 of 6.
    answer = check("<think>reasoning</think>", strict=False)
    assert answer.status == pb.PARTIAL and answer.reward == pytest.approx(3 / 6)
    # Text before the tags breaks 1 criterion of 6.
    answer = check("Sure! " + WELL_FORMED, strict=False)
    assert answer.reward == pytest.approx(5 / 6) and answer.status == pb.PARTIAL


def test_partial_mode_is_correct_when_all_hold_and_incorrect_when_none_do():
    assert check(WELL_FORMED, strict=False).status == pb.CORRECT
    nothing = check("", template="boxed", strict=False)
    assert nothing.status == pb.INCORRECT and nothing.reward == 0.0


def test_think_block_opened_by_the_prompt_is_accepted_through_response_prefix():
    response = "reasoning</think><answer>4</answer>"
    assert check(response).status == pb.INCORRECT
    assert check(response, response_prefix="<think>\n").status == pb.CORRECT


def test_answer_only_template_rejects_a_think_block():
    assert check("<answer>42</answer>", template="answer_only").status == pb.CORRECT
    rejected = check(WELL_FORMED, template="answer_only")
    assert rejected.status == pb.INCORRECT and "outside" in rejected.message


@pytest.mark.parametrize(
    ("response", "content"),
    [
        ("So the answer is $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("\\boxed{1} first, then \\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\boxed{a_{1} + \\boxed{b}}", "b"),
        ("\\boxed{" + "{" * 50_000 + "x" + "}" * 50_000 + "}", "{" * 50_000 + "x" + "}" * 50_000),
    ],
)
def test_last_boxed_balances_braces_and_ignores_escaped_ones(response, content):
    assert last_boxed(response) == content
    assert check(response, template="boxed").status == pb.CORRECT


@pytest.mark.parametrize("response", ["no box", "\\boxed{1} and \\boxed{2", "\\boxed{\\}"])
def test_missing_or_unclosed_last_box_fails_the_boxed_template(response):
    assert last_boxed(response) is None
    assert check(response, template="boxed").status == pb.INCORRECT


def test_empty_box_earns_half_in_partial_mode():
    answer = check("\\boxed{ }", template="boxed", strict=False)
    assert answer.reward == pytest.approx(0.5) and "\\boxed{} non-empty" in answer.message


def test_custom_tags_in_order_with_a_box_inside_the_last_tag():
    options = {"tags": ["reasoning", "final"], "boxed": True}
    assert check("<reasoning>r</reasoning><final>\\boxed{3}</final>", **options).status == pb.CORRECT
    outside = check("<reasoning>r \\boxed{3}</reasoning><final>3</final>", **options)
    assert outside.status == pb.INCORRECT and "closed \\boxed{} in <final>" in outside.message


def test_boxed_option_alone_is_the_boxed_template():
    assert check("so \\boxed{3}", boxed=True).status == pb.CORRECT
    assert check("so 3", boxed=True).status == pb.INCORRECT


def test_structured_templates_count_their_criteria():
    assert len(check_template("", TEMPLATES["think_answer"])) == 6
    assert len(check_template("", TEMPLATES["answer_only"])) == 3
    assert len(check_template("", TEMPLATES["boxed"])) == 2


def test_custom_pattern_must_match_the_whole_response_across_lines():
    assert check("<answer>42</answer>", pattern=r"<answer>\d+</answer>").status == pb.CORRECT
    assert check("<answer>42</answer>!", pattern=r"<answer>\d+</answer>").status == pb.INCORRECT
    assert check("<think>a\nb</think>", pattern=r"<think>.+</think>").status == pb.CORRECT


def test_catastrophic_backtracking_pattern_is_a_timeout_not_a_wrong_answer():
    answer = check("a" * 64, pattern="(a|aa)+b", pattern_timeout=0.05)
    assert answer.status == pb.TIMEOUT and answer.reward == 0.0
    assert "backtracking" in answer.message


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"pattern": "(unclosed"}, "not a valid regex"),
        ({"pattern": "a" * 2001}, "limit"),
        ({"pattern": "a", "strict": False}, "all or nothing"),
        ({"template": "boxed", "pattern": "a"}, "conflicts"),
        ({"pattern": "a", "tags": ["a"]}, "either"),
        ({"pattern": "a", "boxed": True}, "either"),
        ({"template": "think_answer", "boxed": True}, "conflicts"),
        ({"pattern": "a", "pattern_timeout": 60}, "(0, 5] seconds"),
        ({"pattern": "a", "pattern_timeout": 0}, "(0, 5] seconds"),
        ({"template": "xml"}, "'think_answer'"),
        ({"template": "custom"}, "tags"),
        ({"tags": ["think", "think"]}, "distinct"),
        ({"tags": ["no spaces allowed"]}, "tag names"),
        ({"tags": "think"}, "must be a list"),
        ({"strict": "yes"}, "must be true or false"),
        ({"max_chars": 1.5}, "must be an integer"),
        ({"max_chars": 0}, "must be ≥ 1"),
    ],
)
def test_bad_options_are_invalid_request_naming_the_problem(options, complaint):
    answer = check(WELL_FORMED, **options)
    assert answer.status == pb.INVALID_REQUEST
    assert complaint in answer.message


def test_response_over_max_chars_is_incorrect_without_scanning():
    answer = check("<think>" + "x" * 2_000_000 + "</think><answer>4</answer>")
    assert answer.status == pb.INCORRECT and "max_chars" in answer.message


def test_megabyte_response_with_many_stray_tags_is_judged():
    response = "<think>" * 200_000 + "</think><answer>4</answer>"
    answer = check(response, max_chars=2_000_000)
    assert answer.status == pb.INCORRECT and "<think> ×200000" in answer.message
    big = "<think>" + "step. " * 150_000 + "</think><answer>4</answer>"
    assert check(big, max_chars=2_000_000).status == pb.CORRECT
