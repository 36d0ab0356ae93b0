"""OpenRLHF adapter: the remote reward protocol (`POST /get_reward`), the `reward_func` file form, and
an `AgentInstance` that runs a multi-turn rlvr env.

Contract (OpenRLHF 0.11.2, pinned in the `openrlhf` extra), from `openrlhf/utils/agent.py`:

- `--reward.remote_url http://host:port/get_reward`: each rollout posts
  `{"query": [prompt + response], "prompts": [prompt], "labels": [label]}` (usually one sample per
  request, many requests at once, 5 tries a second apart) and reads `rewards`, `scores` (optional)
  and `extra_logs` from the JSON answer. The query is the decoded prompt + response tokens *with*
  special tokens, so the response is what follows the prompt, less trailing EOS / pad markers.
- `--reward.remote_url /path/reward.py`: the file's `reward_func(queries, prompts, labels)` is called
  in a thread with one sample and returns the same dict.
- `--train.agent_func_path /path/agent.py`: the file defines `AgentExecutor`, a subclass of
  `AgentExecutorBase`; `MultiTurnAgentExecutor(AgentInstance)` creates one `AgentInstance` per prompt,
  calls `reset({"observation", "label"})` then `step({"observation_text", "action_text", "label",
  ...})` until `done`, summing `rewards` over the turns.

A label is the ground truth text, or a JSON object (text or dict) with any of `ground_truth`, `tests`,
`language`, `options`, `data_source`, `reward_spec`. OpenRLHF has no "unknown reward": an unscorable
completion (TIMEOUT, ERROR, INVALID_REQUEST) gets `unscorable_reward` (0.0 by default) and is counted in
`extra_logs["rlvr/unscorable"]`, so it is never a silent zero.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from rlvr.integrations.scoring import (
    CompletionFormatError,
    RewardScorer,
    Sample,
    is_unscorable,
    loads_field,
    object_or_text,
)
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.service import reward_protocols

#: End-of-turn and padding markers that a decode with special tokens leaves after the response.
END_MARKERS = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<｜end▁of▁sentence｜>",
    "<|end|>",
    "</s>",
    "<|pad|>",
    "<pad>",
)
#: ChatML feedback turn appended after a model turn (which ended with its EOS, `<|im_end|>`) in
#: multi-turn envs; override per model family.
CHATML_FEEDBACK = "\n<|im_start|>user\n{feedback}<|im_end|>\n<|im_start|>assistant\n"


def response_of(query: str, prompt: str, end_markers: Sequence[str] = END_MARKERS) -> str:
    """The response inside OpenRLHF's `query` (prompt + response, decoded with special tokens).

    Raises CompletionFormatError when the prompt cannot be found at the start of the query (a
    tokenizer whose decode does not give the prompt back): scoring the whole query would let the
    prompt's own numbers pass as answers.
    """
    if not isinstance(query, str):
        raise CompletionFormatError(query)
    if prompt and query.startswith(prompt):
        response = query[len(prompt) :]
    elif prompt and prompt.strip() and (at := query.find(prompt.strip())) >= 0:
        response = query[at + len(prompt.strip()) :]
    elif not prompt:
        response = query
    else:
        raise InvalidRequest(
            f"the query does not contain its prompt (prompt {prompt[:60]!r}..., query {query[:60]!r}...): "
            "send the prompt as OpenRLHF does, or the response alone with an empty prompt"
        )
    stripped = True
    while stripped:
        stripped = False
        trimmed = response.rstrip()
        for marker in end_markers:
            if trimmed.endswith(marker):
                response, stripped = trimmed[: -len(marker)], True
                break
    return response


def label_fields(label: Any) -> dict[str, Any]:
    """A label as rlvr fields: plain text is the ground truth; a JSON object names its fields."""
    if label is None:
        return {}
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        return {"ground_truth": str(label)}
    parsed = object_or_text(label)
    if isinstance(parsed, Mapping):
        unknown = set(parsed) - {"ground_truth", "tests", "language", "options", "data_source", "reward_spec"}
        if unknown:
            raise InvalidRequest(
                f"label has unknown keys {sorted(unknown)}; use ground_truth, tests, language, options, "
                "data_source, reward_spec"
            )
        return dict(parsed)
    if isinstance(parsed, str):
        return {"ground_truth": parsed}
    raise InvalidRequest(f"a label is text or a JSON object, got {type(label).__name__}: {label!r:.80}")


class RemoteReward:
    """OpenRLHF's remote reward payload ↔ rlvr requests and responses, with no I/O of its own.

    `samples(payload)` reads `{"query", "prompts", "labels"}` (raises InvalidRequest for a malformed
    payload); `answer(responses)` builds `{"rewards", "scores", "extra_logs"}`: `scores` are the
    rewards (OpenRLHF's dynamic filtering reads them), `extra_logs` hold per-term components
    (`rlvr/<term>`) and `rlvr/unscorable` (1.0 where the reward is not known), one value per sample.
    """

    def __init__(
        self,
        scorer: RewardScorer,
        *,
        unscorable_reward: float = 0.0,
        end_markers: Sequence[str] = END_MARKERS,
    ):
        self.scorer = scorer
        self.unscorable_reward = float(unscorable_reward)
        self.end_markers = tuple(end_markers)

    def samples(self, payload: Any) -> list[Sample]:
        if not isinstance(payload, Mapping) or not isinstance(payload.get("query"), list):
            raise InvalidRequest('body must be {"query": [...], "prompts": [...], "labels": [...]}')
        queries = payload["query"]
        prompts = payload.get("prompts") or [""] * len(queries)
        labels = payload.get("labels") or [None] * len(queries)
        if not (len(queries) == len(prompts) == len(labels)):
            raise InvalidRequest(
                f"query, prompts and labels differ in length ({len(queries)}, {len(prompts)}, {len(labels)})"
            )
        samples = []
        for i, (query, prompt, label) in enumerate(zip(queries, prompts, labels)):
            fields = label_fields(label)
            samples.append(
                Sample(
                    completion=response_of(query, prompt or "", self.end_markers),
                    ground_truth=str(fields.get("ground_truth") or ""),
                    tests=fields.get("tests") or (),
                    language=fields.get("language") or "",
                    options=fields.get("options"),
                    data_source=fields.get("data_source") or "",
                    prompt=prompt or "",
                    spec=fields.get("reward_spec"),
                    id=str(i),
                )
            )
        return samples

    def requests(self, payload: Any) -> list[pb.VerifyRequest]:
        """The VerifyRequests of a payload (raises InvalidRequest / MissingGroundTruth / UnknownDataSource)."""
        return [self.scorer.request(s, i) for i, s in enumerate(self.samples(payload))]

    def reward(self, response: pb.VerifyResponse) -> float:
        return self.unscorable_reward if is_unscorable(response) else float(response.reward)

    def answer(self, responses: Sequence[pb.VerifyResponse]) -> dict[str, Any]:
        rewards = [self.reward(r) for r in responses]
        terms = sorted({name for r in responses for name in r.components} | set(self.scorer.term_names()))
        extra: dict[str, list[float]] = {"rlvr/unscorable": [float(is_unscorable(r)) for r in responses]}
        for term in terms:
            extra[f"rlvr/{term}"] = [float(r.components.get(term, 0.0)) for r in responses]
        return {"rewards": rewards, "scores": list(rewards), "extra_logs": extra}

    def __call__(self, payload: Any) -> dict[str, Any]:
        """Score a payload in this process (or through the scorer's server) and answer it."""
        return self.answer(self.scorer.verify_requests(self.requests(payload)))


def make_reward_func(
    spec: Any = None,
    *,
    specs: Mapping[str, Any] | None = None,
    verifier: Any = None,
    verifier_options: Mapping[str, Any] | None = None,
    client_options: Mapping[str, Any] | None = None,
    unscorable_reward: float = 0.0,
    tensors: bool = True,
) -> Any:
    """A `reward_func(queries, prompts, labels)` for `--reward.remote_url /path/file.py`.

    Returns `{"rewards", "scores", "extra_logs"}` as torch tensors (as OpenRLHF's own examples do) when
    `tensors` and torch is importable, else lists. Arguments as in `RewardScorer`.
    """
    protocol = RemoteReward(
        RewardScorer(
            spec=spec,
            specs=specs,
            verifier=verifier,
            verifier_options=verifier_options,
            client_options=client_options,
        ),
        unscorable_reward=unscorable_reward,
    )
    return _RewardFunc(protocol, tensors)


class _RewardFunc:
    def __init__(self, protocol: RemoteReward, tensors: bool):
        self.protocol = protocol
        self.tensors = tensors
        self.__name__ = "reward_func"

    def __call__(
        self, queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]
    ) -> dict[str, Any]:
        answer = self.protocol({"query": list(queries), "prompts": list(prompts), "labels": list(labels)})
        if not self.tensors:
            return answer
        try:
            import torch
        except ImportError:
            return answer
        return {
            "rewards": torch.tensor(answer["rewards"], dtype=torch.float32),
            "scores": torch.tensor(answer["scores"], dtype=torch.float32),
            "extra_logs": {k: torch.tensor(v, dtype=torch.float32) for k, v in answer["extra_logs"].items()},
        }


_DEFAULT: _RewardFunc | None = None


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
    """The file form, configured from the environment, so this module's own path works as
    `--reward.remote_url`: `RLVR_REWARD_SPEC` (a spec name, file or JSON; unset: per-label
    `reward_spec` / `data_source`), `RLVR_SPECS` (JSON `{data_source: spec}`), `RLVR_VERIFIER`
    ("grpc://host:port[,host:port]"; unset: in process), `RLVR_UNSCORABLE_REWARD` (default 0).
    """
    global _DEFAULT
    if _DEFAULT is None:
        specs = os.environ.get("RLVR_SPECS")
        _DEFAULT = make_reward_func(
            os.environ.get("RLVR_REWARD_SPEC") or None,
            specs=json.loads(specs) if specs else None,
            verifier=os.environ.get("RLVR_VERIFIER") or None,
            unscorable_reward=float(os.environ.get("RLVR_UNSCORABLE_REWARD", "0")),
        )
    return _DEFAULT(queries, prompts, labels)


def gateway_protocol(query: Mapping[str, str]) -> RemoteReward:
    """The protocol the HTTP gateway's `/get_reward` uses for a URL query string:
    `?spec=NAME` (a registered spec; default: per-label `reward_spec` / `data_source`),
    `?unscorable_reward=X`. Scoring itself runs on the server's dispatcher."""
    spec = query.get("spec") or None
    try:
        unscorable = float(query.get("unscorable_reward", "0"))
    except ValueError:
        raise InvalidRequest(
            f"unscorable_reward={query.get('unscorable_reward')!r} is not a number"
        ) from None
    return RemoteReward(RewardScorer(spec=spec), unscorable_reward=unscorable)


reward_protocols.install(gateway_protocol)


def agent_classes(
    env_id: Any,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    verifier: Any = None,
    feedback_template: str = CHATML_FEEDBACK,
    unscorable_reward: float = 0.0,
    agent_module: Any = None,
) -> tuple[type, type]:
    """`(AgentInstance, AgentExecutor)` running the multi-turn rlvr env `env_id` (an id, made in text
    mode with `env_kwargs`, or a callable returning an env) inside OpenRLHF.

    Put `AgentInstance, AgentExecutor = agent_classes("rlvr/CodeRepair-v0", {...})` in the file given
    to `--train.agent_func_path`. Each instance resets the env on the task its label describes (the
    prompt stays OpenRLHF's), scores each model turn with the env's verifier, and answers a wrong
    turn with the env's feedback rendered through `feedback_template` (ChatML by default). The
    per-turn `rewards` are differences, so OpenRLHF's sum over turns is the last turn's reward (the
    episode's outcome); `scores` is that reward. `agent_module`: where `AgentInstanceBase` and
    `MultiTurnAgentExecutor` come from (default `openrlhf.utils.agent`).
    """
    if agent_module is None:
        import openrlhf.utils.agent as agent_module  # type: ignore[import-not-found,no-redef]
    import gymnasium
    import torch

    import rlvr.envs  # noqa: F401 - registers the ids
    from rlvr.envs.task import Task

    kwargs = {"observation": "text", **(env_kwargs or {})}
    if verifier is not None:
        kwargs["verifier"] = verifier

    class AgentInstance(agent_module.AgentInstanceBase):  # type: ignore[misc,name-defined]
        """One episode of the rlvr env per prompt."""

        def __init__(self, *args: Any, **kw: Any) -> None:
            self.env = env_id() if callable(env_id) else gymnasium.make(env_id, **kwargs)
            self.last_reward = 0.0

        async def reset(self, states: dict, **kw: Any) -> dict:
            fields = label_fields(states.get("label"))
            task = Task.make(
                "openrlhf",
                prompt=str(states.get("observation", "")),
                ground_truth=str(fields.get("ground_truth") or ""),
                tests=loads_field(fields.get("tests"), "tests") or (),
                language=fields.get("language") or "",
                options=loads_field(fields.get("options"), "options") or {},
            )
            self.env.reset(options={"task": task})
            self.last_reward = 0.0
            return {"observation": states["observation"]}

        async def step(self, states: dict, **kw: Any) -> dict:
            import asyncio

            action = str(states["action_text"])
            for marker in END_MARKERS:
                action = action.removesuffix(marker)
            observation, reward, terminated, truncated, info = await asyncio.to_thread(self.env.step, action)
            unknown = info.get("status") in ("TIMEOUT", "ERROR", "INVALID_REQUEST")
            value = unscorable_reward if unknown else float(reward)
            delta, self.last_reward = value - self.last_reward, value
            done = bool(terminated or truncated)
            if not isinstance(observation, str):  # a chat-mode env: its last message is the feedback
                observation = str(observation[-1]["content"]) if observation else ""
            feedback = "" if done else feedback_template.format(feedback=observation)
            extra = {"rlvr/unscorable": float(unknown), "rlvr/turn": float(info.get("turn", 0))}
            for term, component in (info.get("components") or {}).items():
                extra[f"rlvr/{term}"] = float(component)
            return {
                "rewards": torch.tensor(delta),
                "scores": torch.tensor(value),
                "environment_feedback": feedback,
                "done": done,
                "sampling_params": states.get("sampling_params"),
                "extra_logs": extra,
            }

    class AgentExecutor(agent_module.MultiTurnAgentExecutor):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__(AgentInstance)

    return AgentInstance, AgentExecutor
