"""ReasoningGym: any task of the `reasoning-gym` package as a text env, scored by the `reasoning_gym` verifier."""

from __future__ import annotations

from typing import Any, ClassVar

from rlvr.envs.base import EnvConfigError, TextEnv
from rlvr.envs.sources import DatasetSource
from rlvr.envs.task import Task
from rlvr.verifier_server.verifiers.reasoning_gym import INSTALL_HINT, task_options


class ReasoningGymEnv(TextEnv):
    """A single-turn env over `reasoning_gym.create_dataset(task, size=size, seed=dataset_seed, **config)`.

    Needs the optional `reasoning-gym` package (it generates offline), here and wherever the env's
    verifier runs. Each request carries the dataset entry (as JSON), the task name and its config;
    the registered `reasoning_gym` verifier takes the completion's last `<answer>…</answer>` and
    scores it with that dataset's own `score_answer` (a reward in [0, 1]; CORRECT at 1, PARTIAL
    between, INCORRECT at 0). Like every env it is scored by the core, so `reward_spec`,
    `format_weight`, `verifier="grpc://…"` and the worker pool's isolation and deadlines apply.
    """

    accuracy_verifier: ClassVar[str] = "reasoning_gym"

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
                f"rlvr/ReasoningGym-v0 needs the optional reasoning-gym package: {INSTALL_HINT}"
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
                options=task_options(task, entry, dict(config or {}), dataset_seed, size),
                metadata={"entry": entry},
            )
            for index, entry in enumerate(self.dataset)
        ]
        kwargs.setdefault("name", f"reasoning_gym_{task}")
        super().__init__(DatasetSource(tasks, f"reasoning-gym {task}"), **kwargs)
