"""TRL adapter: rlvr rewards as `reward_funcs` of GRPOTrainer / RLOOTrainer, env datasets, multi-turn rollouts.

    from trl import GRPOConfig, GRPOTrainer
    from rlvr.integrations.trl import env_dataset, reward_func

    dataset = env_dataset("rlvr/Arithmetic-v0", 1000, env_kwargs={"difficulty": 1})
    trainer = GRPOTrainer(model=..., reward_funcs=[reward_func()], train_dataset=dataset, args=GRPOConfig(...))

Contract (TRL 1.16, pinned in the `trl` extra): a reward function is called as
`f(prompts=..., completions=..., completion_ids=..., **columns, trainer_state=..., log_extra=...,
log_metric=...)` with one list entry per completion and returns one float per completion, `None` where
the reward does not apply (TRL then leaves the row out of the group baseline and gives it advantage 0).
rlvr returns `None` for TIMEOUT / ERROR / INVALID_REQUEST, never 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rlvr.integrations.scoring import (
    MissingGroundTruth,
    RewardScorer,
    Sample,
    completion_text,
    is_unscorable,
    prompt_text,
)
from rlvr.verifier.v1 import verifier_pb2 as pb

#: Columns `env_dataset` writes and `reward_func` reads by default.
GROUND_TRUTH = "ground_truth"
TESTS = "tests"
LANGUAGE = "language"
OPTIONS = "verifier_options"
DATA_SOURCE = "data_source"
REWARD_SPEC = "reward_spec"


class RewardFunction:
    """A TRL reward function scoring completions with rlvr (build it with `reward_func`).

    Reads each row's reference from the dataset columns named by the `*_key` arguments (TRL passes
    every dataset column as a keyword argument, one entry per completion), counts tokens through
    `completion_ids` for length terms, and logs per-term means (`<name>/<term>`), the unscorable
    fraction (`<name>/unscorable`) and per-row statuses (completions table column `<name>_status`).
    Picklable: a plain object whose `__name__` is `name`, so TRL logs the reward as `rewards/<name>`.
    """

    def __init__(
        self,
        scorer: RewardScorer,
        *,
        name: str = "rlvr",
        ground_truth_key: str = GROUND_TRUTH,
        tests_key: str = TESTS,
        language_key: str = LANGUAGE,
        options_key: str = OPTIONS,
        data_source_key: str = DATA_SOURCE,
        spec_key: str = REWARD_SPEC,
        count_tokens: bool = True,
        log_components: bool = True,
    ):
        self.scorer = scorer
        self.__name__ = name
        self.ground_truth_key = ground_truth_key
        self.tests_key = tests_key
        self.language_key = language_key
        self.options_key = options_key
        self.data_source_key = data_source_key
        self.spec_key = spec_key
        self.count_tokens = count_tokens
        self.log_components = log_components
        self._calls = 0

    def samples(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None,
        columns: Mapping[str, Any],
    ) -> list[Sample]:
        """The rows TRL passed, as `Sample`s (group ids: consecutive completions of one prompt)."""
        n = len(completions)

        def column(key: str) -> list[Any]:
            values = columns.get(key)
            return list(values) if isinstance(values, (list, tuple)) else [values] * n

        if self.ground_truth_key not in columns and self.tests_key not in columns:
            self._check_no_reference_needed(columns)
        truths, tests, languages = (
            column(self.ground_truth_key),
            column(self.tests_key),
            column(self.language_key),
        )
        options, sources, specs = (
            column(self.options_key),
            column(self.data_source_key),
            column(self.spec_key),
        )
        self._calls += 1
        samples: list[Sample] = []
        group, previous = 0, None
        for i in range(n):
            prompt = prompt_text(prompts[i] if i < len(prompts) else None)
            key = (prompt, str(truths[i]))
            if key != previous:
                group, previous = group + 1, key
            samples.append(
                Sample(
                    completion=completion_text(completions[i]),
                    ground_truth="" if truths[i] is None else str(truths[i]),
                    tests=tests[i] or (),
                    language=languages[i] or "",
                    options=options[i] or None,
                    data_source=sources[i] or "",
                    prompt=prompt,
                    response_tokens=len(completion_ids[i]) if self.count_tokens and completion_ids else None,
                    group_id=f"trl-{self._calls}-{group}",
                    spec=specs[i] or None,
                    id=str(i),
                )
            )
        return samples

    def _check_no_reference_needed(self, columns: Mapping[str, Any]) -> None:
        names = [k for k in columns if k not in ("trainer_state", "log_extra", "log_metric", "environments")]
        for spec in [self.scorer._spec, *self.scorer._specs.values()]:
            if spec is not None and any(t.verifier in ("math", "code") for t in spec.terms):
                raise MissingGroundTruth(
                    f"the dataset has no {self.ground_truth_key!r} (or {self.tests_key!r}) column; TRL passed "
                    f"{names}. Name the column with reward_func(ground_truth_key=...), or build the dataset "
                    "with rlvr.integrations.trl.env_dataset"
                )

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        log_metric: Callable[[str, float], None] | None = kwargs.pop("log_metric", None)
        log_extra: Callable[[str, list], None] | None = kwargs.pop("log_extra", None)
        kwargs.pop("trainer_state", None)
        responses = self.scorer.score(self.samples(prompts, completions, completion_ids, kwargs))
        if self.log_components:
            self._log(responses, log_metric, log_extra)
        return [None if is_unscorable(r) else float(r.reward) for r in responses]

    def _log(
        self,
        responses: Sequence[pb.VerifyResponse],
        log_metric: Callable[[str, float], None] | None,
        log_extra: Callable[[str, list], None] | None,
    ) -> None:
        if log_extra is not None:
            log_extra(f"{self.__name__}_status", [pb.Status.Name(r.status) for r in responses])
        if log_metric is None:
            return
        known = [r for r in responses if not is_unscorable(r)]
        log_metric(f"{self.__name__}/unscorable", 1.0 - len(known) / max(1, len(responses)))
        terms: dict[str, list[float]] = {}
        for response in known:
            for term, value in response.components.items():
                terms.setdefault(term, []).append(value)
        for term, values in terms.items():
            log_metric(f"{self.__name__}/{term}", sum(values) / len(values))

    def __repr__(self) -> str:
        return f"RewardFunction(name={self.__name__!r}, verifier={self.scorer.target!r})"


def reward_func(
    spec: Any = None,
    *,
    specs: Mapping[str, Any] | None = None,
    verifier: Any = None,
    verifier_options: Mapping[str, Any] | None = None,
    client_options: Mapping[str, Any] | None = None,
    name: str = "rlvr",
    ground_truth_key: str = GROUND_TRUTH,
    tests_key: str = TESTS,
    language_key: str = LANGUAGE,
    options_key: str = OPTIONS,
    data_source_key: str = DATA_SOURCE,
    spec_key: str = REWARD_SPEC,
    count_tokens: bool = True,
    log_components: bool = True,
) -> RewardFunction:
    """A TRL reward function scoring with rlvr.

    `spec`: one reward spec for every row (a registered name such as "r1_math", a dict, a spec file,
    a `RewardSpec`); or `specs`: `{data_source: spec}` chosen per row by the `data_source_key` column
    (`"*"`: default); with neither, each row's `spec_key` column (written by `env_dataset`).
    `verifier`: None (in process) or "grpc://host:port[,host:port]" (a running `rlvr serve`;
    `client_options` such as `token` go to its client).
    The reference answer comes from `ground_truth_key`, code tests from `tests_key` (JSON text or a
    list of TestCase dicts), per-row options from `options_key`.
    """
    scorer = RewardScorer(
        spec=spec,
        specs=specs,
        verifier=verifier,
        verifier_options=verifier_options,
        client_options=client_options,
    )
    return RewardFunction(
        scorer,
        name=name,
        ground_truth_key=ground_truth_key,
        tests_key=tests_key,
        language_key=language_key,
        options_key=options_key,
        data_source_key=data_source_key,
        spec_key=spec_key,
        count_tokens=count_tokens,
        log_components=log_components,
    )


def env_rows(
    env: Any, n: int, *, seed: int = 0, env_kwargs: Mapping[str, Any] | None = None, chat: bool = True
) -> list[dict[str, Any]]:
    """`n` rows of an rlvr env (an id such as "rlvr/Arithmetic-v0", or an env), from seeds `seed..seed+n-1`.

    Each row: `prompt` (chat messages, or text with `chat=False`), `ground_truth`, `tests` (JSON),
    `language`, `verifier_options` (JSON: the task's and the env's request options), `data_source` (the
    env id or name), `task_id`, `difficulty`, and `reward_spec` (the env's spec as JSON), so that
    `reward_func()` gives the reward the env would.
    """
    import gymnasium

    import rlvr.envs  # noqa: F401 - registers the ids
    from rlvr.verifier_server.engine.specs import spec_to_dict

    owned = isinstance(env, str)
    if owned:
        kwargs = {"observation": "chat" if chat else "text", **(env_kwargs or {})}
        source_name, made = env, gymnasium.make(env, **kwargs)
    else:
        source_name, made = getattr(getattr(env, "spec", None), "id", None) or env.unwrapped.name, env
    base: Any = made.unwrapped
    spec_json = json.dumps(spec_to_dict(base.reward_spec), sort_keys=True)
    rows: list[dict[str, Any]] = []
    try:
        for i in range(n):
            observation, info = made.reset(seed=seed + i)
            task = base.task
            options = {**dict(task.options), **dict(base.verifier_options)}
            rows.append(
                {
                    "prompt": [dict(m) for m in observation]
                    if not isinstance(observation, str)
                    else observation,
                    GROUND_TRUTH: task.ground_truth,
                    TESTS: json.dumps([_test_dict(t) for t in task.tests]) if task.tests else "",
                    LANGUAGE: task.language,
                    OPTIONS: json.dumps(options, sort_keys=True) if options else "",
                    DATA_SOURCE: source_name,
                    "task_id": task.id,
                    "difficulty": int(task.difficulty),
                    REWARD_SPEC: spec_json,
                }
            )
    finally:
        if owned:
            made.close()
    return rows


def env_dataset(
    env: Any, n: int, *, seed: int = 0, env_kwargs: Mapping[str, Any] | None = None, chat: bool = True
) -> Any:
    """`env_rows` as a `datasets.Dataset` (TRL's `train_dataset` / `eval_dataset`)."""
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets comes with trl
        raise ImportError("env_dataset needs `datasets`: pip install 'rlvr[trl]'") from exc
    return datasets.Dataset.from_list(env_rows(env, n, seed=seed, env_kwargs=env_kwargs, chat=chat))


def _test_dict(test: pb.TestCase) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(test)


class EnvRollout:
    """A TRL `rollout_func` that plays episodes of a (multi-turn) rlvr env with the trainer's model.

    `GRPOTrainer(..., rollout_func=EnvRollout(env, dataset), reward_funcs=[env_reward])`. TRL calls it
    with the batch's prompts (each repeated `num_generations` times) and the trainer; for each prompt
    the row of `dataset` (rows of `env_rows` / `env_dataset`) with that prompt gives the task, the env
    is reset on it, and turns alternate: the model samples (HF `generate`, `temperature`), the env
    scores the turn (all active episodes in one `verify_batch`) and answers with feedback (rendered
    through the tokenizer's chat template as the env's next message) until the episode ends or the
    completion budget (`max_completion_length`) is spent. Returns TRL's dict: `prompt_ids`,
    `completion_ids` (model and env tokens), `logprobs` (sampling logprobs; 0 for env tokens),
    `env_mask` (1 model token, 0 env token), plus `env_reward` (the last turn's reward, or the sum with
    `episode_reward="sum"`; None when unknown), `env_status` and `env_turns`, which TRL passes to
    the reward functions. `env`: an env id (made with `observation="chat"` and `env_kwargs`) or a
    callable returning an env. An episode has at most the env's turn limit (`env.spec.max_episode_steps`,
    as `TimeLimit`) turns, and a turn samples at most `turn_tokens` (default: the budget over that
    limit). Generation runs on the unwrapped model (HF `generate`, no vLLM).
    """

    def __init__(
        self,
        env: Any,
        dataset: Any,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        temperature: float = 1.0,
        turn_tokens: int | None = None,
        episode_reward: str = "last",
        verifier: Any = None,
    ):
        if episode_reward not in ("last", "sum"):
            raise ValueError(f"episode_reward={episode_reward!r}: pass 'last' or 'sum'")
        self.env = env
        self.env_kwargs = dict(env_kwargs or {})
        self.temperature = temperature
        self.turn_tokens = turn_tokens
        self.episode_reward = episode_reward
        self.verifier = verifier
        self._rows = {_prompt_key(row["prompt"]): dict(row) for row in dataset}
        self._envs: list[Any] = []
        self.__name__ = "rlvr_env_rollout"

    def _make_env(self) -> Any:
        import gymnasium

        import rlvr.envs  # noqa: F401 - registers the ids

        if callable(self.env) and not isinstance(self.env, str):
            return self.env()
        kwargs = {"observation": "chat", **self.env_kwargs}
        if self.verifier is not None:
            kwargs["verifier"] = self.verifier
        return gymnasium.make(self.env, **kwargs)

    def _task(self, prompt: Any) -> Any:
        from rlvr.envs.task import Task

        row = self._rows.get(_prompt_key(prompt))
        if row is None:
            raise MissingGroundTruth(
                f"EnvRollout has no dataset row for the prompt {prompt_text(prompt)[:80]!r}: pass the "
                "dataset the trainer samples from"
            )
        tests = json.loads(row[TESTS]) if row.get(TESTS) else ()
        options = json.loads(row[OPTIONS]) if row.get(OPTIONS) else {}
        return Task.make(
            str(row.get("task_id") or "trl"),
            prompt=prompt_text(prompt),
            ground_truth=row.get(GROUND_TRUTH) or "",
            tests=tests,
            language=row.get(LANGUAGE) or "",
            options=options,
        )

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        import torch

        tokenizer = trainer.processing_class
        model = trainer.accelerator.unwrap_model(trainer.model)
        budget = int(trainer.args.max_completion_length)
        while len(self._envs) < len(prompts):
            self._envs.append(self._make_env())
        episodes = [_Episode(self._envs[i], self._task(p), p, tokenizer) for i, p in enumerate(prompts)]
        per_turn = self.turn_tokens or max(1, budget // (episodes[0].turn_limit or 1))
        client = self._envs[0].unwrapped.verifier
        while True:
            active = [e for e in episodes if not e.done and e.room(budget) > 0]
            if not active:
                break
            turn = max(1, min(per_turn, *(e.room(budget) for e in active)))
            with torch.no_grad():
                actions = _sample(model, tokenizer, [e.ids() for e in active], turn, self.temperature)
            requests = [e.env.unwrapped.prepare_step(text) for e, (_, _, text) in zip(active, actions)]
            sent = [r for r in requests if r is not None]
            answers = iter(client.verify_batch(sent) if sent else [])
            for episode, (ids, logprobs, text), request in zip(active, actions, requests):
                response = next(answers) if request is not None else None
                episode.record(ids, logprobs, text, response, budget)
        rewards = [e.reward(self.episode_reward) for e in episodes]
        return {
            "prompt_ids": [e.prompt_ids for e in episodes],
            "completion_ids": [e.completion_ids[:budget] for e in episodes],
            "logprobs": [e.logprobs[:budget] for e in episodes],
            "env_mask": [e.mask[:budget] for e in episodes],
            "env_reward": rewards,
            "env_status": [e.status for e in episodes],
            "env_turns": [e.turns for e in episodes],
        }


def env_reward(
    completions: Sequence[Any], env_reward: Sequence[float | None] | None = None, **_: Any
) -> list:
    """The reward `EnvRollout` computed in its episodes (TRL passes its `env_reward` field here)."""
    if env_reward is None:
        raise MissingGroundTruth(
            "env_reward needs rollout_func=EnvRollout(...): no env_reward field was passed"
        )
    return list(env_reward)


def _prompt_key(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(list(prompt), sort_keys=True)


class _Episode:
    """One env episode inside EnvRollout: token bookkeeping (model vs env tokens) and the rewards."""

    def __init__(self, env: Any, task: Any, prompt: Any, tokenizer: Any):
        self.env, self.tokenizer = env, tokenizer
        # the turns go through env.unwrapped.finish_step, past any TimeLimit: apply its limit here
        self.turn_limit: int | None = getattr(env.spec, "max_episode_steps", None)
        env.reset(options={"task": task})
        self.messages = [dict(m) for m in prompt] if not isinstance(prompt, str) else None
        text = (
            tokenizer.apply_chat_template(self.messages, add_generation_prompt=True, tokenize=False)
            if self.messages is not None
            else prompt
        )
        self.prompt_ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
        self.completion_ids: list[int] = []
        self.logprobs: list[float] = []
        self.mask: list[int] = []
        self.rewards: list[float] = []
        self.status = ""
        self.turns = 0
        self.done = False

    def ids(self) -> list[int]:
        return self.prompt_ids + self.completion_ids

    def room(self, budget: int) -> int:
        return budget - len(self.completion_ids)

    def record(
        self,
        ids: list[int],
        logprobs: list[float],
        text: str,
        response: pb.VerifyResponse | None,
        budget: int,
    ) -> None:
        self.completion_ids += ids
        self.logprobs += logprobs
        self.mask += [1] * len(ids)
        self.turns += 1
        observation, reward, terminated, truncated, info = self.env.unwrapped.finish_step(text, response)
        self.status = str(info.get("status", ""))
        self.rewards.append(float(reward))
        if terminated or truncated or self.turns == self.turn_limit or self.room(budget) <= 0:
            self.done = True
            return
        feedback = self._feedback_ids(text, observation, ids)
        if len(feedback) >= self.room(budget):  # no room left for another model turn: stop here
            self.done = True
            return
        self.completion_ids += feedback
        self.logprobs += [0.0] * len(feedback)
        self.mask += [0] * len(feedback)

    def _feedback_ids(self, action: str, observation: Any, action_ids: list[int]) -> list[int]:
        """The env's message as tokens: what the chat template puts between this turn and the next."""
        message = (
            dict(observation[-1])
            if not isinstance(observation, str)
            else {"role": "user", "content": observation}
        )
        if self.messages is None:
            return self.tokenizer("\n" + str(message["content"]) + "\n", add_special_tokens=False)[
                "input_ids"
            ]
        before = self.messages + [{"role": "assistant", "content": action}]
        after = before + [message]
        rendered = self.tokenizer.apply_chat_template(before, tokenize=False)
        full = self.tokenizer.apply_chat_template(after, add_generation_prompt=True, tokenize=False)
        closing = rendered[rendered.rfind(action) + len(action) :] if action else ""
        eos = self.tokenizer.eos_token or ""
        if action_ids and action_ids[-1] == self.tokenizer.eos_token_id and closing.startswith(eos):
            closing = closing[len(eos) :]
        if full.startswith(rendered):
            suffix = full[len(rendered) :]
        else:  # a template that re-renders history differently: the message on its own
            suffix = self.tokenizer.apply_chat_template([message], add_generation_prompt=True, tokenize=False)
        self.messages = after
        return self.tokenizer(closing + suffix, add_special_tokens=False)["input_ids"]

    def reward(self, mode: str) -> float | None:
        if self.status in ("TIMEOUT", "ERROR", "INVALID_REQUEST") or not self.rewards:
            return None
        return self.rewards[-1] if mode == "last" else sum(self.rewards)


def _sample(
    model: Any, tokenizer: Any, sequences: list[list[int]], max_new_tokens: int, temperature: float
) -> list[tuple[list[int], list[float], str]]:
    """Sample one turn for each sequence (left-padded batch): (new ids up to EOS, their logprobs, text)."""
    import torch

    width = max(len(s) for s in sequences)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=model.device)
    attention = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=model.device)
    out = model.generate(
        input_ids=input_ids,
        attention_mask=attention,
        do_sample=True,
        temperature=temperature,
        top_k=0,
        top_p=1.0,
        max_new_tokens=max_new_tokens,
        output_scores=True,
        return_dict_in_generate=True,
        pad_token_id=pad,
        eos_token_id=tokenizer.eos_token_id,
    )
    new = out.sequences[:, width:]
    logps = torch.stack(out.scores, dim=1).float().log_softmax(-1)
    chosen = logps.gather(-1, new.unsqueeze(-1)).squeeze(-1)
    results = []
    for row in range(new.shape[0]):
        ids = new[row].tolist()
        if tokenizer.eos_token_id in ids:
            ids = ids[: ids.index(tokenizer.eos_token_id) + 1]
        values = chosen[row, : len(ids)].tolist()
        results.append((ids, values, tokenizer.decode(ids, skip_special_tokens=True)))
    return results
