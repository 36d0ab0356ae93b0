"""GSM8K and MATH (Hendrycks competition math, MATH-500) rows as math tasks."""

from __future__ import annotations

import re
from typing import Any

from rlvr.envs.loaders.rows import DatasetFormatError, RowSource, field, read_rows
from rlvr.envs.task import Task, content_id
from rlvr.verifier_server.verifiers.math.extract import matching_brace

_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.S)
_LEVEL = re.compile(r"(\d+)")
_BOXED = ("\\boxed{", "\\fbox{")


def gsm8k_answer(solution: str) -> str:
    """The final answer of a GSM8K solution: the text after `####`, thousands separators removed."""
    match = _GSM8K_ANSWER.search(solution)
    if match is None:
        raise DatasetFormatError(f"GSM8K answer has no '#### <answer>' line: {solution[-80:]!r}")
    return match.group(1).replace(",", "").strip()


def last_boxed(solution: str) -> str | None:
    """Content of the last `\\boxed{…}` / `\\fbox{…}` in `solution` (balanced braces), or None."""
    start = max(solution.rfind(marker) for marker in _BOXED)
    if start < 0:
        return None
    opening = solution.index("{", start)
    closing = matching_brace(solution, opening)
    return None if closing is None else solution[opening + 1 : closing]


def load_gsm8k(source: RowSource, *, limit: int | None = None) -> list[Task]:
    """GSM8K rows `{"question", "answer": "... #### 42"}` as tasks (ground truth "42", difficulty 1)."""
    tasks = []
    for number, row in enumerate(read_rows(source, limit=limit)):
        where = f"GSM8K row {number}"
        question = str(field(row, "question", where=where))
        answer = gsm8k_answer(str(field(row, "answer", where=where)))
        tasks.append(
            Task(content_id("gsm8k", question), question, ground_truth=answer, metadata={"row": number})
        )
    return tasks


def math_level(value: Any) -> int:
    """MATH's "Level 3" (or 3) as 3; "Level ?" and missing levels as 1."""
    match = _LEVEL.search(str(value)) if value is not None else None
    return int(match.group(1)) if match else 1


def load_math(
    source: RowSource, *, limit: int | None = None, levels: tuple[int, ...] | None = None
) -> list[Task]:
    """MATH rows `{"problem", "solution", "level", "type"}` (or MATH-500's `answer`/`subject`) as tasks.

    The ground truth is the row's `answer` when present, else the last `\\boxed{}` of `solution`;
    difficulty is the level (1-5). `levels` keeps only those levels.
    """
    tasks = []
    for number, row in enumerate(read_rows(source, limit=limit)):
        where = f"MATH row {number}"
        problem = str(field(row, "problem", where=where))
        answer = row.get("answer")
        if not answer:
            answer = last_boxed(str(field(row, "solution", where=where)))
            if answer is None:
                raise DatasetFormatError(f"{where}: no 'answer' field and no \\boxed{{}} in the solution")
        level = math_level(row.get("level"))
        if levels is not None and level not in levels:
            continue
        subject = row.get("type") or row.get("subject") or ""
        tasks.append(
            Task(
                row.get("unique_id") or content_id("math", problem),
                problem,
                ground_truth=str(answer),
                difficulty=level,
                metadata={"row": number, "subject": subject},
            )
        )
    return tasks
