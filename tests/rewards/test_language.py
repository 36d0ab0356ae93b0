"""Language consistency: script- and function-word-based share of the chain of thought in the target."""

from __future__ import annotations

import pytest

import rlvr
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.verifiers.natural_language import (
    DISTINCTIVE_WORDS,
    chain_of_thought,
    measure_language,
)


def check(response: str, **options) -> pb.VerifyResponse:
    return rlvr.verify({"verifier": "language_consistency", "response": response, "options": options})


def test_all_english_chain_of_thought_is_fully_consistent():
    answer = check("<think>We add the two numbers and check the result.</think><answer>5</answer>")
    assert answer.status == pb.CORRECT and answer.reward == 1.0


def test_chinese_characters_count_one_unit_each_against_latin_words():
    response = "<think>我们计算 the sum</think><answer>5</answer>"
    # think part: 4 Han characters, 2 Latin words
    zh = check(response, language="zh")
    assert zh.status == pb.PARTIAL and zh.reward == pytest.approx(4 / 6)
    assert "latin 2" in zh.message
    assert check(response, language="en").reward == pytest.approx(2 / 6)


def test_language_tags_with_region_or_script_use_the_primary_language():
    response = "<think>我们计算</think>"
    assert check(response, language="zh-Hans").reward == 1.0
    assert check(response, language="ZH_cn").reward == 1.0


def test_kana_is_japanese_not_chinese():
    text = "これは数学です"  # 5 kana, 2 Han
    assert measure_language(text, "ja").share == 1.0
    assert measure_language(text, "zh").share == pytest.approx(2 / 7)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Сначала найдём сумму", "ru"),
        ("مرحبا بالعالم", "ar"),
        ("우리는 합을 구한다", "ko"),
        ("Πρώτα βρίσκουμε το άθροισμα", "el"),
        ("पहले हम योग निकालते हैं", "hi"),
        ("Najpierw obliczamy sumę", "pl"),
    ],
)
def test_text_in_the_target_script_is_fully_consistent(text, language):
    assert measure_language(text, language).share == 1.0
    other = "zh" if language != "zh" else "en"
    assert measure_language(text, other).share == 0.0


def test_sentence_in_another_latin_language_counts_against_english():
    # sentence 1: 4 English words; sentence 2: "donc", "la", "est" vote French, so its 5 words are French
    share = measure_language("We compute the sum. Donc la valeur est cinq.", "en")
    assert share.share == pytest.approx(4 / 9) and share.counts["fr"] == 5


def test_a_loanword_does_not_turn_an_english_sentence_french():
    assert measure_language("The café is where we meet and the answer is la carte.", "en").share == 1.0


def test_function_word_lists_hold_only_words_unique_to_one_language():
    for language, words in DISTINCTIVE_WORDS.items():
        others = set().union(*(w for lang, w in DISTINCTIVE_WORDS.items() if lang != language))
        assert not words & others
    assert "de" not in DISTINCTIVE_WORDS["fr"] and "the" in DISTINCTIVE_WORDS["en"]


def test_math_code_and_tags_are_not_counted():
    text = "我们有 $\\frac{ab}{cd} = xy$ 和 `print(value)` 以及\n```python\nfor item in items: pass\n```\n结束 <b>"
    assert measure_language(text, "zh").share == 1.0
    assert measure_language(text, "zh", skip_code_and_math=False).share < 1.0


def test_single_letter_variables_are_ignored():
    assert measure_language("设 x 为 y 的两倍", "zh").share == 1.0


@pytest.mark.parametrize(
    ("response", "cot"),
    [
        ("<think>a b</think><answer>c</answer>", "a b"),
        ("prefilled</think><answer>c</answer>", "prefilled"),
        ("<think>cut off mid", "cut off mid"),
        ("no tags", "no tags"),
    ],
)
def test_chain_of_thought_is_the_think_part_or_the_whole_response(response, cot):
    assert chain_of_thought(response) == cot


def test_source_response_judges_the_answer_too():
    response = "<think>We add them.</think><answer>答案是五</answer>"
    assert check(response).reward == 1.0
    # whole response: "We", "add", "them" and 4 Han characters (tags are markup, not words)
    assert check(response, source="response").reward == pytest.approx(3 / 7)


def test_chain_of_thought_without_words_earns_empty_reward():
    answer = check("<think>12 + 30 = 42</think><answer>42</answer>")
    assert answer.status == pb.INCORRECT and answer.reward == 0.0 and "no words" in answer.message
    lenient = check("", empty_reward=1.0)
    assert lenient.reward == 1.0 and lenient.status == pb.CORRECT


def test_only_the_first_max_chars_are_judged():
    answer = check("word " * 300_000 + "中文" * 10, max_chars=1000)
    assert answer.reward == 1.0 and "judged the first 1000" in answer.message


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"language": "xx"}, "supported: ar"),
        ({"language": 5}, "must be text"),
        ({"source": "answer"}, "'think', 'response'"),
        ({"max_chars": 0}, "must be ≥ 1"),
    ],
)
def test_bad_language_options_are_invalid_request(options, complaint):
    answer = check("hello world", **options)
    assert answer.status == pb.INVALID_REQUEST and complaint in answer.message
