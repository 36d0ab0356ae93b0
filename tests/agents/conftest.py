"""The agents tests need torch, which only the train extra installs: skip them without it.

Shared fixtures build one tiny offline model per session (a real HF checkpoint, nothing downloaded).
"""

from pathlib import Path

import pytest

pytest.importorskip("torch")

#: The env and kwargs every tiny-model test trains on: short prompts, boxed answers.
ENV = "rlvr/Arithmetic-v0"
ENV_KWARGS = {"system_prompt": ""}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rlvr.agents.tiny import build_tiny_model, env_corpus

    return build_tiny_model(
        tmp_path_factory.mktemp("tiny") / "model", env_corpus(ENV, ENV_KWARGS, tasks=300), hidden_size=64
    )


@pytest.fixture
def train_overrides(tiny_model: Path, tmp_path: Path) -> dict:
    """A fast config on the tiny model: 2 prompts x 4 completions, short completions, few eval tasks."""
    return {
        "model": str(tiny_model),
        "env": ENV,
        "env_kwargs": dict(ENV_KWARGS),
        "output_dir": str(tmp_path / "run"),
        "steps": 2,
        "prompts_per_step": 2,
        "group_size": 4,
        "max_new_tokens": 6,
        "lr": 1e-3,
        "eval_tasks": 4,
        "eval_every": 0,
        "progress": False,
        "tensorboard": False,
    }
