"""Sampling across processes: verifying through a running `rlvr serve`, and a run killed with SIGKILL
that resumes without duplicating or losing a sample."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from rlvr.cli import app

from .conftest import write_prompts

runner = CliRunner()


def _keys(path: Path) -> list[tuple[int, int]]:
    return [(r["prompt_index"], r["sample_index"]) for r in map(json.loads, path.read_text().splitlines())]


def test_verifying_through_rlvr_serve_gives_the_in_process_scores(oracle_server, serve_target, tmp_path):
    prompts = write_prompts(tmp_path / "p.jsonl")
    outputs = {}
    for name, extra in (("local", []), ("remote", ["--verifier", f"grpc://{serve_target}"])):
        outputs[name] = tmp_path / f"{name}.jsonl"
        result = runner.invoke(
            app,
            [
                "sample",
                "--prompts",
                str(prompts),
                "--endpoint",
                oracle_server.url,
                "--n",
                "4",
                "-o",
                str(outputs[name]),
                "--no-progress",
                *extra,
            ],
        )
        assert result.exit_code == 0, result.output

    def scores(path):
        return sorted(
            (r["prompt_index"], r["sample_index"], r["status"], r["reward"], r["verifier_version"])
            for r in map(json.loads, path.read_text().splitlines())
        )

    assert scores(outputs["local"]) == scores(outputs["remote"])


def test_a_killed_run_resumes_without_duplicates_or_losses(oracle, oracle_server, tmp_path):
    prompts = write_prompts(tmp_path / "p.jsonl")
    out = tmp_path / "s.jsonl"
    args = [
        "sample",
        "--prompts",
        str(prompts),
        "--endpoint",
        oracle_server.url,
        "--n",
        "4",
        "--max-n",
        "1",
        "--concurrency",
        "1",
        "-o",
        str(out),
        "--no-progress",
    ]
    oracle.delay_each = 0.15
    process = subprocess.Popen(
        [sys.executable, "-m", "rlvr.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 4):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    before = _keys(out)
    assert 4 <= len(before) < 12, "the run was killed mid-way"
    oracle.delay_each = 0.0
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    after = _keys(out)
    assert sorted(after) == [(p, s) for p in range(3) for s in range(4)]
    assert after[: len(before)] == before  # what was there is kept as it was
