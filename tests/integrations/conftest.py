"""Fixtures of the trainer-adapter tests: the pinned trainers, a tiny offline model, a real `rlvr serve`.

A pinned trainer that is not installed skips its tests, or fails them with RLVR_REQUIRE_TRAINERS=1
(set it where the integrations extra is installed, as CI should); a trainer installed at another
version than the pin always fails: the adapters were checked against the pin only.
"""

from __future__ import annotations

import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rlvr.envs  # noqa: F401 - registers the ids

#: The versions the adapters were written and tested against (pyproject extras `trl`, `verl`, `openrlhf`).
PINS = {"trl": "1.16.0", "verl": "0.9.1", "openrlhf": "0.11.2"}
TINY_ENV = "rlvr/Arithmetic-v0"
TINY_KWARGS = {"difficulty": 1, "system_prompt": ""}


def require_trainer(name: str) -> str:
    """The installed version of trainer `name` (== its pin), else skip / fail as the module docstring says."""
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        message = f"{name}=={PINS[name]} is not installed (pip install --no-deps {name}=={PINS[name]})"
        if os.environ.get("RLVR_REQUIRE_TRAINERS"):
            pytest.fail(message)
        pytest.skip(message)
    if version != PINS[name]:
        pytest.fail(
            f"{name} {version} is installed but the adapters are pinned to {PINS[name]}: re-check the contract"
        )
    return version


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    stderr = process.stderr.read().decode()[-2000:] if process.poll() is not None and process.stderr else ""
    pytest.fail(f"rlvr serve did not listen on {port}: {stderr}")


class Served:
    """A real `rlvr serve` subprocess: gRPC `target` ("127.0.0.1:port") and HTTP gateway `http`."""

    def __init__(self, workers: int = 1, **flags: str):
        self.port, self.http_port = free_port(), free_port()
        command = [sys.executable, "-m", "rlvr.cli", "serve", "--port", str(self.port)]
        command += ["--http-port", str(self.http_port), "--workers", str(workers)]
        for flag, value in flags.items():
            command += [f"--{flag.replace('_', '-')}", value]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        _wait_for(self.port, self.process)
        _wait_for(self.http_port, self.process)
        self.target = f"127.0.0.1:{self.port}"
        self.http = f"http://127.0.0.1:{self.http_port}"

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def served() -> Iterator[Served]:
    running = Served()
    yield running
    running.close()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2 checkpoint + BPE tokenizer trained on the Arithmetic env (ALGORITHMS.md §9)."""
    pytest.importorskip("torch", reason="the tiny model needs the train extra")
    from rlvr.agents.tiny import build_tiny_for_env

    return build_tiny_for_env(tmp_path_factory.mktemp("tiny"), TINY_ENV, TINY_KWARGS, hidden_size=64)


@pytest.fixture(scope="session")
def dead_target() -> str:
    """A loopback address where nothing listens."""
    return f"127.0.0.1:{free_port()}"


def cpu_trainer_args(config_class: Any, output_dir: Path, **overrides: Any) -> Any:
    """A TRL trainer config for 2 quick steps on CPU: 4 rows of 4 generations, no bf16, no checkpointing."""
    settings: dict[str, Any] = dict(
        output_dir=str(output_dir),
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=12,
        learning_rate=1e-3,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    return config_class(**{**settings, **overrides})
