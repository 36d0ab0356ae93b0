"""The contracts the adapters plug into, recorded at the pinned versions.

Two halves. `test_pinned_*` read the installed trainer's own source (by AST, without importing heavy
packages) and fail when a pinned trainer changes a keyword, a payload key or a loader name: CI's
contract check. `test_adapter_accepts_*` need no trainer: they call the adapters with exactly the
recorded shapes, so the adapters keep honouring the contract where a trainer cannot be installed.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlvr.integrations import openrlhf, verl

from .conftest import PINS, require_trainer

# -- the recorded contracts (TRL 1.16.0, verl 0.9.1, OpenRLHF 0.11.2) --------------------------------

TRL_REWARD_KEYWORDS = {"prompts", "completions", "completion_ids"}
TRL_REWARD_EXTRAS = {"trainer_state", "log_extra", "log_metric"}
TRL_ROLLOUT_KEYS = {"prompt_ids", "completion_ids", "logprobs"}
VERL_SAMPLE_KEYWORDS = {"data_source", "solution_str", "ground_truth", "extra_info"}
VERL_BATCH_KEYWORDS = {"data_sources", "solution_strs", "ground_truths", "extra_infos"}
VERL_CUSTOM_FN_KEYS = {"custom_reward_function", "path", "name", "reward_kwargs"}
OPENRLHF_PAYLOAD_KEYS = {"query", "prompts", "labels"}
OPENRLHF_ANSWER_KEYS = {"rewards", "scores", "extra_logs"}
OPENRLHF_STEP_STATE_KEYS = {"observation_text", "action_text", "label", "sampling_params"}
OPENRLHF_STEP_RESULT_KEYS = {
    "rewards",
    "scores",
    "environment_feedback",
    "done",
    "extra_logs",
    "sampling_params",
}


def _source(package: str, path: str) -> ast.Module:
    require_trainer(package)
    file = Path(str(importlib.metadata.distribution(package).locate_file(path)))
    return ast.parse(file.read_text())


def _calls(tree: ast.AST, attribute: str) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == attribute:
                yield node


def _keywords(tree: ast.AST, attribute: str) -> list[set[str]]:
    return [{k.arg for k in call.keywords if k.arg} for call in _calls(tree, attribute)]


def _string_constants(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _function(tree: ast.AST, name: str) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    raise AssertionError(f"{name} is gone from the pinned source")


def _class(tree: ast.AST, name: str) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"class {name} is gone from the pinned source")


# -- the pinned trainers' own code ---------------------------------------------------------------


def test_pinned_versions_are_the_extras():
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    for package, version in PINS.items():
        assert f'"{package}=={version}"' in text


@pytest.mark.parametrize("module", ["trl/trainer/grpo_trainer.py", "trl/trainer/rloo_trainer.py"])
def test_pinned_trl_calls_reward_funcs_with_the_recorded_keywords(module):
    tree = _source("trl", module)
    rewards = _function(tree, "_calculate_rewards")
    calls = [kw for kw in _keywords(rewards, "reward_func") if kw]
    assert calls and all(kw == TRL_REWARD_KEYWORDS for kw in calls), calls
    assert _string_constants(rewards) >= TRL_REWARD_EXTRAS
    assert "nan" in ast.unparse(rewards)  # None → NaN: the unscorable convention rlvr maps to


def test_pinned_trl_rollout_func_contract():
    tree = _source("trl", "trl/trainer/grpo_trainer.py")
    generate = _function(tree, "_generate")
    assert any(c.args and ast.unparse(c.args[1]) == "self" for c in _calls(generate, "rollout_func"))
    assert TRL_ROLLOUT_KEYS | {"env_mask"} <= _string_constants(generate)
    init = _function(tree, "__init__")
    assert {"reward_funcs", "rollout_func"} <= {a.arg for a in init.args.args + init.args.kwonlyargs}


def test_pinned_verl_reward_managers_call_compute_score_with_the_recorded_keywords():
    naive = _source("verl", "verl/experimental/reward_loop/reward_manager/naive.py")
    assert all(kw >= VERL_SAMPLE_KEYWORDS for kw in _keywords(naive, "compute_score"))
    assert "iscoroutinefunction" in ast.unparse(naive)  # async compute_score is awaited
    batch = _source("verl", "verl/workers/reward_manager/batch.py")
    assert VERL_BATCH_KEYWORDS in _keywords(batch, "compute_score")
    assert {"score", "ground_truth", "reward_model"} <= _string_constants(batch)
    reward = _source("verl", "verl/trainer/ppo/reward.py")
    assert _string_constants(_function(reward, "get_custom_reward_fn")) >= VERL_CUSTOM_FN_KEYS


def test_pinned_openrlhf_remote_reward_and_agent_contract():
    agent = _source("openrlhf", "openrlhf/utils/agent.py")
    posted = [
        {k.value for k in node.keys if isinstance(k, ast.Constant)}
        for node in ast.walk(_function(agent, "_fetch_rewards_via_http"))
        if isinstance(node, ast.Dict)
    ]
    assert OPENRLHF_PAYLOAD_KEYS in posted
    strings = _string_constants(agent)
    assert strings >= OPENRLHF_ANSWER_KEYS and "reward_func" in ast.unparse(agent)
    execute = _function(_class(agent, "MultiTurnAgentExecutor"), "execute")
    states = [
        {k.value for k in node.keys if isinstance(k, ast.Constant)}
        for node in ast.walk(execute)
        if isinstance(node, ast.Dict)
    ]
    assert OPENRLHF_STEP_STATE_KEYS in states and {"observation", "label"} in states
    assert OPENRLHF_STEP_RESULT_KEYS - {"sampling_params"} <= _string_constants(execute)
    engine = _source("openrlhf", "openrlhf/trainer/ray/vllm_engine.py")
    assert "AgentExecutor" in _string_constants(engine) | {
        n.attr for n in ast.walk(engine) if isinstance(n, ast.Attribute)
    }


# -- the adapters accept the recorded shapes (no trainer needed) -----------------------------------


def test_adapter_accepts_trls_reward_call():
    from rlvr.integrations.trl import RewardFunction, reward_func

    signature = inspect.signature(RewardFunction.__call__)
    signature.bind(None, **{k: None for k in TRL_REWARD_KEYWORDS | TRL_REWARD_EXTRAS}, ground_truth=None)
    logged = {}
    rewards = reward_func("math")(
        prompts=["q", "q"],
        completions=["\\boxed{2}", [{"role": "assistant", "content": "\\boxed{3}"}]],
        completion_ids=[[1, 2], [3]],
        ground_truth=["2", "2"],
        trainer_state=object(),
        log_extra=lambda column, values: logged.setdefault(column, values),
        log_metric=logged.__setitem__,
    )
    assert rewards == [1.0, 0.0] and logged["rlvr_status"] == ["CORRECT", "INCORRECT"]


def test_adapter_accepts_verls_calls():
    inspect.signature(verl.compute_score).bind(**{k: None for k in VERL_SAMPLE_KEYWORDS})
    inspect.signature(verl.compute_score_batch).bind(**{k: None for k in VERL_BATCH_KEYWORDS})
    result = verl.compute_score(
        data_source="math",
        solution_str="\\boxed{2}",
        ground_truth="2",
        extra_info={"index": 0, "num_turns": None, "rollout_reward_scores": {}},
        reward_router_address=None,
    )
    assert result["score"] == 1.0 and set(result) == {"score", "acc", "rlvr_unscorable", "rlvr_accuracy"}


def test_adapter_answers_openrlhfs_payload():
    answer = openrlhf.RemoteReward(openrlhf.RewardScorer(spec="math"))(
        {"query": ["Q: 1+1?\nA: \\boxed{2}<|im_end|>"], "prompts": ["Q: 1+1?\nA: "], "labels": ["2"]}
    )
    assert set(answer) == OPENRLHF_ANSWER_KEYS and answer["rewards"] == [1.0]
    func = openrlhf.make_reward_func("math", tensors=False)
    inspect.signature(func.__call__).bind(queries=[], prompts=[], labels=[])
    assert func(["p \\boxed{1}"], ["p "], ["1"])["rewards"] == [1.0]
