"""Task samplers: uniform coverage, curriculum promotion, Kimi k1.5 failure-rate priorities, state round trips."""

from __future__ import annotations

import json
from collections import Counter

import gymnasium
import numpy as np
import pytest

from rlvr.envs import CurriculumSampler, PrioritizedSampler, SamplerError, Task, UniformSampler
from rlvr.envs.generators import ArithmeticGenerator
from rlvr.envs.samplers import make_sampler
from rlvr.envs.sources import DatasetSource, GeneratorSource

from .helpers import math_answer


def dataset(levels: list[int]) -> DatasetSource:
    return DatasetSource(
        [Task(f"t{i}", f"q{i}", ground_truth="1", difficulty=lv) for i, lv in enumerate(levels)]
    )


def test_uniform_draws_every_task_about_equally():
    source, rng, sampler = dataset([1] * 5), np.random.default_rng(0), UniformSampler()
    counts = Counter(sampler.sample(source, rng).index for _ in range(5000))
    assert set(counts) == set(range(5)) and min(counts.values()) > 900


def test_uniform_over_an_unlimited_generator_draws_every_configured_level():
    source = GeneratorSource(ArithmeticGenerator(), [2, 4])
    keys = [UniformSampler().sample(source, np.random.default_rng(s)) for s in range(50)]
    assert {k.level for k in keys} == {2, 4} and all(k.index is None for k in keys)


def test_curriculum_promotes_when_success_passes_the_threshold():
    source, rng = dataset([1, 1, 2, 2, 3]), np.random.default_rng(0)
    sampler = CurriculumSampler(threshold=0.75, window=4)
    key = sampler.sample(source, rng)
    assert key.level == 1
    for success in (True, False, True, True):  # 3/4 = 0.75 reaches the threshold
        sampler.update(source, key, success)
    assert sampler.current_level(source) == 2
    assert all(source.level_of(sampler.sample(source, rng).index) == 2 for _ in range(20))
    for _ in range(3):
        sampler.update(source, sampler.sample(source, rng), False)
    assert sampler.current_level(source) == 2  # failures keep it there


def test_curriculum_on_a_schedule_climbs_every_n_episodes_and_stops_at_the_top():
    source = GeneratorSource(ArithmeticGenerator(), [1, 2, 3])
    sampler = CurriculumSampler(threshold=None, every=3)
    rng = np.random.default_rng(0)
    levels = []
    for _ in range(12):
        key = sampler.sample(source, rng)
        levels.append(key.level)
        sampler.update(source, key, False)
    assert levels == [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3]


def test_curriculum_ignores_episodes_drawn_before_a_promotion():
    source = dataset([1, 2])
    sampler = CurriculumSampler(threshold=1.0, window=1)
    stale = sampler.sample(source, np.random.default_rng(0))
    sampler.update(source, stale, True)
    sampler.update(source, stale, True)  # a second level-1 result arriving late
    assert sampler.current_level(source) == 2 and sampler.episodes_at_level == 0


def test_prioritized_sampling_follows_the_failure_rate():
    source, sampler = dataset([1] * 3), PrioritizedSampler(floor=0.0)
    for _ in range(4):
        sampler.update(source, source_key(source, 0), True)  # task 0 always solved
    for success in (True, False):
        sampler.update(source, source_key(source, 1), success)  # task 1 half the time
    # task 2 unseen: counted as failing
    assert sampler.weights(3).tolist() == pytest.approx([0.0, 1 / 3, 2 / 3])
    counts = Counter(sampler.sample(source, np.random.default_rng(s)).index for s in range(3000))
    assert counts[0] == 0 and 1.6 < counts[2] / counts[1] < 2.4


def source_key(source, index):
    from rlvr.envs import TaskKey

    return TaskKey(source.level_of(index), index)


def test_prioritized_floor_keeps_solved_tasks_drawable_and_all_solved_is_uniform():
    source = dataset([1, 1])
    sampler = PrioritizedSampler(floor=0.1)
    sampler.update(source, source_key(source, 0), True)
    assert sampler.weights(2).tolist() == pytest.approx([0.1 / 1.1, 1 / 1.1])
    none = PrioritizedSampler(floor=0.0)
    for i in range(2):
        none.update(source, source_key(source, i), True)
    assert none.weights(2).tolist() == [0.5, 0.5]


def test_prioritized_sampling_needs_a_finite_source():
    with pytest.raises(SamplerError, match="num_tasks"):
        PrioritizedSampler().sample(GeneratorSource(ArithmeticGenerator(), [1]), np.random.default_rng(0))


@pytest.mark.parametrize("make", [UniformSampler, lambda: CurriculumSampler(window=3), PrioritizedSampler])
def test_saved_state_restores_the_same_future_draws(make):
    source = dataset([1, 1, 2, 2, 3, 3])
    sampler = make()
    rng = np.random.default_rng(1)
    for step in range(10):
        sampler.update(source, sampler.sample(source, rng), step % 3 == 0)
    state = json.loads(json.dumps(sampler.state_dict()))  # plain JSON: storable in any checkpoint
    restored = make()
    restored.load_state_dict(state)
    draws = [sampler.sample(source, np.random.default_rng(5)) for _ in range(5)]
    assert [restored.sample(source, np.random.default_rng(5)) for _ in range(5)] == draws
    assert restored.state_dict() == sampler.state_dict()


def test_state_of_another_sampler_is_refused():
    with pytest.raises(SamplerError, match="prioritized"):
        UniformSampler().load_state_dict(PrioritizedSampler().state_dict())
    with pytest.raises(SamplerError, match="uniform"):
        make_sampler("greedy")


def test_env_with_a_prioritized_pool_records_outcomes_and_returns_to_failed_tasks():
    env = gymnasium.make("rlvr/Arithmetic-v0", num_tasks=4, sampler="prioritized").unwrapped
    for seed in range(12):  # solve everything but task 3
        env.reset(seed=seed)
        solved = env.task.ground_truth if env._key.index != 3 else "no"
        env.step(math_answer(solved))
    assert env.sampler.attempts.sum() == 12
    assert env.sampler.successes[3] == 0 and env.sampler.weights(4).argmax() == 3
    # the pool is the same on every machine: task i is fixed by (pool_seed, i)
    other = gymnasium.make("rlvr/Arithmetic-v0", num_tasks=4).unwrapped
    assert [other.reset(options={"task_index": i})[1]["task_id"] for i in range(4)] == [
        env.reset(options={"task_index": i})[1]["task_id"] for i in range(4)
    ]


def test_a_fixed_pool_answers_a_difficulty_with_one_of_its_own_tasks():
    env = gymnasium.make("rlvr/Units-v0", difficulty=[1, 2], num_tasks=6).unwrapped
    pool = {env.reset(options={"task_index": i})[1]["task_id"]: env.source.level_of(i) for i in range(6)}
    for seed in range(5):
        _, info = env.reset(seed=seed, options={"difficulty": 2})
        assert pool[info["task_id"]] == 2


def test_curriculum_env_starts_easy_and_climbs_when_solved():
    env = gymnasium.make("rlvr/Fractions-v0", sampler=CurriculumSampler(threshold=1.0, window=2)).unwrapped
    assert env.source.levels == (1, 2, 3, 4, 5)
    seen = []
    for seed in range(6):
        _, info = env.reset(seed=seed)
        seen.append(info["difficulty"])
        env.step(math_answer(env.task.ground_truth))
    assert seen == [1, 1, 2, 2, 3, 3]
