"""User scripts call rlvr.verify without a `__main__` guard, from files or stdin: workers must not re-run them."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import rlvr
print("SCRIPT RAN")
answer = rlvr.verify({"verifier": "math", "response": "\\\\boxed{2}", "ground_truth": "2"})
print(rlvr.Status.Name(answer.status))
"""


def test_unguarded_script_file_runs_once_and_gets_its_answer(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["SCRIPT", "RAN", "CORRECT"]


def test_script_from_stdin_gets_its_answer():
    result = subprocess.run([sys.executable, "-"], input=SCRIPT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["SCRIPT", "RAN", "CORRECT"]


PLUGIN = """
from rlvr.verifier_server import Outcome, Verifier, register

@register
class Shouting(Verifier):
    name = "shouting"
    isolated = True  # runs in the worker processes, which must import this module too

    def check(self, request, options):
        return Outcome.correct("loud") if request.response.isupper() else Outcome.incorrect("quiet")
"""


def test_rlvr_plugins_modules_register_custom_verifiers_in_process_and_in_workers(tmp_path):
    (tmp_path / "my_verifiers.py").write_text(PLUGIN)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "RLVR_PLUGINS": "my_verifiers"}
    code = 'import rlvr; print(rlvr.Status.Name(rlvr.verify({"verifier": "shouting", "response": "HEY"}).status))'
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "CORRECT"
