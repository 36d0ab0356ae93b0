"""The `code` verifier through the real `rlvr.verify` core: extraction, options, rewards and statuses."""

from __future__ import annotations

import pytest

import rlvr
from rlvr.sandbox.judge.runner import TestVerdict
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.messages import to_request
from rlvr.verifier_server.verifiers.code import (
    CodeOptions,
    CodeVerifier,
    extract_program,
    outcome_from_verdicts,
)

pytestmark = pytest.mark.sandbox

ADD_TESTS = [
    {"stdio": {"input": "1 2\n", "output": "3\n"}},
    {"stdio": {"input": "2 2\n", "output": "4\n"}},
]


def code_request(response: str, language: str = "python", tests=None, **options) -> dict:
    request = {"id": "r", "verifier": "code", "language": language, "response": response}
    request["tests"] = ADD_TESTS if tests is None else tests
    if options:
        request["options"] = options
    return request


def test_the_issue_example_is_correct():
    response = rlvr.verify(
        {
            "id": "7",
            "verifier": "code",
            "language": "python",
            "response": "```python\nprint(sum(map(int,input().split())))\n```",
            "tests": [{"stdio": {"input": "1 2\n", "output": "3\n"}}],
        }
    )
    assert (response.id, response.reward, pb.Status.Name(response.status)) == ("7", 1.0, "CORRECT")
    assert [pb.Verdict.Name(t.verdict) for t in response.test_results] == ["OK"]
    assert response.verifier == "code"


@pytest.mark.parametrize(
    ("language", "response"),
    [
        ("c", "Here you go:\n```c\n#include <stdio.h>\nint main(){int a,b;scanf(\"%d %d\",&a,&b);"
              "printf(\"%d\\n\",a+b);}\n```\nDone."),
        ("cpp", "```c++\n#include <iostream>\nint main(){int a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}\n```"),
        ("bash", "```sh\nread a b; echo $((a+b))\n```"),
    ],
)  # fmt: skip
def test_c_cpp_and_bash_programs_are_verified(language, response):
    result = rlvr.verify(code_request(response, language))
    assert (result.reward, pb.Status.Name(result.status)) == (1.0, "CORRECT"), result.message


def test_rewards_are_the_pass_fraction_or_all_or_nothing():
    half = "```python\nprint(3)\n```"
    fraction = rlvr.verify(code_request(half))
    assert (fraction.reward, pb.Status.Name(fraction.status)) == (0.5, "PARTIAL")
    assert fraction.components["code.pass_rate"] == 0.5
    assert fraction.message.startswith(
        "1/2 tests passed; test 2: WRONG_ANSWER: line 1: expected '4', got '3'"
    )
    strict = rlvr.verify(code_request(half, reward="all_or_nothing"))
    assert (strict.reward, pb.Status.Name(strict.status)) == (0.0, "PARTIAL")
    none = rlvr.verify(code_request("```python\nprint(5)\n```"))
    assert (none.reward, pb.Status.Name(none.status)) == (0.0, "INCORRECT")


def test_a_response_without_code_fails_rather_than_errors():
    result = rlvr.verify(code_request(""))
    assert pb.Status.Name(result.status) == "INCORRECT"
    assert [pb.Verdict.Name(t.verdict) for t in result.test_results] == ["COMPILE_ERROR"] * 2


def test_stop_on_first_failure_skips_later_tests():
    result = rlvr.verify(code_request("```python\nprint(4)\n```", stop_on_first_failure=True))
    assert [pb.Verdict.Name(t.verdict) for t in result.test_results] == ["WRONG_ANSWER", "SKIPPED"]
    assert result.reward == 0.0


def test_time_limit_option_bounds_each_test():
    result = rlvr.verify(
        code_request("```python\nwhile True: pass\n```", tests=ADD_TESTS[:1], time_limit=0.5)
    )
    assert [pb.Verdict.Name(t.verdict) for t in result.test_results] == ["TIME_LIMIT"]
    assert pb.Status.Name(result.status) == "INCORRECT"


def test_prefix_option_completes_a_continuation():
    tests = [{"call": {"function": "add", "args": [1, 2], "expected": 3}}]
    result = rlvr.verify(
        code_request("    return a + b\n", tests=tests, prefix="def add(a, b):\n", extract="whole")
    )
    assert pb.Status.Name(result.status) == "CORRECT", result.message


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"options": {"reward": "best"}}, "reward='best'"),
        ({"options": {"extract": "first"}}, "extract='first'"),
        ({"options": {"backend": "vm"}}, "backend='vm'"),
        ({"options": {"time_limit": -1}}, "time_limit=-1"),
        ({"options": {"time_limit": 0}}, "time_limit=0"),
        ({"options": {"memory_mb": "lots"}}, "memory_mb='lots'"),
        ({"options": {"stop_on_first_failure": "yes"}}, "stop_on_first_failure='yes'"),
        ({"options": {"prefix": 3}}, "prefix=3"),
        ({"tests": []}, "at least one test"),
        ({"language": "cobol"}, "unknown language 'cobol'"),
        ({"language": "c", "tests": [{"call": {"function": "f", "expected": 1}}]}, "needs language 'python'"),
        ({"tests": [{"call": {"function": "f"}}]}, "no expected value"),
    ],
)
def test_malformed_requests_are_invalid_and_say_what_to_fix(change, complaint):
    result = rlvr.verify({**code_request("```python\nprint(3)\n```"), **change})
    assert pb.Status.Name(result.status) == "INVALID_REQUEST"
    assert complaint in result.message


def test_unknown_options_are_left_to_other_reward_terms():
    assert CodeOptions.parse({"template": "<answer>", "max_tokens": 5}) == CodeOptions()


def test_limits_follow_time_and_memory_options():
    limits = CodeOptions.parse({"time_limit": 1.5, "memory_mb": 256}).limits()
    assert (limits.cpu_seconds, limits.wall_seconds, limits.memory_mb) == (1.5, 4.0, 256)


def test_the_deadline_grows_with_tests_and_compilation():
    verifier = CodeVerifier()
    one = verifier.timeout_for(to_request(code_request("", tests=ADD_TESTS[:1])), {})
    many = verifier.timeout_for(to_request(code_request("", tests=ADD_TESTS * 10)), {})
    compiled = verifier.timeout_for(to_request(code_request("", "cpp", tests=ADD_TESTS[:1])), {})
    assert one < many and one < compiled
    assert many >= 20 * 5.0  # every test may use its whole wall limit
    given = to_request({**code_request("", tests=ADD_TESTS * 10), "timeoutSeconds": 3})
    assert verifier.timeout_for(given, {}) == 3


def test_a_sandbox_failure_makes_the_outcome_an_error_not_a_wrong_answer():
    verdicts = [TestVerdict("a", pb.OK), TestVerdict("b", pb.SANDBOX_ERROR, "sandbox failed: bwrap died")]
    outcome = outcome_from_verdicts(verdicts, "fraction")
    assert (outcome.status, outcome.reward) == (pb.ERROR, 0.0)
    assert "bwrap died" in outcome.message
    assert [r.verdict for r in outcome.test_results] == [pb.OK, pb.SANDBOX_ERROR]


def test_invalid_option_errors_are_typed():
    with pytest.raises(InvalidRequest):
        CodeOptions.parse({"float_tolerance": True})


PYTHON_AND_C = """Python first:
```python
print("python")
```
then C:
```c
int main() { return 0; }
```
"""


def test_extraction_prefers_the_last_block_of_the_requested_language():
    assert extract_program(PYTHON_AND_C, "python") == 'print("python")\n'
    assert extract_program(PYTHON_AND_C, "c") == "int main() { return 0; }\n"
    assert extract_program(PYTHON_AND_C, "bash") == "int main() { return 0; }\n"  # any last block
    assert extract_program("```py\na = 1\n```\n```python3\nb = 2\n```", "python") == "b = 2\n"
    assert extract_program("```\nplain\n```", "python") == "plain\n"


def test_extraction_falls_back_to_the_whole_text_and_handles_truncation():
    assert extract_program("print(1)", "python") == "print(1)"
    assert extract_program("Sure:\n```python\nprint(1)\nprint(2", "python") == "print(1)\nprint(2"
    assert extract_program(PYTHON_AND_C, "python", "whole") == PYTHON_AND_C
