"""Judging a program against tests: the sandbox runs it, the host compares (expected values never enter)."""

from rlvr.sandbox.judge.runner import InvalidTests, TestVerdict, run_tests

__all__ = ["InvalidTests", "TestVerdict", "run_tests"]
