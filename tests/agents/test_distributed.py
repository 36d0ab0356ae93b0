"""Data parallelism on CPU (gloo): 2 processes give the same update as 1 with the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("dp_worker.py")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun(processes: int, mode: str, overrides: dict, out: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={processes}"]
    command += ["--master-addr=127.0.0.1", f"--master-port={free_port()}"]
    subprocess.run(
        [*command, str(WORKER), mode, json.dumps(overrides), str(out)],
        check=True,
        env=env,
        timeout=300,
        capture_output=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["grpo", "reinforce_pp"])
def test_two_processes_update_like_one_with_the_same_global_batch(train_overrides, tmp_path, algo):
    overrides = {
        **train_overrides,
        "algo": algo,
        "prompts_per_step": 4,
        "group_size": 4,
        "micro_batch_size": 3,
    }
    torchrun(1, "update", {**overrides, "output_dir": str(tmp_path / "one")}, tmp_path / "one.pt")
    torchrun(2, "update", {**overrides, "output_dir": str(tmp_path / "two")}, tmp_path / "two.pt")
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert torch.allclose(one, two, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_only_rank_zero_writes_logs_and_checkpoints(train_overrides, tmp_path):
    overrides = {**train_overrides, "output_dir": str(tmp_path / "run")}
    torchrun(2, "train", overrides, tmp_path / "result.json")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2]
    assert (tmp_path / "run" / "final" / "config.json").exists()
    assert json.loads((tmp_path / "result.json").read_text())["steps"] == 2
