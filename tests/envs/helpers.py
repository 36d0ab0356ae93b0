"""Helpers of the env tests: sample data paths, each registered id's constructor arguments, completions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"

#: Constructor arguments that make every registered id buildable offline from the sample files.
ENV_KWARGS: dict[str, dict[str, Any]] = {
    "Arithmetic": {},
    "WordProblems": {},
    "Fractions": {},
    "LinearEquations": {},
    "Polynomials": {},
    "Units": {},
    "FormatOnly": {},
    "GSM8K": {"path": str(DATA / "gsm8k.jsonl")},
    "MATH": {"path": str(DATA / "math.jsonl")},
    "HumanEval": {"limit": 5},
    "MBPP": {"path": str(DATA / "mbpp.jsonl")},
    "CodeContests": {"path": str(DATA / "code_contests.jsonl")},
    "CodeRepair": {"schema": "mbpp", "path": str(DATA / "mbpp.jsonl")},
    "Calculator": {},
    "ReasoningGym": {"size": 20},
}


def math_answer(answer: str) -> str:
    """A completion in DeepSeek-R1's template with `answer` as the final answer."""
    return f"<think>Working it out step by step.</think>\n<answer>{answer}</answer>"


def program(source: str) -> str:
    """A completion holding `source` as its one fenced Python program."""
    return f"<think>Here is the program.</think>\n```python\n{source}\n```"
