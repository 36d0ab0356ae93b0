"""Task samplers: uniform, curriculum by difficulty, and prioritized by failure rate (Kimi k1.5).

A sampler picks a `TaskKey` from a `TaskSource` and learns from `update(key, success)` after each
episode. Its state is plain JSON-able data (`state_dict` / `load_state_dict`), so a training run can
checkpoint and resume it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from typing import Any

import numpy as np

from rlvr.envs.sources import TaskKey, TaskSource
from rlvr.errors import RlvrError


class SamplerError(RlvrError, ValueError):
    """A sampler cannot work with this source or state (e.g. per-task priorities on an unlimited source)."""


class Sampler(ABC):
    """Chooses the next task key. Subclasses keep all their state in `state_dict()`."""

    name: str

    @abstractmethod
    def sample(self, source: TaskSource, rng: np.random.Generator) -> TaskKey:
        """The key of the next task, drawn with `rng` (the env's `np_random`)."""

    def update(self, source: TaskSource, key: TaskKey, success: bool) -> None:  # noqa: B027 - may be stateless
        """Record the outcome of one finished episode on task `key` of `source`."""

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.name}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("sampler") != self.name:
            raise SamplerError(f"state of sampler {state.get('sampler')!r} given to a {self.name!r} sampler")


class UniformSampler(Sampler):
    """Every task equally likely; for unlimited sources, every configured level equally likely."""

    name = "uniform"

    def sample(self, source: TaskSource, rng: np.random.Generator) -> TaskKey:
        if source.size is None:
            return TaskKey(int(rng.choice(source.levels)))
        index = int(rng.integers(source.size))
        return TaskKey(source.level_of(index), index)


class CurriculumSampler(Sampler):
    """Draws at the current level and moves up one level on a schedule or on success.

    Promotion happens after `every` episodes at a level (a schedule), or once the success rate over
    the last `window` episodes at the level reaches `threshold`, whichever is configured (both may be).
    Levels are the source's levels, in order; the last one is kept once reached.
    """

    name = "curriculum"

    def __init__(
        self, *, threshold: float | None = 0.8, window: int = 32, every: int | None = None, start: int = 0
    ):
        if threshold is None and every is None:
            raise SamplerError("CurriculumSampler needs a promotion rule: pass threshold=, every= or both")
        if window < 1:
            raise SamplerError(f"window={window}: the success window must hold at least one episode")
        self.threshold = threshold
        self.window = window
        self.every = every
        self.position = start
        self.episodes_at_level = 0
        self.recent: deque[bool] = deque(maxlen=window)

    def current_level(self, source: TaskSource) -> int:
        return source.levels[min(self.position, len(source.levels) - 1)]

    def sample(self, source: TaskSource, rng: np.random.Generator) -> TaskKey:
        level = self.current_level(source)
        if source.size is None:
            return TaskKey(level)
        return TaskKey(level, int(rng.choice(source.indices_at(level))))

    def update(self, source: TaskSource, key: TaskKey, success: bool) -> None:
        if key.level != self.current_level(source):
            return  # drawn before the last promotion: it says nothing about the new level
        self.episodes_at_level += 1
        self.recent.append(bool(success))
        by_schedule = self.every is not None and self.episodes_at_level >= self.every
        by_success = (
            self.threshold is not None
            and len(self.recent) == self.window
            and sum(self.recent) / self.window >= self.threshold
        )
        if (by_schedule or by_success) and self.position + 1 < len(source.levels):
            self.position += 1
            self.episodes_at_level = 0
            self.recent.clear()

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "position": self.position,
            "episodes_at_level": self.episodes_at_level,
            "recent": list(self.recent),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.position = int(state["position"])
        self.episodes_at_level = int(state["episodes_at_level"])
        self.recent = deque((bool(s) for s in state["recent"]), maxlen=self.window)


class PrioritizedSampler(Sampler):
    """Kimi k1.5 prioritized sampling: task i is drawn with probability ∝ 1 − s_i (its failure rate).

    s_i is the task's success rate over its attempts so far; an unseen task counts as failed (weight
    1), so every task is tried. `floor` (default 0.02) keeps solved tasks drawable at a small rate; if
    every weight is 0 the draw is uniform. Needs a finite source (a dataset, or a generator env with
    `num_tasks`).
    """

    name = "prioritized"

    def __init__(self, *, floor: float = 0.02):
        if not 0.0 <= floor <= 1.0:
            raise SamplerError(f"floor={floor}: pass a weight in [0, 1]")
        self.floor = floor
        self.attempts: np.ndarray = np.zeros(0, dtype=np.int64)
        self.successes: np.ndarray = np.zeros(0, dtype=np.int64)

    def _fit(self, size: int) -> None:
        if len(self.attempts) < size:
            self.attempts = np.concatenate([self.attempts, np.zeros(size - len(self.attempts), np.int64)])
            self.successes = np.concatenate([self.successes, np.zeros(size - len(self.successes), np.int64)])

    def weights(self, size: int) -> np.ndarray:
        """Normalised sampling probabilities of tasks 0..size-1."""
        self._fit(size)
        attempts, successes = self.attempts[:size], self.successes[:size]
        success_rate = np.divide(successes, attempts, out=np.zeros(size), where=attempts > 0)
        weights = np.maximum(1.0 - success_rate, self.floor)
        total = weights.sum()
        return weights / total if total > 0 else np.full(size, 1.0 / size)

    def sample(self, source: TaskSource, rng: np.random.Generator) -> TaskKey:
        if source.size is None:
            raise SamplerError(
                "prioritized sampling tracks per-task failure rates, so it needs a finite source: "
                "pass num_tasks=N to a generator env, or use a dataset env"
            )
        index = int(rng.choice(source.size, p=self.weights(source.size)))
        return TaskKey(source.level_of(index), index)

    def update(self, source: TaskSource, key: TaskKey, success: bool) -> None:
        if key.index is None:
            return
        self._fit(key.index + 1)
        self.attempts[key.index] += 1
        self.successes[key.index] += int(bool(success))

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "attempts": self.attempts.tolist(),
            "successes": self.successes.tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.attempts = np.asarray(state["attempts"], dtype=np.int64)
        self.successes = np.asarray(state["successes"], dtype=np.int64)


SamplerLike = Sampler | str | None

_BY_NAME = {"uniform": UniformSampler, "curriculum": CurriculumSampler, "prioritized": PrioritizedSampler}


def make_sampler(sampler: SamplerLike) -> Sampler:
    """A sampler from an instance or its name ("uniform", "curriculum", "prioritized"); None → uniform."""
    if sampler is None:
        return UniformSampler()
    if isinstance(sampler, Sampler):
        return sampler
    if isinstance(sampler, str) and sampler in _BY_NAME:
        return _BY_NAME[sampler]()
    raise SamplerError(f"unknown sampler {sampler!r}; pass one of {sorted(_BY_NAME)} or a Sampler instance")
