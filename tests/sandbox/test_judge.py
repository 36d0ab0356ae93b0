"""`run_tests`: per-test verdicts for stdio, call and script tests in every language, judged on the host."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pytest

from rlvr.sandbox import Backend, Limits, RunResult
from rlvr.sandbox.judge.runner import InvalidTests, run_tests
from rlvr.verifier.v1 import verifier_pb2 as pb

from .conftest import FAST

pytestmark = pytest.mark.sandbox

ADD_STDIO = [
    {"stdio": {"input": "1 2\n", "output": "3\n"}},
    {"stdio": {"input": "10 -4\n", "output": "6"}},
]
PROGRAMS = {
    "python": "print(sum(map(int, input().split())))",
    "c": '#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);return 0;}',
    "cpp": "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<'\\n';}",
    "bash": "read a b\necho $((a + b))",
}


def verdicts(program: str, language: str, tests, backend: Backend, **kwargs) -> list[str]:
    kwargs.setdefault("limits", FAST)
    return [
        pb.Verdict.Name(v.verdict) for v in run_tests(program, language, tests, backend=backend, **kwargs)
    ]


@pytest.mark.parametrize("language", sorted(PROGRAMS))
def test_a_correct_program_passes_stdio_tests_in_every_language(language, backend):
    results = run_tests(PROGRAMS[language], language, ADD_STDIO + [{"stdio": {"input": "1 1\n", "output": "3\n"}}],
                        limits=FAST, backend=backend)  # fmt: skip
    assert [pb.Verdict.Name(r.verdict) for r in results] == ["OK", "OK", "WRONG_ANSWER"]
    assert [r.name for r in results] == ["test 1", "test 2", "test 3"]
    assert results[2].message == "line 1: expected '3', got '2'"
    assert all(r.elapsed_seconds > 0 for r in results)


def test_test_names_come_from_the_tests(backend):
    named = [{"stdio": {"input": "1 2\n", "output": "3\n"}, "name": "small"}]
    assert run_tests(PROGRAMS["python"], "python", named, limits=FAST, backend=backend)[0].name == "small"


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("", "COMPILE_ERROR"),
        ("   \n\n", "COMPILE_ERROR"),
        ("pass", "WRONG_ANSWER"),  # prints nothing
        ("print(3)\nraise SystemExit(1)", "RUNTIME_ERROR"),  # right output, failing exit
        ("import os\nprint(3, flush=True)\nos.kill(os.getpid(), 11)", "RUNTIME_ERROR"),
        ("while True: pass", "TIME_LIMIT"),
        ("x = bytearray(1 << 30)", "MEMORY_LIMIT"),
        ("while True: print('y' * 4096)", "OUTPUT_LIMIT"),
        ("def f(:\n  pass", "COMPILE_ERROR"),
        ("if True:\nprint(3)", "COMPILE_ERROR"),  # IndentationError
        ("eval('1 +')", "RUNTIME_ERROR"),  # a SyntaxError raised while running is a crash
    ],
)
def test_failing_programs_get_the_verdict_that_says_why(program, expected, backend):
    assert verdicts(program, "python", ADD_STDIO[:1], backend) == [expected]


def test_a_python_syntax_error_is_a_compile_error_for_stdio_tests_with_its_line(backend):
    for tests in (ADD_STDIO[:1], ADD_STDIO):  # one run, and a batch of runs
        results = run_tests("x = 1\ndef f(:\n  pass", "python", tests, limits=FAST, backend=backend)
        assert [(r.verdict, r.message) for r in results] == [
            (pb.COMPILE_ERROR, "SyntaxError: invalid syntax (line 2)")
        ] * len(tests)


@pytest.mark.parametrize("tests", [ADD_STDIO[:1], ADD_STDIO], ids=["one run", "batched runs"])
def test_an_exit_code_above_128_is_not_reported_as_a_signal(tests, backend):
    def messages(program: str, language: str = "python") -> set[str]:
        return {r.message for r in run_tests(program, language, tests, limits=FAST, backend=backend)}

    assert messages("raise SystemExit(137)") == {"exit code 137"}
    assert messages("int main(void) { return 139; }", "c") == {"exit code 139"}
    assert messages("exit 134", "bash") == {"exit code 134"}
    assert messages("import os\nos.kill(os.getpid(), 9)") == {"killed by SIGKILL"}
    assert messages("int main(void) { *(volatile int *)0 = 1; return 0; }", "c") == {"killed by SIGSEGV"}


def test_compile_errors_fail_every_test_with_the_compiler_message(backend):
    results = run_tests("int main() { return x; }", "c", ADD_STDIO, limits=FAST, backend=backend)
    assert [pb.Verdict.Name(r.verdict) for r in results] == ["COMPILE_ERROR", "COMPILE_ERROR"]
    assert "error" in results[0].message and "x" in results[0].message


def test_stop_on_first_failure_skips_the_rest(backend):
    tests = [ADD_STDIO[0], {"stdio": {"input": "1 1\n", "output": "3\n"}}] + ADD_STDIO * 3
    assert verdicts(PROGRAMS["c"], "c", tests, backend, stop_on_first_failure=True) == [
        "OK", "WRONG_ANSWER"] + ["SKIPPED"] * 6  # fmt: skip
    assert verdicts(PROGRAMS["cpp"], "cpp", ADD_STDIO * 3, backend, stop_on_first_failure=True) == ["OK"] * 6


def test_float_tolerance_accepts_close_stdout(backend):
    tests = [{"stdio": {"input": "", "output": "0.333333333\n"}}]
    assert verdicts("print(1/3)", "python", tests, backend) == ["WRONG_ANSWER"]
    assert verdicts("print(round(1/3, 7))", "python", tests, backend, float_tolerance=1e-6) == ["OK"]


ADD = "def add(a, b):\n    return a + b\n"


def test_call_tests_compare_json_values_with_exact_types(backend):
    tests = [
        {"call": {"function": "add", "args": [1, 2], "expected": 3}},
        {"call": {"function": "add", "args": [0.5, 2], "expected": 2.5}},
        {"call": {"function": "add", "args": [[1], [2, "x"]], "expected": [1, 2, "x"]}},
        {"call": {"function": "add", "args": ["a"], "kwargs": {"b": "b"}, "expected": "ab"}},
        {"call": {"function": "add", "args": [True, False], "expected": 1}},  # True + False is the int 1
        {"call": {"function": "add", "args": [True, False], "expected": True}},
        {"call": {"function": "add", "args": [1, 2], "expected": "3"}},
        {"call": {"function": "missing", "args": [], "expected": None}},
        {"call": {"function": "add", "args": [1], "expected": None}},
    ]
    assert verdicts(ADD, "python", tests, backend) == [
        "OK", "OK", "OK", "OK", "OK", "WRONG_ANSWER", "WRONG_ANSWER", "RUNTIME_ERROR", "RUNTIME_ERROR"]  # fmt: skip


def test_call_test_messages_show_the_call_and_both_values(backend):
    [result] = run_tests(ADD, "python", [{"call": {"function": "add", "args": [1, 2], "expected": 4}}],
                         limits=FAST, backend=backend)  # fmt: skip
    assert result.message == "add(1, 2): expected 4, got 3"


def test_tuples_and_dicts_come_back_as_json(backend):
    program = "def pair(x):\n    return (x, {'k': [x]})\n"
    tests = [{"call": {"function": "pair", "args": [1], "expected": [1, {"k": [1]}]}}]
    assert verdicts(program, "python", tests, backend) == ["OK"]


def test_script_tests_pass_and_fail_on_their_asserts(backend):
    converted = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\ncheck(add)\n"
    looped = (
        "def check(candidate):\n    for i in range(5):\n        assert candidate(i, 1) == i + 1\ncheck(add)\n"
    )
    wrong = "def check(candidate):\n    assert candidate(1, 1) == 2\n    assert abs(candidate(1, 1) - 3) < 1e-9\ncheck(add)\n"
    tests = [{"script": {"code": code}} for code in (converted, looped, wrong)]
    results = run_tests(ADD, "python", tests, limits=FAST, backend=backend)
    assert [pb.Verdict.Name(r.verdict) for r in results] == ["OK", "OK", "WRONG_ANSWER"]
    assert results[2].message == "assertion failed (test line 3): `assert abs(candidate(1, 1) - 3) < 1e-9`"


def test_converted_asserts_name_the_failing_assert(backend):
    code = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 5\ncheck(add)\n"
    [result] = run_tests(ADD, "python", [{"script": {"code": code}}], limits=FAST, backend=backend)
    assert result.message == "`candidate(2, 2) == 5` failed (test line 3): got 4"


def test_script_tests_may_catch_the_programs_exceptions(backend):
    program = "def root(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x ** 0.5\n"
    code = "try:\n    root(-1)\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('no error')\n"
    assert verdicts(program, "python", [{"script": {"code": code}}], backend) == ["OK"]
    assert verdicts("def root(x):\n    return 0", "python", [{"script": {"code": code}}], backend) == [
        "WRONG_ANSWER"
    ]


def test_a_python_syntax_error_is_a_compile_error_for_call_tests(backend):
    results = run_tests("def add(a, b)\n    return a", "python", [{"call": {"function": "add", "expected": 1}}],
                        limits=FAST, backend=backend)  # fmt: skip
    assert pb.Verdict.Name(results[0].verdict) == "COMPILE_ERROR"
    assert "SyntaxError" in results[0].message


def test_programs_crashing_on_import_fail_call_tests(backend):
    tests = [{"call": {"function": "add", "args": [1, 2], "expected": 3}}]
    assert verdicts("raise RuntimeError('boom')\n" + ADD, "python", tests, backend) == ["RUNTIME_ERROR"]
    assert verdicts("import time\ntime.sleep(60)\n" + ADD, "python", tests, backend) == ["TIME_LIMIT"]
    assert verdicts("x = [0] * (1 << 30)\n" + ADD, "python", tests, backend) == ["MEMORY_LIMIT"]


def test_huge_return_values_hit_the_output_limit(backend):
    program = "def big():\n    return 'x' * (4 << 20)\n"
    tests = [{"call": {"function": "big", "expected": ""}}]
    assert verdicts(program, "python", tests, backend) == ["OUTPUT_LIMIT"]


def test_call_and_script_tests_need_python():
    with pytest.raises(InvalidTests, match="needs language 'python'"):
        run_tests("int main(){}", "c", [{"call": {"function": "f", "expected": 1}}])


@pytest.mark.parametrize("test", [{}, {"stdio": {"input": 3}}, {"call": {"function": "f"}}, {"bogus": 1}])
def test_malformed_tests_are_rejected_with_the_test_shown(test):
    with pytest.raises(InvalidTests, match="test"):
        run_tests("print(1)", "python", [test])


class FailingSecondRun(Backend):
    """The real backend, except that its second run reports a sandbox failure (which cannot be forced)."""

    name = "failing-second-run"

    def __init__(self, real: Backend):
        self.real, self.runs = real, 0

    def check(self) -> None:
        self.real.check()

    def run(self, command: list[str], *, files: Mapping[str, bytes] | None = None, stdin: bytes = b"",
            limits: Limits = Limits(), collect: Sequence[str] = ()) -> RunResult:  # fmt: skip
        self.runs += 1
        if self.runs == 2:
            return RunResult(exit_code=None, sandbox_error="bwrap: cannot mount tmpfs")
        return self.real.run(command, files=files, stdin=stdin, limits=limits, collect=collect)


def test_a_sandbox_failure_is_a_sandbox_error_never_a_wrong_answer(backend):
    results = run_tests(
        PROGRAMS["python"], "python", ADD_STDIO * 2, limits=FAST, backend=FailingSecondRun(backend)
    )
    assert [pb.Verdict.Name(r.verdict) for r in results] == ["OK", "SANDBOX_ERROR", "OK", "OK"]
    assert "cannot mount tmpfs" in results[1].message
    calls = [{"call": {"function": "add", "args": [1, 2], "expected": 3}}] * 2
    assert verdicts(ADD, "python", calls, FailingSecondRun(backend)) == ["OK", "SANDBOX_ERROR"]


def test_call_tests_reach_methods_leetcode_style(backend):
    program = "class Solution:\n    def twoSum(self, nums, target):\n        return [0, 1] if nums[0] + nums[1] == target else []\n"
    tests = [{"call": {"function": "Solution.twoSum", "args": [[2, 7, 11], 9], "expected": [0, 1]}}]
    assert verdicts(program, "python", tests, backend) == ["OK"]


def test_script_tests_may_use_modules_the_program_imported(backend):
    # HumanEval-style checks use `math` without importing it: the driver imports its own copy.
    program = "import math\ndef root(x):\n    return math.sqrt(x)\n"
    code = "for x in (1.0, 2.0):\n    assert math.isclose(root(x) ** 2, x)\n"
    assert verdicts(program, "python", [{"script": {"code": code}}], backend) == ["OK"]


def test_program_functions_never_shadow_what_the_test_defines(backend):
    program = "def add(a, b):\n    return a - b\ndef expected(a, b):\n    return a - b\n"
    code = "def expected(a, b):\n    return a + b\nassert add(5, 3) == expected(5, 3)\n"
    assert verdicts(program, "python", [{"script": {"code": code}}], backend) == ["WRONG_ANSWER"]


def test_huge_ints_are_judged_exactly(backend):
    program = "import math\ndef fact(n):\n    return math.factorial(n)\n"
    exact = "import math\nassert fact(2000) == math.factorial(2000)\n"  # runs as a script in the sandbox
    off = "import math\nassert fact(2000) == math.factorial(2000) + 1\n"
    assert verdicts(program, "python", [{"script": {"code": exact}}, {"script": {"code": off}}], backend) == [
        "OK", "WRONG_ANSWER"]  # fmt: skip
    literal = f"assert fact(1500) == {math.factorial(1500)}\n"  # 4115 digits: converted
    assert verdicts(program, "python", [{"script": {"code": literal}}], backend) == ["OK"]
