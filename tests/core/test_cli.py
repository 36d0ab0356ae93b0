"""The `rlvr` command line: JSON lines in, one JSON line out per input, same ids, same order."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import rlvr as rlvr_api
from rlvr.cli import CHUNK_LINES

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


def test_a_group_straddling_the_chunk_boundary_is_verified_whole(tmp_path):
    spec = {
        "name": "grouped",
        "terms": [
            {"name": "accuracy", "verifier": "format", "weight": 1.0},
            {"name": "length", "verifier": "kimi_length", "weight": 1.0, "accuracy_term": "accuracy"},
        ],
    }
    well_formed = "<think>so</think><answer>4</answer>"
    group = [
        {
            "id": f"g-{m}",
            "group_id": "g",
            "group_size": 4,
            "reward_spec": spec,
            "response": well_formed + " " * 9 * m,
        }
        for m in range(4)
    ]
    filler = [{"id": f"f{i}", "verifier": "format", "response": well_formed} for i in range(CHUNK_LINES - 2)]
    source = tmp_path / "requests.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in filler + group))
    result = rlvr("verify", str(source))
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    whole = {a.id: a.reward for a in rlvr_api.verify_batch(group)}
    assert {a["id"]: a["reward"] for a in answers[-4:]} == whole and len(set(whole.values())) > 1


def test_output_is_replaced_only_after_success_and_never_is_the_input(tmp_path):
    existing = tmp_path / "existing.jsonl"
    existing.write_text("keep me\n")
    result = rlvr("verify", str(tmp_path / "missing.jsonl"), "-o", str(existing))
    assert result.returncode == 2 and existing.read_text() == "keep me\n"
    assert result.stderr.strip().splitlines() == [
        f"rlvr: error: cannot read {tmp_path / 'missing.jsonl'}: No such file or directory"
    ]
    same = tmp_path / "same.jsonl"
    same.write_text(EXAMPLE + "\n")
    result = rlvr("verify", str(same), "-o", str(same))
    assert result.returncode == 2 and "is the input file" in result.stderr
    assert same.read_text() == EXAMPLE + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "existing.jsonl",
        "same.jsonl",
    ]  # no temp files left
    result = rlvr("verify", str(same), "-o", str(existing))
    assert result.returncode == 0 and json.loads(existing.read_text())["status"] == "CORRECT"


def test_bad_paths_give_one_line_and_no_traceback(tmp_path):
    cases = [
        (["verify", str(tmp_path)], "is a directory"),
        (["verify", "-o", str(tmp_path), "-"], "is a directory"),
        (["verify", "-o", str(tmp_path / "no" / "such" / "dir.jsonl")], "cannot write to"),
    ]
    for args, expected in cases:
        result = rlvr(*args, stdin=EXAMPLE + "\n")
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_serve_on_a_busy_port_says_so_in_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = rlvr("serve", "--port", str(port), "--workers", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"rlvr: error: cannot listen on 127.0.0.1:{port} for gRPC (Address already in use): another process "
        "may hold it; stop it or choose another port with --port (0 picks a free one)"
    ]


def test_lines_without_id_are_warned_about_and_strict_fails_on_invalid_lines():
    lines = [EXAMPLE, '{"verifier": "math", "response": "\\\\boxed{1}", "ground_truth": "1"}', "not json"]
    result = rlvr("verify", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0
    assert 'line without an "id" (line 2)' in result.stderr
    assert "1 of 3 lines answered INVALID_REQUEST (line 3)" in result.stderr
    assert rlvr("verify", "--strict", stdin="\n".join(lines) + "\n").returncode == 1
    assert rlvr("verify", "--strict", stdin=EXAMPLE + "\n").returncode == 0
