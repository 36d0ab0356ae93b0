"""The OpenAI-compatible endpoint backend against a real HTTP server on loopback: sampling, retries,
timeouts, garbage, a server that is down, servers that ignore n, and resuming (no torch needed)."""

from __future__ import annotations

import json
import socket
import time

import pytest

from rlvr.agents.rollout.base import SamplingParams
from rlvr.agents.rollout.openai import EndpointError, OpenAIBackend
from rlvr.agents.sample import (
    EndpointSource,
    SampleError,
    SampleFile,
    jsonl_prompts,
    run_sampling,
    sampling_settings,
)
from rlvr.envs.client import InProcessVerifier

from .conftest import write_prompts

PARAMS = SamplingParams(max_new_tokens=16, temperature=1.0)


def _run(url, tmp_path, *, n=4, out=None, params=PARAMS, prompts=None, **backend_options):
    prompt_list, problems = jsonl_prompts(prompts or write_prompts(tmp_path / "p.jsonl"))
    assert not problems
    options = {"model": "oracle", "backoff": 0.01, "timeout": 5.0, **backend_options}
    source = EndpointSource(OpenAIBackend(url, **options), max_n=8)
    sample_file = SampleFile(out or tmp_path / "s.jsonl")
    run = {
        "source": "p.jsonl",
        "env_kwargs": None,
        "model": source.model,
        "backend": "openai",
        "sampling": sampling_settings(params, n=n, seed=0),
    }
    try:
        stats = run_sampling(
            prompt_list, source, InProcessVerifier(), sample_file, n=n, params=params, run=run
        )
    finally:
        sample_file.close()
    return stats, [json.loads(line) for line in sample_file.path.read_text().splitlines()]


def test_endpoint_samples_are_verified_and_written_with_their_settings(oracle_server, tmp_path):
    stats, records = _run(oracle_server.url, tmp_path)
    assert stats.written == 12 and stats.failed == 0
    keys = sorted((r["prompt_index"], r["sample_index"]) for r in records)
    assert keys == [(p, s) for p in range(3) for s in range(4)]
    by_sample = {(r["task_id"], r["sample_index"]): r for r in records}
    assert by_sample[("q2", 0)]["status"] == "CORRECT"  # 4.5 against 9/2: equivalence, not string equality
    assert by_sample[("q2", 1)]["status"] == "INCORRECT" and by_sample[("q2", 1)]["correct"] is False
    record = by_sample[("q0", 0)]
    assert record["reward"] == 1.0 and record["verifier"] == "math" and record["verifier_version"]
    assert record["completion_tokens"] == 8 and record["logprobs"] == [-0.1] * 8
    assert record["model"] == "oracle" and record["backend"] == "openai"
    assert record["sampling"]["temperature"] == 1.0 and record["spec_hash"]
    assert record["request"]["ground_truth"] == "5"


def test_model_name_comes_from_the_model_list(oracle_server):
    assert OpenAIBackend(oracle_server.url).model == "oracle"


def test_transient_server_errors_are_retried(oracle, oracle_server, tmp_path):
    oracle.fail_first = 2
    stats, records = _run(oracle_server.url, tmp_path, concurrency=1)
    assert stats.failed == 0 and len(records) == 12
    assert oracle.requests == 2 + 3


def test_a_slow_answer_times_out_and_is_retried(oracle, oracle_server, tmp_path):
    oracle.delay_first = 3.0
    stats, records = _run(oracle_server.url, tmp_path, timeout=1.0, concurrency=1)
    assert stats.failed == 0 and len(records) == 12


def test_garbage_answers_fail_their_request_and_keep_every_other_sample(oracle, oracle_server, tmp_path):
    oracle.garbage_for = "10 minus 4"
    stats, records = _run(oracle_server.url, tmp_path, retries=1)
    assert stats.failed == 4 and stats.written == 8
    assert "unparsable answer" in stats.errors[0] and "task q1" in stats.errors[0]
    assert {r["task_id"] for r in records} == {"q0", "q2"}
    oracle.garbage_for = None  # the server is fixed: a rerun fills in exactly what is missing
    stats, records = _run(oracle_server.url, tmp_path)
    assert stats.written == 4 and stats.skipped == 8
    keys = [(r["prompt_index"], r["sample_index"]) for r in records]
    assert len(keys) == len(set(keys)) == 12


def test_a_prompt_over_the_context_fails_alone_with_the_servers_message(oracle_server, tmp_path):
    rows = [
        {"id": "ok", "prompt": "What is 2 plus 3?", "ground_truth": "5"},
        {"id": "long", "prompt": "word " * 500, "ground_truth": "1"},
    ]
    stats, records = _run(
        oracle_server.url, tmp_path, prompts=write_prompts(tmp_path / "p.jsonl", rows), api="completions"
    )
    assert stats.written == 4 and stats.failed == 4
    assert "HTTP 400" in stats.errors[0] and "maximum context length" in stats.errors[0]
    assert "task long" in stats.errors[0]


def test_an_endpoint_that_is_down_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(EndpointError, match=r"cannot reach .*/models.*is the server up"):
        _ = OpenAIBackend(url).model
    began = time.perf_counter()
    stats, records = _run(url, tmp_path, retries=1)
    assert stats.failed == 12 and records == []
    assert "cannot reach" in stats.errors[0] and "after 2 attempts" in stats.errors[0]
    assert time.perf_counter() - began < 10


def test_servers_that_ignore_n_are_asked_again_for_the_rest(oracle, oracle_server, tmp_path):
    oracle.ignore_n = True
    stats, records = _run(oracle_server.url, tmp_path)
    assert stats.written == 12 and stats.failed == 0
    assert sorted(r["sample_index"] for r in records if r["task_id"] == "q0") == [0, 1, 2, 3]


def test_a_torn_last_line_is_cut_and_the_run_resumes_without_duplicates(oracle_server, tmp_path):
    out = tmp_path / "s.jsonl"
    _run(oracle_server.url, tmp_path, out=out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:5]) + lines[5][:40])  # killed while writing line 6
    sample_file = SampleFile(out)
    assert sample_file.cut_bytes == 40 and len(sample_file.done) == 5
    sample_file.close()
    stats, records = _run(oracle_server.url, tmp_path, out=out)
    assert stats.written == 7 and stats.skipped == 5
    assert sorted((r["prompt_index"], r["sample_index"]) for r in records) == [
        (p, s) for p in range(3) for s in range(4)
    ]


def test_resuming_with_other_sampling_settings_is_refused(oracle_server, tmp_path):
    out = tmp_path / "s.jsonl"
    _run(oracle_server.url, tmp_path, out=out, n=2)
    with pytest.raises(SampleError, match="sampling="):
        _run(
            oracle_server.url,
            tmp_path,
            out=out,
            n=2,
            params=SamplingParams(max_new_tokens=16, temperature=0.5),
        )


def test_bad_prompt_lines_are_named_and_the_others_kept(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(
        b'{"id": "a", "prompt": "What is 2 plus 3?", "ground_truth": "5"}\n'
        b"{not json\n"
        b'{"id": "b", "prompt": "no answer here"}\n'
        b'{"id": "c", "prompt": "\xff\xfe bad utf-8", "ground_truth": "1"}\n'
        b'{"id": "d", "messages": [{"role": "user", "content": "What is 10 minus 4?"}], "ground_truth": "6"}\n'
    )
    prompts, problems = jsonl_prompts(path)
    assert [p.task_id for p in prompts] == ["a", "d"]
    assert [p.index for p in prompts] == [0, 4]  # the line, so fixing a bad line later keeps the others' keys
    assert [int(m.split("line ")[1].split(":")[0]) for m in problems] == [2, 3, 4]
    assert "ground_truth" in problems[1]
