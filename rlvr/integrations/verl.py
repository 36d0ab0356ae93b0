"""verl adapter: `compute_score` for `reward.custom_reward_function`, its batched and async forms, and
env rows in verl's parquet schema.

Contract (verl 0.9.1, pinned in the `verl` extra), from `verl/trainer/ppo/reward.py` and the reward
managers: `custom_reward_function.path` is a file, `.name` a function in it, `.reward_kwargs` extra
keyword arguments merged into every call (they win over the manager's). The default `naive` manager
(`verl/experimental/reward_loop/reward_manager/naive.py`) awaits
`compute_score(data_source=, solution_str=, ground_truth=, extra_info=)` once per sample (sync
functions run in a thread); the legacy `batch` manager (`verl/workers/reward_manager/batch.py`) calls
`compute_score(data_sources=, solution_strs=, ground_truths=, extra_infos=)` once per batch. Either
returns a float or a dict with `"score"` and extra keys that verl logs (the same keys for every sample).

Point `path` at this module's file (`python -c "import rlvr.integrations.verl as m; print(m.__file__)"`)
and `name` at `compute_score` (sync), `compute_score_async` (naive manager: concurrent calls coalesce
into one VerifyBatch) or `compute_score_batch` (batch manager). `reward_kwargs`: `spec`, `specs`
(`{data_source: spec}`), `verifier` ("grpc://host:port[,...]"), `verifier_options`,
`client_options` (`token`, `timeout`...; the token defaults to `RLVR_TOKEN`), `unscorable_score`.

Ground truth travels as verl's `reward_model.ground_truth` (text; or a JSON object / dict with
`ground_truth`, `tests`, `language` for code); `extra_info` may add `tests`, `language`,
`verifier_options`, `reward_spec`. The spec is chosen per sample: `spec`, else `specs[data_source]`,
else `extra_info["reward_spec"]`, else the registered spec named `data_source`. verl has no "unknown
reward": an unscorable sample scores `unscorable_score` (0.0) with `rlvr_unscorable = 1.0` in its
extras, never a silent zero. Group terms (kimi_length) need the batch form (groups by
`extra_info["index"]`, the prompt's row).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rlvr.integrations.scoring import RewardScorer, Sample, is_unscorable, object_or_text
from rlvr.verifier.v1 import verifier_pb2 as pb

_SCORERS: dict[str, RewardScorer] = {}
_SCORER_KEYS = ("spec", "specs", "verifier", "verifier_options", "client_options")


def scorer_for(**reward_kwargs: Any) -> RewardScorer:
    """The process-wide scorer for these `reward_kwargs` (one per distinct configuration)."""
    unknown = set(reward_kwargs) - set(_SCORER_KEYS)
    if unknown:
        raise TypeError(
            f"unknown reward_kwargs {sorted(unknown)} for rlvr's compute_score; use {list(_SCORER_KEYS)} "
            "and unscorable_score"
        )
    config = {k: reward_kwargs.get(k) for k in _SCORER_KEYS}
    key = json.dumps(config, sort_keys=True, default=str)
    scorer = _SCORERS.get(key)
    if scorer is None:
        scorer = _SCORERS[key] = RewardScorer(**config)
    return scorer


def sample_of(
    data_source: Any, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None, index: int
) -> Sample:
    """One verl sample as an rlvr `Sample`."""
    extra = dict(extra_info or {})
    truth = object_or_text(ground_truth)
    fields: dict[str, Any] = dict(truth) if isinstance(truth, Mapping) else {"ground_truth": truth}
    if isinstance(fields.get("ground_truth"), (list, tuple)):  # several accepted answers: the first one
        fields["ground_truth"] = fields["ground_truth"][0] if fields["ground_truth"] else ""
    row = extra.get("index")
    source = "" if data_source is None else str(data_source)
    return Sample(
        completion=str(solution_str),
        ground_truth="" if fields.get("ground_truth") is None else str(fields["ground_truth"]),
        tests=fields.get("tests") or extra.get("tests") or (),
        language=fields.get("language") or extra.get("language") or "",
        options=extra.get("verifier_options") or None,
        data_source=source,
        spec=extra.get("reward_spec") or None,
        group_id=f"verl-{source}-{row}" if row is not None else "",
        id=str(index),
    )


def score_dict(
    response: pb.VerifyResponse, terms: Sequence[str], unscorable_score: float
) -> dict[str, float]:
    """verl's dict shape: `score`, `acc` (1 when CORRECT), `rlvr_unscorable`, and each term's component."""
    unknown = is_unscorable(response)
    result = {
        "score": float(unscorable_score) if unknown else float(response.reward),
        "acc": float(response.status == pb.CORRECT),
        "rlvr_unscorable": float(unknown),
    }
    for term in terms:
        result[f"rlvr_{term}"] = float(response.components.get(term, 0.0))
    return result


def _terms(scorer: RewardScorer, responses: Sequence[pb.VerifyResponse]) -> list[str]:
    names = scorer.term_names()
    for response in responses:
        for name in response.components:
            if name not in names:
                names.append(name)
    return names


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    unscorable_score: float = 0.0,
    **reward_kwargs: Any,
) -> list[dict[str, float]]:
    """The batch manager's form: one dict per sample, scored in one VerifyBatch."""
    scorer = scorer_for(**reward_kwargs)
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    samples = [
        sample_of(source, text, truth, info, i)
        for i, (source, text, truth, info) in enumerate(
            zip(data_sources, solution_strs, ground_truths, infos)
        )
    ]
    responses = scorer.score(samples)
    terms = _terms(scorer, responses)
    return [score_dict(r, terms, unscorable_score) for r in responses]


def compute_score(
    data_source: Any = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Mapping[str, Any] | None = None,
    *,
    unscorable_score: float = 0.0,
    **reward_kwargs: Any,
) -> dict[str, float]:
    """The per-sample form (naive manager, sync): verl's dict for one sample."""
    reward_kwargs.pop("reward_router_address", None)
    reward_kwargs.pop("reward_model_tokenizer", None)
    return compute_score_batch(
        [data_source],
        [solution_str],
        [ground_truth],
        [extra_info],
        unscorable_score=unscorable_score,
        **reward_kwargs,
    )[0]


class _Coalescer:
    """Collects the per-sample calls made on one event loop in the same tick into one batch."""

    def __init__(self) -> None:
        self.pending: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[dict[str, float]]]] = []
        self.scheduled = False

    def submit(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> asyncio.Future[dict[str, float]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, float]] = loop.create_future()
        self.pending.append((args, kwargs, future))
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(lambda: loop.create_task(self.flush()))
        return future

    async def flush(self) -> None:
        batch, self.pending, self.scheduled = self.pending, [], False
        by_config: dict[
            str, list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[dict[str, float]]]]
        ] = {}
        for item in batch:
            by_config.setdefault(json.dumps(item[1], sort_keys=True, default=str), []).append(item)
        for items in by_config.values():
            kwargs = items[0][1]
            columns = list(zip(*(args for args, _, _ in items)))
            try:
                results = await asyncio.to_thread(compute_score_batch, *columns, **kwargs)
            except Exception as exc:
                for _, _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), result in zip(items, results):
                if not future.done():
                    future.set_result(result)


_COALESCERS: dict[int, _Coalescer] = {}


async def compute_score_async(
    data_source: Any = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Mapping[str, Any] | None = None,
    **reward_kwargs: Any,
) -> dict[str, float]:
    """The per-sample form as a coroutine: the naive manager's concurrent calls become one VerifyBatch."""
    reward_kwargs.pop("reward_router_address", None)
    reward_kwargs.pop("reward_model_tokenizer", None)
    loop = asyncio.get_running_loop()
    coalescer = _COALESCERS.setdefault(id(loop), _Coalescer())
    return await coalescer.submit((data_source, solution_str, ground_truth, extra_info), reward_kwargs)


def env_rows(
    env: str, n: int, *, seed: int = 0, env_kwargs: Mapping[str, Any] | None = None, split: str = "train"
) -> list[dict[str, Any]]:
    """`n` rows of an rlvr env in verl's RL dataset schema (`data.train_files` parquet):
    `data_source`, `prompt` (chat messages), `ability`, `reward_model` (`{"style": "rule",
    "ground_truth"}`), `extra_info` (`index`, `split`, `task_id`, `tests`, `language`,
    `verifier_options`, `reward_spec` as JSON text). Write them with `pandas.DataFrame(rows).to_parquet`."""
    from rlvr.integrations.trl import env_rows as trl_rows

    rows = []
    for i, row in enumerate(trl_rows(env, n, seed=seed, env_kwargs=env_kwargs, chat=True)):
        rows.append(
            {
                "data_source": row["data_source"],
                "prompt": row["prompt"],
                "ability": "code" if row["tests"] else "math",
                "reward_model": {"style": "rule", "ground_truth": row["ground_truth"]},
                "extra_info": {
                    "index": seed + i,
                    "split": split,
                    "task_id": row["task_id"],
                    "tests": row["tests"],
                    "language": row["language"],
                    "verifier_options": row["verifier_options"],
                    "reward_spec": row["reward_spec"],
                },
            }
        )
    return rows
