"""Rollout collection: run episodes of an rlvr vector env with a rollout backend, token by token."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from rlvr.agents.batch import Trajectory
from rlvr.agents.rollout.base import Generation, RolloutBackend, SamplingParams

_SENTINEL = "\u0000rlvr-turn\u0000"


class PromptEncoder:
    """Turns env observations into prompt token ids, and a turn's feedback into the env's tokens.

    With `chat_template`, prompts are the tokenizer's chat template over the messages (a text
    observation becomes one user message); without it, the text as is. Feedback after a model turn is
    whatever the template puts between that turn's content and the next generation prompt, found by
    rendering the transcript with a sentinel in place of the model's text, so the model's own sampled
    tokens are kept exactly and only the env's are re-tokenised.
    """

    def __init__(self, tokenizer: Any, *, chat_template: bool):
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self.eos_text = tokenizer.eos_token or ""

    def ids(self, text: str) -> list[int]:
        """`text`'s token ids, no special tokens added."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _render(self, messages: Sequence[dict[str, str]]) -> str:
        return str(
            self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        )

    def messages(self, observation: Any) -> list[dict[str, str]]:
        if isinstance(observation, str):
            return [{"role": "user", "content": observation}]
        return [dict(m) for m in observation]

    def prompt(self, observation: Any) -> list[int]:
        if self.chat_template:
            return self.ids(self._render(self.messages(observation)))
        if isinstance(observation, str):
            return self.ids(observation)
        return self.ids("\n".join(m["content"] for m in observation))

    def feedback(self, history: list[dict[str, str]], observation: Any, stopped: bool) -> list[int]:
        """Env tokens after a model turn; `history` (messages so far, ending with the assistant's) grows."""
        if not self.chat_template:
            text = observation if isinstance(observation, str) else observation[-1]["content"]
            return self.ids(f"\nUser: {text}\nAssistant:")
        new = self.messages(observation)
        new = new[len(history) :] if len(new) > len(history) else new
        history.extend(new)
        marked = [*history[: -len(new) - 1], {**history[-len(new) - 1], "content": _SENTINEL}, *new]
        after = self._render(marked).split(_SENTINEL, 1)[1]
        if stopped and self.eos_text and after.startswith(self.eos_text):
            after = after[len(self.eos_text) :]  # the model's sampled EOS already closed the turn
        return self.ids(after)


class RolloutCollector:
    """Plays one episode on every sub-env of `vec_env` with `backend` and returns the trajectories.

    Each turn, the rows still playing generate together; finished rows wait for their group. Rewards
    the verifier could not decide (TIMEOUT, ERROR, INVALID_REQUEST: `info["reward_known"]` False) are
    NaN, so they never pose as wrong answers.
    """

    def __init__(self, vec_env: Any, backend: RolloutBackend, encoder: PromptEncoder, *, max_context: int):
        self.vec_env = vec_env
        self.backend = backend
        self.encoder = encoder
        self.max_context = max_context
        self.token_counts: dict[str, int] = {}

    def count_tokens(self, text: str) -> int:
        """Token count of a completion as sampled (for length terms), falling back to re-tokenising."""
        return self.token_counts.get(text) or len(self.encoder.ids(text))

    def collect(self, seed: int, params: SamplingParams, *, group_offset: int = 0) -> list[Trajectory]:
        vec = self.vec_env
        observations, _ = vec.reset(seed=seed)
        size = vec.unwrapped.group_size
        trajectories = [
            Trajectory(self.encoder.prompt(o), group=group_offset + i // size)
            for i, o in enumerate(observations)
        ]
        contexts = [list(t.prompt_ids) for t in trajectories]
        histories = [self.encoder.messages(o) for o in observations]
        playing = np.ones(vec.num_envs, dtype=bool)
        turn = 0
        while playing.any():
            rows = np.flatnonzero(playing)
            turn_params = params if params.seed is None else _reseeded(params, params.seed + turn)
            generations = self.backend.generate([contexts[i] for i in rows], turn_params)
            actions = [""] * vec.num_envs
            self.token_counts.clear()
            for i, generation in zip(rows, generations):
                text = self.encoder.tokenizer.decode(generation.token_ids, skip_special_tokens=True)
                actions[i] = text
                self.token_counts[text] = len(generation.token_ids)
            observations, rewards, terminated, truncated, info = vec.step(actions)
            for i, generation in zip(rows, generations):
                self._record(int(i), trajectories[i], generation, actions[i], rewards, info, turn)
                done = bool(terminated[i] or truncated[i])
                if not done:
                    contexts[i].extend(generation.token_ids)
                    histories[i].append({"role": "assistant", "content": actions[i]})
                    env_ids = self.encoder.feedback(histories[i], observations[i], not generation.truncated)
                    trajectories[i].add_env_tokens(env_ids)
                    contexts[i].extend(env_ids)
                    done = len(contexts[i]) + params.max_new_tokens > self.max_context
                playing[i] = not done
            turn += 1
        return trajectories

    def _record(
        self,
        i: int,
        traj: Trajectory,
        generation: Generation,
        text: str,
        rewards: np.ndarray,
        info: dict,
        turn: int,
    ) -> None:
        known = bool(info["reward_known"][i])
        reward = float(rewards[i]) if known else math.nan
        traj.add_model_turn(generation.token_ids, generation.logprobs, reward)
        traj.truncated = generation.truncated
        step_info = _row_info(info, i)
        traj.statuses.append(str(step_info.get("status", "")))
        traj.components = {k: float(v) for k, v in (step_info.get("components") or {}).items()}
        traj.task_id = str(step_info.get("task_id", traj.task_id))
        if "success" in step_info:
            traj.success = None if not known else bool(step_info["success"])
        if turn == 0:
            traj.completion_text = text


def _row_info(info: dict, i: int) -> dict[str, Any]:
    """Row i's step info: from `final_info` when its episode just ended (same-step autoreset)."""
    source = info["final_info"] if info.get("_final_info") is not None and info["_final_info"][i] else info
    return {
        key: _unstack(source[key], i)
        for key in source
        if not key.startswith("_")
        and key not in ("final_info", "final_obs")
        and source.get(f"_{key}", [True] * (i + 1))[i]
    }


def _unstack(value: Any, i: int) -> Any:
    if isinstance(value, dict):
        return {k: _unstack(v, i) for k, v in value.items() if not k.startswith("_") and value[f"_{k}"][i]}
    return value[i]


def _reseeded(params: SamplingParams, seed: int) -> SamplingParams:
    return replace(params, seed=seed)
