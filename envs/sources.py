"""Task sources: a finite list of tasks (a dataset) or a seeded generator (unlimited or a fixed pool)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rlvr.envs.generators.base import Generator
from rlvr.envs.task import Task
from rlvr.errors import RlvrError


class EmptySource(RlvrError, ValueError):
    """A task source was built with no tasks (an empty file, a filter that removed every row)."""


@dataclass(frozen=True)
class TaskKey:
    """Which task to draw: a `level` and, for finite sources, the task's `index` (None = a fresh draw)."""

    level: int
    index: int | None = None


class TaskSource(ABC):
    """Where an env's tasks come from. `size` is None for unlimited sources."""

    size: int | None
    levels: tuple[int, ...]

    @abstractmethod
    def level_of(self, index: int) -> int:
        """The difficulty level of task `index` (finite sources only)."""

    @abstractmethod
    def get(self, key: TaskKey, rng: np.random.Generator) -> Task:
        """The task `key` names; unlimited sources draw a fresh one at `key.level` from `rng`."""

    def indices_at(self, level: int) -> np.ndarray:
        """Indices of the tasks at `level` (finite sources only)."""
        raise NotImplementedError


class DatasetSource(TaskSource):
    """A fixed list of tasks; each task's `difficulty` is its level."""

    def __init__(self, tasks: Sequence[Task], name: str = "dataset"):
        if not tasks:
            raise EmptySource(f"{name}: no tasks were loaded; check the path, the split and the filters")
        self.tasks = list(tasks)
        self.size = len(self.tasks)
        self._levels = np.array([t.difficulty for t in self.tasks])
        self.levels = tuple(sorted(set(self._levels.tolist())))

    def level_of(self, index: int) -> int:
        return int(self._levels[index])

    def indices_at(self, level: int) -> np.ndarray:
        return np.flatnonzero(self._levels == level)

    def get(self, key: TaskKey, rng: np.random.Generator) -> Task:
        index = key.index if key.index is not None else int(rng.choice(self.indices_at(key.level)))
        return self.tasks[index]


class GeneratorSource(TaskSource):
    """Tasks of a generator at the given `levels`.

    Unlimited by default: every draw is a fresh task from the env's rng. With `num_tasks`, a fixed
    pool: task `i` is drawn at level `levels[i % len(levels)]` from a generator seeded by
    `(pool_seed, i)`, the same on every machine, so per-task statistics (prioritized sampling) apply.
    """

    def __init__(
        self,
        generator: Generator,
        levels: Sequence[int],
        *,
        num_tasks: int | None = None,
        pool_seed: int = 0,
    ):
        for level in levels:
            generator.check_level(level)
        if num_tasks is not None and num_tasks < 1:
            raise EmptySource(f"{generator.name}: num_tasks={num_tasks}; pass a positive count or None")
        self.generator = generator
        self.levels = tuple(sorted(set(int(level) for level in levels)))
        self.size = num_tasks
        self.pool_seed = pool_seed
        self._pool: dict[int, Task] = {}

    def level_of(self, index: int) -> int:
        return self.levels[index % len(self.levels)]

    def indices_at(self, level: int) -> np.ndarray:
        assert self.size is not None
        position = self.levels.index(level)
        return np.arange(position, self.size, len(self.levels))

    def get(self, key: TaskKey, rng: np.random.Generator) -> Task:
        if self.size is None:
            return self.generator.generate(rng, key.level)
        index = key.index
        if index is None:  # a level asked of a fixed pool: one of the pool's tasks at that level
            index = int(rng.choice(self.indices_at(key.level)))
        if index not in self._pool:
            pool_rng = np.random.default_rng([self.pool_seed, index])
            self._pool[index] = self.generator.generate(pool_rng, self.level_of(index))
        return self._pool[index]
