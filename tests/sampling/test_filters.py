"""R1, Kimi and DPO filters on hand-made sample records (real verifiers for format and language)."""

from __future__ import annotations

import json

from rlvr.agents.filters import FilterConfig, filter_records
from rlvr.agents.sample import completion_text

PROMPT = [{"role": "user", "content": "What is 2 plus 3?"}]


def record(
    i: int,
    completion: str,
    correct: bool | None = True,
    *,
    tokens: int | None = None,
    finish="stop",
    task="t0",
):
    status = {True: "CORRECT", False: "INCORRECT", None: "TIMEOUT"}[correct]
    return {
        "task_id": task,
        "prompt_index": int(task[1:]),
        "sample_index": i,
        "source": "test",
        "prompt": PROMPT,
        "completion": completion,
        "status": status,
        "correct": correct,
        "reward": float(bool(correct)),
        "finish_reason": finish,
        "completion_tokens": tokens if tokens is not None else len(completion.split()),
        "components": {},
    }


GOOD = "<think>two plus three is five</think> <answer>5</answer>"


def test_r1_keeps_clean_verified_samples_only():
    records = [
        record(0, GOOD),
        record(
            1, "<think>two plus three 是 五 因为 二加三等于五</think> <answer>5</answer>"
        ),  # mixed language
        record(
            2, "<think>code</think> ```python\nprint(5)\n``` <answer>5</answer>"
        ),  # code block in a math task
        record(3, GOOD, finish="length"),
        record(4, "<think>wrong</think> <answer>6</answer>", correct=False),
        record(5, "<think>timed out</think> <answer>5</answer>", correct=None),
        record(6, "  " + GOOD),  # a duplicate up to whitespace
        record(7, "the answer is 5"),  # no think/answer template
        record(8, "<think>" + "five " * 600 + "</think> <answer>5</answer>"),  # one long paragraph
    ]
    rows, report = filter_records(records, "r1", FilterConfig(format="think_answer"))
    assert [row["completion"][0]["content"] for row in rows] == [GOOD]
    assert report.dropped == {
        "mixed language": 1,
        "code block": 1,
        "truncated": 1,
        "not correct": 2,
        "duplicate": 1,
        "format": 1,
        "long paragraph": 1,
    }
    assert rows[0]["prompt"] == PROMPT  # TRL conversational prompt-completion


def test_r1_caps_samples_per_prompt():
    records = [record(i, f"<think>way {i} to five</think> <answer>5</answer>") for i in range(6)]
    rows, report = filter_records(records, "r1", FilterConfig(max_per_prompt=2))
    assert len(rows) == 2 and report.dropped == {"over max per prompt": 4}


def test_kimi_keeps_the_shortest_correct_per_prompt():
    records = [
        record(0, "a b c d 5", tokens=9),
        record(1, "5", tokens=3),
        record(2, "6", False, tokens=1),
        record(0, "x 5", tokens=4, task="t1"),
    ]
    rows, _ = filter_records(records, "kimi", FilterConfig())
    assert [row["completion"][0]["content"] for row in rows] == ["5", "x 5"]


def test_dpo_rejects_a_wrong_sample_else_a_much_longer_correct_one():
    wrong_available = [record(0, "short 5", tokens=2), record(1, "wrong 6", False, tokens=5)]
    long_only = [
        record(0, "5", tokens=10, task="t1"),
        record(1, "long 5", tokens=15, task="t1"),
        record(2, "longer 5", tokens=30, task="t1"),
    ]
    rows, report = filter_records(wrong_available + long_only, "dpo", FilterConfig(with_metadata=True))
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [
        ("short 5", "wrong 6"),
        ("5", "longer 5"),  # 15 < 1.5 x 10, 30 >= 15
    ]
    assert rows[1]["metadata"]["rewards"] == [1.0, 1.0]
    text_rows, _ = filter_records(
        [{**r, "prompt": "What is 2 plus 3?"} for r in wrong_available], "dpo", FilterConfig()
    )
    assert set(text_rows[0]) == {"prompt", "chosen", "rejected"} and text_rows[0]["chosen"] == "short 5"


def test_invalid_utf8_in_a_completion_is_replaced_not_fatal():
    broken = "ok \udcff end"  # a lone surrogate, as byte-level decoding of a cut character gives
    fixed = completion_text(broken)
    assert fixed == "ok \ufffd end" or fixed == "ok ? end"
    json.dumps(fixed, ensure_ascii=False).encode("utf-8")
