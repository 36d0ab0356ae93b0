"""Locating the final answer: boxes, tags, GSM8K markers, phrases and the switchable fallback."""

from __future__ import annotations

from rlvr.verifier_server.verifiers.math import ExtractConfig, extract_answer, reference_text


def test_last_box_wins_and_nested_braces_are_kept() -> None:
    found = extract_answer(r"first \boxed{1}, then \boxed{\frac{1}{\sqrt{2}}} is right")
    assert found is not None
    assert found.text == r"\frac{1}{\sqrt{2}}"
    assert found.method == "boxed"


def test_adjacent_boxes_join_into_a_list_but_separate_formulas_do_not() -> None:
    assert extract_answer(r"\boxed{-2} \quad \text{and} \quad \boxed{1}").text == "-2, 1"
    assert extract_answer(r"$$\boxed{20}$$ \boxed{143}").text == "143"
    assert extract_answer(r"\boxed{5}. Wait, recheck: \boxed{3}").text == "3"


def test_unclosed_box_is_returned_whole_so_it_cannot_match() -> None:
    assert extract_answer(r"so \boxed{\frac{1}{2} and more").text == r"\frac{1}{2} and more"


def test_answer_tag_is_preferred_and_may_contain_a_box() -> None:
    assert extract_answer("<think>\\boxed{2}</think><answer>7</answer>").text == "7"
    assert extract_answer("<answer>so \\boxed{8}</answer>").method == "boxed inside <answer>"


def test_text_after_think_is_searched_first() -> None:
    assert extract_answer("<think>\\boxed{5}</think> The answer is \\boxed{4}.").text == "4"


def test_gsm8k_marker() -> None:
    found = extract_answer("48 + 24 = 72\n#### 72")
    assert (found.text, found.method) == ("72", "gsm8k ####")


def test_final_answer_phrases() -> None:
    assert (
        extract_answer("Final Answer: The final answer is $28 \\%$. I hope it is correct.").text == "28 \\%"
    )
    assert extract_answer("Final Answer: The volume of $ABC$ is 120. I hope it is correct.").text == "120"
    assert extract_answer("Therefore, the answer is -3.").text == "-3"


def test_last_expression_fallback_can_be_switched_off() -> None:
    text = "We compute $2+3$ and get $5$ in the end"
    assert extract_answer(text).text == "5"
    assert extract_answer(text, ExtractConfig(last_expression=False)) is None


def test_no_answer_in_prose_without_math() -> None:
    assert extract_answer("I do not know how to solve this.") is None


def test_number_fallback_ignores_digits_glued_to_letters() -> None:
    assert extract_answer("AZYUK2A") is None


def test_reference_forms() -> None:
    assert reference_text("$125$ miles") == "125 miles"
    assert reference_text(r"so \boxed{(1,2)}.") == "(1,2)"
    assert reference_text("\\[ \\frac{1}{2} \\]") == "\\frac{1}{2}"
    assert reference_text("She has 5 left.\n#### 5") == "5"


def test_final_answer_statement_after_the_boxes_overrides_intermediate_boxes() -> None:
    text = (
        r"step $\boxed{255}$ so she has $10,200 + $255 = $10,455. Final Answer: The final answer is $10,455$."
    )
    assert extract_answer(text).text == "10,455"
    assert extract_answer(r"so \boxed{7}. Final answer: see the box above.").text == "7"
    assert extract_answer(r"Final answer: \boxed{7}").text == "7"


def test_boxes_after_labels_join_into_a_list() -> None:
    assert extract_answer(r"\( y_1 = \boxed{A} \) and \( y_{2} = \boxed{B} \)").text == "A, B"
    assert extract_answer(r"$\boxed{4}$. That fails, so it is $\boxed{9}$").text == "9"


def test_reference_boxes_join_when_a_separator_or_only_symbols_lie_between() -> None:
    assert reference_text(r"\boxed{1} papers and \boxed{2} bins") == "1, 2"
    assert reference_text(r"$\boxed{35 cm} ++ \boxed{4}$") == "35 cm, 4"
    assert reference_text(r"\boxed{1} no no no \boxed{2}") == "2"
    assert reference_text(r"\boxed{1}. Then the answer, finally, is \boxed{2}") == "2"
