"""The `rlvr` command line: JSON lines in, one JSON line out per input, same ids, same order."""

from __future__ import annotations

import json
import subprocess
import sys

EXAMPLE = '{"id":"1","verifier":"math","response":"so the answer is $\\\\boxed{\\\\frac{1}{2}}$","ground_truth":"0.5"}'


def rlvr(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlvr", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def test_issue_example_is_correct_with_reward_one():
    result = rlvr("verify", stdin=EXAMPLE + "\n")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["id"] == "1" and answer["reward"] == 1.0 and answer["status"] == "CORRECT"


def test_bad_lines_get_invalid_request_lines_in_order_and_nothing_crashes(tmp_path):
    lines = [
        EXAMPLE,
        '{"id":"2","verifier":',  # truncated JSON, id still recoverable
        '{"id":"3","verifier":"no_such_verifier","response":"x"}',
        "[1, 2, 3]",
        EXAMPLE.replace('"1"', '"5"'),
    ]
    source = tmp_path / "requests.jsonl"
    source.write_text("\n".join(lines) + "\n\n")
    out = tmp_path / "responses.jsonl"
    result = rlvr("verify", str(source), "--output", str(out))
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    assert [a["id"] for a in answers] == ["1", "2", "3", "", "5"]
    assert [a["status"] for a in answers] == [
        "CORRECT",
        "INVALID_REQUEST",
        "INVALID_REQUEST",
        "INVALID_REQUEST",
        "CORRECT",
    ]
    assert "no_such_verifier" in answers[2]["message"]


def test_verifiers_lists_the_builtin_verifiers():
    result = rlvr("verifiers", "--json")
    assert result.returncode == 0, result.stderr
    names = {json.loads(line)["name"] for line in result.stdout.splitlines()}
    assert {"math", "code", "format"} <= names


def test_every_command_has_help():
    for command in ([], ["verify"], ["verifiers"]):
        result = rlvr(*command, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout
