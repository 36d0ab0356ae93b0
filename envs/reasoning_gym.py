"""ReasoningGym: any task of the `reasoning-gym` package as a text env, scored by that task's own scorer."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from rlvr.envs.base import EnvConfigError, StepResult, TextEnv
from rlvr.envs.sources import DatasetSource
from rlvr.envs.task import Task
from rlvr.verifier.v1 import verifier_pb2 as pb


def _package_version() -> str:
    try:
        return importlib.metadata.version("reasoning-gym")
    except importlib.metadata.PackageNotFoundError:
        return ""


_VERSION = _package_version()


class ReasoningGymEnv(TextEnv):
    """A single-turn env over `reasoning_gym.create_dataset(task, size=size, seed=dataset_seed, **config)`.

    Needs the optional `reasoning-gym` package (`pip install reasoning-gym`; it generates offline).
    The answer is taken from the completion's `<answer>…</answer>` (reasoning-gym's `extract_answer`)
    and scored in this process by the dataset's `score_answer` (a reward in [0, 1]; CORRECT at 1,
    PARTIAL between, INCORRECT at 0). The verifier service and the reward spec are not involved.
    """

    def __init__(
        self,
        *,
        task: str = "leg_counting",
        size: int = 500,
        dataset_seed: int = 0,
        config: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        try:
            import reasoning_gym
        except ImportError:
            raise EnvConfigError(
                "rlvr/ReasoningGym-v0 needs the optional reasoning-gym package: pip install reasoning-gym"
            ) from None
        try:
            self.dataset = reasoning_gym.create_dataset(task, size=size, seed=dataset_seed, **(config or {}))
        except (KeyError, ValueError, TypeError) as exc:
            raise EnvConfigError(f"reasoning-gym task {task!r} with config {config!r}: {exc}") from None
        tasks = [
            Task(
                f"rg-{task}-{dataset_seed}-{index}",
                str(entry["question"]),
                ground_truth=str(entry["answer"]),
                metadata={"entry": entry},
            )
            for index, entry in enumerate(self.dataset)
        ]
        kwargs.setdefault("name", f"reasoning_gym_{task}")
        super().__init__(DatasetSource(tasks, f"reasoning-gym {task}"), **kwargs)

    def prepare_step(self, action: str) -> pb.VerifyRequest | None:
        super().prepare_step(action)  # checks the episode state and the action
        return None

    def finish_step(self, action: str, response: pb.VerifyResponse | None) -> StepResult:
        return super().finish_step(action, self.score(action))

    def score(self, action: str) -> pb.VerifyResponse:
        """reasoning-gym's verdict on `action`, in the VerifyResponse form the other envs report."""
        from reasoning_gym.utils import extract_answer

        assert self.task is not None
        answer = extract_answer(action)
        reward = float(self.dataset.score_answer(answer, self.task.metadata["entry"]))
        status = pb.CORRECT if reward >= 1.0 else pb.PARTIAL if reward > 0 else pb.INCORRECT
        found = "no <answer> tag" if answer is None else f"answer {answer[:80]!r}"
        return pb.VerifyResponse(
            reward=reward,
            status=status,
            components={"accuracy": reward},
            message=f"reasoning-gym score {reward:g} for {found}",
            verifier="reasoning_gym",
            verifier_version=_VERSION,
        )
