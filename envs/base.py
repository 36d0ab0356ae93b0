"""Base classes of the text envs: `TextEnv` (single-turn) and `MultiTurnEnv` (feedback turns)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, SupportsFloat

import gymnasium
from gymnasium.error import ResetNeeded

from rlvr.envs.client import VerifierClient, make_verifier
from rlvr.envs.rewards import R1_SYSTEM_PROMPT, RewardSpecLike, default_spec, resolve_spec
from rlvr.envs.samplers import Sampler, SamplerLike, make_sampler
from rlvr.envs.sources import TaskKey, TaskSource
from rlvr.envs.spaces import AnyText, chat_space
from rlvr.envs.task import Task
from rlvr.errors import RlvrError
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.outcome import UNKNOWN_STATUSES

Observation = str | tuple[dict[str, str], ...]
StepResult = tuple[Observation, SupportsFloat, bool, bool, dict[str, Any]]
ObservationMode = Literal["text", "chat"]


class EnvConfigError(RlvrError, ValueError):
    """An env argument has a value the env cannot use; the message names it and the accepted values."""


class InvalidAction(RlvrError, TypeError):
    """`step` got something other than the completion text."""

    def __init__(self, action: object):
        super().__init__(
            f"an action is the completion text (str), got {type(action).__name__}: {action!r:.80}"
        )
        self.action = action


class TextEnv(gymnasium.Env[Observation, str]):
    """A single-turn text env: `reset` gives a prompt, `step(completion)` scores it and ends the episode.

    Observation: with `observation="text"` (default) a `str`, the task prompt after `prompt_template`,
    preceded by the system prompt through `text_template`; with `observation="chat"` a tuple of
    `{"role", "content"}` dicts (system, user, and in multi-turn envs the turns so far). Action: the
    completion text. Both spaces are `AnyText` (any Unicode string up to `max_length` characters).

    Reward: the verifier's reward for a VerifyRequest carrying the task (answer, tests), the completion,
    the prompt, the env's reward spec and `verifier_options` (request options every term sees, e.g.
    length budgets), sent through `verifier` (None: in-process; "grpc://host:port":
    a running `rlvr serve`; or any `VerifierClient`). TIMEOUT and ERROR give reward 0 with that status in
    `info`; they do not count as failures for the sampler.

    `info` always has "task_id", "difficulty" and "turn"; after a step also "status" (the Status name),
    "message", "components" (term → unweighted reward), "verifier" and "verifier_version"; once the
    episode is over also "ground_truth" (the answer, or the tests as dicts) and "success": True/False
    when the final completion is known right/wrong, None when it could not be scored (TIMEOUT, ERROR,
    INVALID_REQUEST): unscorable is never counted as wrong.

    `reset(seed=s)` reproduces the same task for the same sampler state. `reset(options=...)` accepts
    "task" (a `Task`), "task_index" (finite sources), "difficulty" (a level), "group_id" (sent in
    every request of the episode, for group-relative reward terms) and "group_size" (how many
    completions share that `group_id`, so the verifier refuses to score a partial group). Finished
    episodes update the sampler, except those on a task given as `options["task"]` (the members of a
    GRPO group).

    Arguments: `reward_spec` (a RewardSpec, its dict, a spec file or a registered name; default
    `default_reward_spec`), `format_weight` (adds an R1 format term to the default spec), `verifier`,
    `sampler` ("uniform", "curriculum", "prioritized" or a `Sampler`), `system_prompt` (None: the
    class default; "" for none), `prompt_template` ("{prompt}"), `text_template`, `observation`,
    `max_length` (characters, both spaces), `timeout_seconds` (per request; 0: the verifier's
    default), `verifier_options`, `token_counter` (completion → token count, sent as
    `response_tokens` so length terms count tokens, e.g. `lambda t: len(tokenizer(t).input_ids)`),
    `render_mode` (None or "ansi").
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}
    #: The verifier of the default reward spec's accuracy term.
    accuracy_verifier: ClassVar[str] = "math"
    default_system_prompt: ClassVar[str] = R1_SYSTEM_PROMPT

    def __init__(
        self,
        source: TaskSource,
        *,
        name: str,
        reward_spec: RewardSpecLike | None = None,
        format_weight: float = 0.0,
        verifier: str | VerifierClient | None = None,
        sampler: SamplerLike = None,
        system_prompt: str | None = None,
        prompt_template: str = "{prompt}",
        text_template: str = "{system}\nUser: {prompt}\nAssistant:",
        observation: ObservationMode = "text",
        max_length: int = 1 << 16,
        timeout_seconds: float = 0.0,
        verifier_options: Mapping[str, Any] | None = None,
        token_counter: Callable[[str], int] | None = None,
        render_mode: str | None = None,
    ):
        if observation not in ("text", "chat"):
            raise EnvConfigError(f"observation={observation!r}: pass 'text' or 'chat'")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvConfigError(
                f"render_mode={render_mode!r}: pass None or one of {self.metadata['render_modes']}"
            )
        self.name = name
        self.source = source
        self.sampler: Sampler = make_sampler(sampler)
        self.verifier = make_verifier(verifier)
        spec = reward_spec if reward_spec is not None else self.default_reward_spec(format_weight)
        self.reward_spec = resolve_spec(spec)
        self.verifier_options = dict(verifier_options or {})
        self.token_counter = token_counter
        self.system_prompt = self.default_system_prompt if system_prompt is None else system_prompt
        self.prompt_template = prompt_template
        self.text_template = text_template
        self.observation_mode = observation
        self.timeout_seconds = timeout_seconds
        self.render_mode = render_mode
        self.action_space = AnyText(max_length)
        self.observation_space = AnyText(max_length) if observation == "text" else chat_space(max_length)
        self.task: Task | None = None
        self._key: TaskKey | None = None
        self._template = pb.VerifyRequest()
        self._messages: list[dict[str, str]] = []
        self._group_id = ""
        self._group_size = 0
        self._episode = 0
        self.turn = 0
        self._done = True
        self._verdict: bool | None = None

    def default_reward_spec(self, format_weight: float) -> pb.RewardSpec:
        """The spec used when no `reward_spec` is given: accuracy (weight 1) + optional format term."""
        return default_spec(self.name, self.accuracy_verifier, format_weight=format_weight)

    # -- episode start ------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict]:
        """Start an episode on a new task (see the class docstring for `options`); returns (prompt, info)."""
        super().reset(seed=seed)
        if not self._done and self.turn:
            self._count(self._verdict)  # the last episode was cut off from outside (TimeLimit)
        options = options or {}
        self.task, self._key = self._choose_task(options)
        self._group_id = str(options.get("group_id", ""))
        self._group_size = int(options.get("group_size", 0)) if self._group_id else 0
        self._episode += 1
        self.turn = 0
        self._done = False
        self._verdict = None
        self._template = self.task.request_template(self.reward_spec)
        if self.verifier_options:
            self._template.options.update(self.verifier_options)
        if self.timeout_seconds:
            self._template.timeout_seconds = self.timeout_seconds
        user = self.prompt_template.format(prompt=self.task.prompt)
        self._messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        self._messages.append({"role": "user", "content": user})
        if self.observation_mode == "chat":
            observation: Observation = self._transcript()
        elif self.system_prompt:
            observation = self.text_template.format(system=self.system_prompt, prompt=user)
        else:
            observation = user
        return observation, self._base_info()

    def _choose_task(self, options: Mapping[str, Any]) -> tuple[Task, TaskKey | None]:
        if "task" in options:
            task = options["task"]
            if not isinstance(task, Task):
                raise EnvConfigError(f"options['task'] must be a rlvr.envs.Task, got {type(task).__name__}")
            return task, None
        if "task_index" in options:
            index = int(options["task_index"])
            if self.source.size is None or not 0 <= index < self.source.size:
                raise EnvConfigError(
                    f"options['task_index']={index} is outside this env's tasks (size {self.source.size}); "
                    "unlimited generator envs take 'difficulty' instead, or num_tasks=N for a fixed pool"
                )
            key = TaskKey(self.source.level_of(index), index)
        elif "difficulty" in options:
            level = int(options["difficulty"])
            if level not in self.source.levels:
                raise EnvConfigError(
                    f"options['difficulty']={level}: this env's levels are {self.source.levels}"
                )
            key = TaskKey(level)
        else:
            key = self.sampler.sample(self.source, self.np_random)
        return self.source.get(key, self.np_random), key

    # -- one turn: build the request, then apply the verifier's answer -----------------------------

    def step(self, action: str) -> StepResult:
        """Score `action` (the completion); returns (observation, reward, terminated, truncated, info)."""
        request = self.prepare_step(action)
        response = self.verifier.verify_batch([request])[0] if request is not None else None
        return self.finish_step(action, response)

    def prepare_step(self, action: str) -> pb.VerifyRequest | None:
        """The VerifyRequest for `action`, or None when this env answers the action itself (a tool call)."""
        if self._done or self.task is None:
            raise ResetNeeded("the episode is over (or never started): call reset() before step()")
        if not isinstance(action, str):
            raise InvalidAction(action)
        request = pb.VerifyRequest()
        request.CopyFrom(self._template)
        request.id = f"{self.task.id}/{self._episode}/{self.turn}"
        request.response = action
        request.group_id = self._group_id
        request.group_size = self._group_size
        if self.token_counter is not None:
            request.response_tokens = int(self.token_counter(action))
        return request

    def finish_step(self, action: str, response: pb.VerifyResponse | None) -> StepResult:
        """Turn the verifier's `response` to `action` into the step result (single-turn: episode ends)."""
        assert response is not None, "a single-turn env always sends its action to the verifier"
        self.turn += 1
        self._messages.append({"role": "assistant", "content": action})
        info = self._step_info(response)
        self._verdict = self._success(response)
        self.end_episode(info)
        return self._final_observation(), float(response.reward), True, False, info

    # -- helpers shared with multi-turn envs --------------------------------------------------------

    def _success(self, response: pb.VerifyResponse) -> bool | None:
        """True/False when the completion is known right/wrong; None when TIMEOUT/ERROR/INVALID."""
        if response.status in UNKNOWN_STATUSES:
            return None
        return response.status == pb.CORRECT

    def _base_info(self) -> dict[str, Any]:
        assert self.task is not None
        info: dict[str, Any] = {
            "task_id": self.task.id,
            "difficulty": self.task.difficulty,
            "turn": self.turn,
        }
        if self._group_id:
            info["group_id"] = self._group_id
        return info

    def _step_info(self, response: pb.VerifyResponse) -> dict[str, Any]:
        info = self._base_info()
        info["status"] = pb.Status.Name(response.status)
        info["message"] = response.message
        info["components"] = dict(response.components)
        info["verifier"] = response.verifier
        info["verifier_version"] = response.verifier_version
        if response.test_results:
            info["test_results"] = [
                {"name": r.name, "verdict": pb.Verdict.Name(r.verdict), "message": r.message}
                for r in response.test_results
            ]
        return info

    def end_episode(self, info: dict[str, Any]) -> None:
        """End the episode now: add `ground_truth` and `success` (the last turn's verdict) to `info` and
        count the episode for the sampler. Called by the step that finishes an episode, and by a turn
        limit outside the env that can say so (`TextVectorEnv`'s `max_episode_steps`)."""
        assert self.task is not None
        self._done = True
        info["ground_truth"] = self.task.revealed_answer()
        info["success"] = self._verdict
        self._count(self._verdict)

    def _count(self, success: bool | None) -> None:
        """Tell the sampler how the episode went (not for unscorable ends, nor tasks given by `options`)."""
        if success is not None and self._key is not None:
            self.sampler.update(self.source, self._key, success)

    def _transcript(self) -> tuple[dict[str, str], ...]:
        return tuple(dict(m) for m in self._messages)

    def _final_observation(self) -> Observation:
        """At the end there is no next message: "" in text mode, the whole transcript in chat mode."""
        return self._transcript() if self.observation_mode == "chat" else ""

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self._messages)

    def close(self) -> None:
        close = getattr(self.verifier, "close", None)
        if close is not None:
            close()


class MultiTurnEnv(TextEnv):
    """A text env where a wrong answer gets feedback and another turn; every turn is scored.

    Each step's reward is the verifier's reward for that turn and `info["success"]` that turn's
    verdict. The episode terminates when a turn is CORRECT or `feedback` returns None; otherwise the
    observation is the feedback message (text mode) or the transcript so far (chat mode).

    The env has no turn limit of its own: it is the registered `max_episode_steps`, which
    `gymnasium.make` enforces with Gymnasium's `TimeLimit` (it sets `truncated`; override it with
    `gymnasium.make(id, max_episode_steps=N)`, or wrap a directly built env in `TimeLimit`). The env
    cannot see that cut: the truncated step's observation is the feedback (the state the episode would
    continue from), its info has no `ground_truth` (`env.unwrapped.task.revealed_answer()` has it), and
    the sampler counts the episode, with its last verdict, at the next `reset`. `TextVectorEnv` enforces
    the same limit itself and ends such episodes with `end_episode`, so its `final_info` is complete.
    """

    def __init__(self, source: TaskSource, **kwargs: Any):
        if "max_turns" in kwargs:
            raise EnvConfigError(
                f"max_turns={kwargs['max_turns']!r}: the turn limit is Gymnasium's max_episode_steps: "
                f"gymnasium.make(id, max_episode_steps={kwargs['max_turns']!r}) (or make_vec, or TimeLimit)"
            )
        super().__init__(source, **kwargs)

    def feedback(self, action: str, response: pb.VerifyResponse) -> str | None:
        """The next user message after a wrong `action`, or None to end the episode."""
        raise NotImplementedError

    def finish_step(self, action: str, response: pb.VerifyResponse | None) -> StepResult:
        assert response is not None
        self.turn += 1
        self._messages.append({"role": "assistant", "content": action})
        info = self._step_info(response)
        self._verdict = self._success(response)
        message = None if self._verdict else self.feedback(action, response)
        if message is None:
            self.end_episode(info)
            return self._final_observation(), float(response.reward), True, False, info
        info["success"] = self._verdict
        return self._next_turn(message, "user"), float(response.reward), False, False, info

    def _next_turn(self, message: str, role: str) -> Observation:
        """Hand `message` (the env's answer, from `role`) back to the model: the next observation."""
        self._messages.append({"role": role, "content": message})
        return self._transcript() if self.observation_mode == "chat" else message
