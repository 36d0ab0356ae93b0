"""`rlvr sample`: N completions per prompt, each verified as its group completes, written as resumable JSON lines.

The pieces: a prompt list (from an rlvr env's tasks, or a JSONL of prompts and ground truths), a
completion source (the `hf` / `vllm` rollout backends through the tokenizer's chat template, or an
OpenAI-compatible endpoint), a verifier client (in process, or a running `rlvr serve`) and a
`SampleFile` that knows which (prompt, sample) pairs it already holds. Torch is imported only by the
`hf` / `vllm` path.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from google.protobuf import json_format

from rlvr.agents.rollout.base import SamplingParams
from rlvr.errors import RlvrError
from rlvr.verifier.v1 import verifier_pb2 as pb

#: The record fields a resumed run must agree on with the file it appends to.
RUN_FIELDS = ("source", "env_kwargs", "model", "backend", "sampling")
UNKNOWN = frozenset({"TIMEOUT", "ERROR", "INVALID_REQUEST", "STATUS_UNSPECIFIED"})


class SampleError(RlvrError, ValueError):
    """Sampling cannot start or go on; the message names the input (file line, option, request) to fix."""


# -- prompts ------------------------------------------------------------------------------------------


@dataclass
class Prompt:
    """One prompt to sample: what the model sees and the request template its completions are scored with.

    `index` is the prompt's position in the run (its env seed offset, or its JSONL line order);
    `request` holds everything but the response (ground truth, tests, reward spec, options).
    """

    index: int
    task_id: str
    observation: str | list[dict[str, str]]
    request: pb.VerifyRequest
    source: str
    difficulty: int = 1
    ground_truth: Any = ""

    @property
    def key(self) -> str:
        return f"{self.index}:{self.task_id}"


def spec_hash(request: pb.VerifyRequest) -> str:
    """A short hash of how a request is scored: its reward spec, or its verifier and options."""
    if request.reward_spec.terms:
        payload = request.reward_spec.SerializeToString(deterministic=True)
    else:
        payload = request.verifier.encode() + request.options.SerializeToString(deterministic=True)
    return hashlib.sha256(payload).hexdigest()[:16]


def env_prompts(
    env_id: str,
    num_prompts: int,
    *,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    reward_spec: Any = None,
) -> list[Prompt]:
    """`num_prompts` tasks of `env_id`: prompt i is `reset(seed=seed + i)`, so a rerun gets the same ones."""
    import gymnasium

    import rlvr.envs  # noqa: F401 - registers the ids
    from rlvr.envs import MultiTurnEnv, TextEnv

    if env_id not in gymnasium.registry:
        ids = sorted(i for i in gymnasium.registry if i.startswith("rlvr/"))
        raise SampleError(f"env {env_id!r} is not registered; rlvr envs: {', '.join(ids)}")
    kwargs = dict(env_kwargs or {})
    if reward_spec is not None:
        kwargs["reward_spec"] = reward_spec
    try:
        env = gymnasium.make(env_id, **kwargs).unwrapped
    except TypeError as exc:
        raise SampleError(f"env {env_id!r} rejected env_kwargs {env_kwargs}: {exc}") from None
    if not isinstance(env, TextEnv) or isinstance(env, MultiTurnEnv):
        raise SampleError(
            f"env {env_id!r} is multi-turn or not an rlvr text env: rlvr sample scores one completion per "
            "prompt; sample multi-turn envs through rlvr train's rollout collector"
        )
    prompts = []
    try:
        for i in range(num_prompts):
            observation, info = env.reset(seed=seed + i)
            request = env.prepare_step("")
            if request is None:
                raise SampleError(
                    f"env {env_id!r} scores its own actions; rlvr sample needs verifier-scored envs"
                )
            request.id, request.group_id, request.group_size = "", "", 0
            request.ClearField("response")
            assert env.task is not None
            prompts.append(
                Prompt(
                    index=i,
                    task_id=str(info["task_id"]),
                    observation=_observation(observation),
                    request=request,
                    source=env_id,
                    difficulty=int(info.get("difficulty", 1)),
                    ground_truth=env.task.revealed_answer(),
                )
            )
    finally:
        env.close()
    return prompts


def jsonl_prompts(
    path: str | Path, *, verifier: str = "math", reward_spec: Any = None
) -> tuple[list[Prompt], list[str]]:
    """Prompts from a JSONL file, one object a line, and a message for each line that cannot be used.

    Fields: `prompt` (text) or `messages` (chat), `ground_truth` (math) or `tests` + `language` (code),
    optional `id`, `verifier` (default `verifier`), `options`, `reward_spec`, `difficulty`. A bad line
    is reported by number and skipped; the others are kept.
    """
    from rlvr.envs.rewards import resolve_spec

    spec = resolve_spec(reward_spec) if reward_spec is not None else None
    prompts: list[Prompt] = []
    problems: list[str] = []
    name = str(path)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
                prompts.append(_row_prompt(row, number - 1, name, verifier, spec))
            except (ValueError, KeyError, TypeError, RlvrError, json_format.ParseError) as exc:
                problems.append(f"{name} line {number}: {exc}")
    return prompts, problems


def _row_prompt(row: dict[str, Any], index: int, source: str, verifier: str, spec: Any) -> Prompt:
    from rlvr.envs.rewards import resolve_spec

    observation: str | list[dict[str, str]]
    if "messages" in row:
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in row["messages"]]
        observation, text = messages, "\n".join(m["content"] for m in messages)
    elif isinstance(row.get("prompt"), str):
        observation = text = row["prompt"]
    else:
        raise ValueError("needs 'prompt' (text) or 'messages' (chat)")
    if "ground_truth" not in row and "tests" not in row:
        raise ValueError("needs 'ground_truth' (math) or 'tests' (code)")
    request = json_format.ParseDict(
        {k: row[k] for k in ("ground_truth", "tests", "language", "options") if k in row}, pb.VerifyRequest()
    )
    request.prompt = text
    if spec is not None:
        request.reward_spec.CopyFrom(spec)
    elif "reward_spec" in row:
        request.reward_spec.CopyFrom(resolve_spec(row["reward_spec"]))
    else:
        request.verifier = str(row.get("verifier", verifier))
    task_id = str(row.get("id") or hashlib.sha1(text.encode()).hexdigest()[:12])
    ground_truth = row.get("ground_truth", row.get("tests", ""))
    return Prompt(index, task_id, observation, request, source, int(row.get("difficulty", 1)), ground_truth)


def _observation(observation: Any) -> str | list[dict[str, str]]:
    return observation if isinstance(observation, str) else [dict(m) for m in observation]


# -- completion sources -------------------------------------------------------------------------------


@dataclass
class Completion:
    """One sampled completion, whatever produced it."""

    text: str
    finish_reason: str
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    logprobs: list[float] | None = None
    seconds: float = 0.0


@dataclass
class Job:
    """Sample `prompt` once for each of `sample_indices`."""

    prompt: Prompt
    sample_indices: list[int]


Outcome = Completion | str  # a completion, or why this sample failed


class CompletionSource(Protocol):
    """Produces completions for jobs: yields (prompt, sample_index, completion or error text) as they finish."""

    name: str
    model: str

    def sample(
        self, jobs: Sequence[Job], params: SamplingParams, *, seed: int
    ) -> Iterator[tuple[Prompt, int, Outcome]]: ...


class TokenBackendSource:
    """An rlvr `RolloutBackend` (`hf`, `vllm`) behind the tokenizer: prompts through `PromptEncoder`,
    `batch_size` rows per `generate`, completions decoded without special tokens. A prompt that
    leaves no room for `max_new_tokens` in `max_context` fails alone, with its length in the message.
    """

    def __init__(
        self,
        backend: Any,
        tokenizer: Any,
        *,
        model: str,
        chat_template: bool,
        max_context: int,
        batch_size: int = 32,
    ):
        from rlvr.agents.collect import PromptEncoder

        self.backend = backend
        self.name = str(backend.name)
        self.model = model
        self.tokenizer = tokenizer
        self.encoder = PromptEncoder(tokenizer, chat_template=chat_template)
        self.max_context = max_context
        self.batch_size = batch_size

    def sample(
        self, jobs: Sequence[Job], params: SamplingParams, *, seed: int
    ) -> Iterator[tuple[Prompt, int, Outcome]]:
        from dataclasses import replace

        rows: list[tuple[Prompt, int, list[int]]] = []
        for job in jobs:
            ids = self.encoder.prompt(job.prompt.observation)
            if len(ids) + params.max_new_tokens > self.max_context:
                message = (
                    f"prompt {job.prompt.index} (task {job.prompt.task_id}) is {len(ids)} tokens; with "
                    f"max_new_tokens={params.max_new_tokens} it exceeds the model's context of {self.max_context}"
                )
                for index in job.sample_indices:
                    yield job.prompt, index, message
                continue
            rows.extend((job.prompt, index, ids) for index in job.sample_indices)
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            first = batch[0]
            batch_seed = (seed * 1_000_003 + first[0].index * 10_007 + first[1]) % (2**31)
            began = time.perf_counter()
            generations = self.backend.generate(
                [ids for _, _, ids in batch], replace(params, seed=batch_seed)
            )
            seconds = (time.perf_counter() - began) / len(batch)
            for (prompt, index, ids), generation in zip(batch, generations):
                text = self.tokenizer.decode(generation.token_ids, skip_special_tokens=True)
                yield (
                    prompt,
                    index,
                    Completion(
                        text=text,
                        finish_reason=generation.finish_reason,
                        completion_tokens=len(generation.token_ids),
                        prompt_tokens=len(ids),
                        logprobs=[round(x, 6) for x in generation.logprobs],
                        seconds=seconds,
                    ),
                )


class EndpointSource:
    """An OpenAI-compatible endpoint (`OpenAIBackend`): one request per job chunk of at most
    `max_n` samples; when a server returns fewer choices than asked (llama.cpp ignores `n`), the
    missing samples are asked for again."""

    def __init__(self, backend: Any, *, max_n: int = 8):
        self.backend = backend
        self.name = "openai"
        self.max_n = max_n

    @property
    def model(self) -> str:
        return str(self.backend.model)

    def sample(
        self, jobs: Sequence[Job], params: SamplingParams, *, seed: int
    ) -> Iterator[tuple[Prompt, int, Outcome]]:
        from rlvr.agents.rollout.openai import EndpointError, EndpointRequest

        todo: list[tuple[Prompt, list[int]]] = []
        for job in jobs:
            for start in range(0, len(job.sample_indices), self.max_n):
                todo.append((job.prompt, job.sample_indices[start : start + self.max_n]))
        short_answers = 0
        while todo:
            requests = [
                EndpointRequest(
                    key=(prompt, indices, time.perf_counter()),
                    prompt=prompt.observation,
                    n=len(indices),
                    seed=seed + prompt.index * 100_003 + indices[0],  # reproducible per sample chunk
                    label=f"prompt {prompt.index} (task {prompt.task_id}), samples {indices[0]}..{indices[-1]}",
                )
                for prompt, indices in todo
            ]
            todo = []
            for request, result in self.backend.stream(requests, params):
                prompt, indices, began = request.key
                if isinstance(result, EndpointError):
                    for index in indices:
                        yield prompt, index, str(result)
                    continue
                seconds = (time.perf_counter() - began) / max(len(result), 1)
                for index, choice in zip(indices, result):
                    yield (
                        prompt,
                        index,
                        Completion(
                            text=choice.text,
                            finish_reason=choice.finish_reason,
                            completion_tokens=choice.completion_tokens,
                            prompt_tokens=choice.prompt_tokens,
                            logprobs=choice.logprobs,
                            seconds=seconds,
                        ),
                    )
                if len(result) < len(indices):
                    short_answers += 1
                    if short_answers > 10_000:
                        raise SampleError(
                            "the endpoint keeps returning fewer choices than asked; pass --max-n 1"
                        )
                    todo.append((prompt, indices[len(result) :]))


# -- the sample file ----------------------------------------------------------------------------------


class SampleFile:
    """The JSON-lines output of a run: which (prompt_index, sample_index) pairs it holds, and appending.

    Opening an existing file reads it: a torn last line (a run killed mid-write) is cut off, an
    unparsable line is reported by number and left in place, and every other record counts as done,
    so a rerun samples only what is missing: nothing duplicated, nothing lost.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.done: set[tuple[int, int]] = set()
        self.task_ids: dict[int, str] = {}
        self.first: dict[str, Any] | None = None
        self.problems: list[str] = []
        self.cut_bytes = 0
        if self.path.exists():
            self._read()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def _read(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            self.cut_bytes = len(data) - keep
            with self.path.open("r+b") as handle:
                handle.truncate(keep)
            data = data[:keep]
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = (int(record["prompt_index"]), int(record["sample_index"]))
            except (ValueError, KeyError, TypeError) as exc:
                self.problems.append(f"{self.path} line {number}: not a sample record ({exc}); left as is")
                continue
            if self.first is None:
                self.first = record
            self.done.add(key)
            self.task_ids.setdefault(key[0], str(record.get("task_id", "")))

    def check_compatible(self, run: dict[str, Any]) -> None:
        """Raise `SampleError` when the file holds samples of another source, model or sampling."""
        if self.first is None:
            return
        for name in RUN_FIELDS:
            if self.first.get(name) != run.get(name):
                raise SampleError(
                    f"{self.path} holds samples with {name}={self.first.get(name)!r}, this run has "
                    f"{run.get(name)!r}: rerun with the same settings to resume, or write to a new --output"
                )

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for record in records:
                self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                self.done.add((record["prompt_index"], record["sample_index"]))
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()


# -- scoring ------------------------------------------------------------------------------------------


def completion_text(text: str) -> str:
    """`text` as valid Unicode: lone surrogates (from byte-level decoding) become U+FFFD."""
    return text.encode("utf-8", errors="replace").decode("utf-8")


def score_group(
    verifier: Any, prompt: Prompt, samples: Sequence[tuple[int, Completion]]
) -> list[pb.VerifyResponse]:
    """One verify call for the samples of one prompt, as one group (so group terms such as
    `kimi_length` see them together)."""
    requests = []
    for index, completion in samples:
        request = pb.VerifyRequest()
        request.CopyFrom(prompt.request)
        request.id = f"{prompt.index}/{index}"
        request.response = completion.text
        request.group_id = f"p{prompt.index}"
        request.group_size = len(samples)  # the call holds the whole group
        if completion.completion_tokens is not None:
            request.response_tokens = completion.completion_tokens
        requests.append(request)
    return list(verifier.verify_batch(requests))


def sample_record(
    prompt: Prompt,
    index: int,
    completion: Completion,
    response: pb.VerifyResponse,
    run: dict[str, Any],
    *,
    verify_seconds: float,
    with_logprobs: bool = True,
) -> dict[str, Any]:
    """The JSON line of one verified sample (docs/sampling.md lists the fields)."""
    status = pb.Status.Name(response.status)
    template = json_format.MessageToDict(prompt.request, preserving_proto_field_name=True)
    return {
        "task_id": prompt.task_id,
        "prompt_index": prompt.index,
        "sample_index": index,
        "source": run["source"],
        "env_kwargs": run.get("env_kwargs"),
        "difficulty": prompt.difficulty,
        "prompt": prompt.observation,
        "completion": completion.text,
        "reward": response.reward,
        "status": status,
        "correct": None if status in UNKNOWN else status == "CORRECT",
        "components": dict(response.components),
        "message": response.message,
        "finish_reason": completion.finish_reason,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "completion_chars": len(completion.text),
        "logprobs": completion.logprobs if with_logprobs else None,
        "ground_truth": prompt.ground_truth,
        "verifier": response.verifier,
        "verifier_version": response.verifier_version,
        "spec_hash": spec_hash(prompt.request),
        "model": run["model"],
        "backend": run["backend"],
        "sampling": run["sampling"],
        "seconds": {"generate": round(completion.seconds, 6), "verify": round(verify_seconds, 6)},
        "request": template,
    }


@dataclass
class SampleStats:
    """What a run did: samples written, failed (with the first messages), skipped as already present."""

    written: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    generate_seconds: float = 0.0
    verify_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def samples_per_second(self) -> float:
        return self.written / self.seconds if self.seconds else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "samples_per_second": self.samples_per_second}


class _Scorer(threading.Thread):
    """Verifies finished groups and writes their records while the source keeps generating."""

    def __init__(
        self, verifier: Any, out: SampleFile, run: dict[str, Any], stats: SampleStats, with_logprobs: bool
    ):
        super().__init__(name="rlvr-sample-scorer", daemon=True)
        self.verifier, self.out, self.run_info, self.stats = verifier, out, run, stats
        self.with_logprobs = with_logprobs
        self.inbox: queue.Queue[Any] = queue.Queue(maxsize=256)
        self.error: BaseException | None = None

    def run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            if self.error is not None:
                continue
            prompt, samples = item
            try:
                began = time.perf_counter()
                responses = score_group(self.verifier, prompt, samples)
                seconds = time.perf_counter() - began
                self.stats.verify_seconds += seconds
                per_sample = seconds / max(len(samples), 1)
                self.out.write(
                    sample_record(
                        prompt,
                        index,
                        completion,
                        response,
                        self.run_info,
                        verify_seconds=per_sample,
                        with_logprobs=self.with_logprobs,
                    )
                    for (index, completion), response in zip(samples, responses)
                )
                self.stats.written += len(samples)
            except BaseException as exc:  # reported by the driver; unwritten samples are redone on rerun
                self.error = exc


def run_sampling(
    prompts: Sequence[Prompt],
    source: CompletionSource,
    verifier: Any,
    out: SampleFile,
    *,
    n: int,
    params: SamplingParams,
    run: dict[str, Any],
    seed: int = 0,
    with_logprobs: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> SampleStats:
    """Sample every (prompt, sample index < n) that `out` does not hold yet, verify, and append.

    A prompt's samples are verified together once they are all in (one group per prompt); failed
    samples (endpoint errors, prompts over the context) are counted and reported, never written, so
    a rerun tries them again. Raises `SampleError` when the verifier fails; what was written stays.
    """
    out.check_compatible(run)
    stats = SampleStats()
    jobs = []
    for prompt in prompts:
        held_task = out.task_ids.get(prompt.index)
        if held_task is not None and held_task != prompt.task_id:
            raise SampleError(
                f"{out.path} holds prompt {prompt.index} as task {held_task}, this run has task {prompt.task_id}: "
                "the prompts changed (another seed or file); write to a new --output"
            )
        missing = [i for i in range(n) if (prompt.index, i) not in out.done]
        stats.skipped += n - len(missing)
        if missing:
            jobs.append(Job(prompt, missing))
    expected = {job.prompt.index: len(job.sample_indices) for job in jobs}
    held: dict[int, list[tuple[int, Completion]]] = {}
    scorer = _Scorer(verifier, out, run, stats, with_logprobs)
    scorer.start()
    began = time.perf_counter()
    try:
        for prompt, index, outcome in source.sample(jobs, params, seed=seed):
            if scorer.error is not None:
                break
            if isinstance(outcome, str):
                stats.failed += 1
                if len(stats.errors) < 20:
                    stats.errors.append(outcome)
            else:
                outcome.text = completion_text(outcome.text)
                stats.generate_seconds += outcome.seconds
                held.setdefault(prompt.index, []).append((index, outcome))
            expected[prompt.index] -= 1
            if on_progress is not None:
                on_progress(1)
            if expected[prompt.index] == 0:
                samples = sorted(held.pop(prompt.index, []), key=lambda s: s[0])
                if samples:
                    scorer.inbox.put((prompt, samples))
    finally:
        scorer.inbox.put(None)
        scorer.join()
        stats.seconds = time.perf_counter() - began
    if scorer.error is not None:
        raise SampleError(
            f"verifying failed ({type(scorer.error).__name__}: {scorer.error}); {stats.written} samples were "
            f"written to {out.path}; rerun the same command to continue"
        ) from scorer.error
    return stats


def sampling_settings(params: SamplingParams, *, n: int, seed: int) -> dict[str, Any]:
    """The sampling settings stored in every record (and compared when a run resumes)."""
    return {
        "n": n,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,
        "max_new_tokens": params.max_new_tokens,
        "seed": seed,
    }


def api_key_from_env(name: str) -> str | None:
    """The API key in environment variable `name` (never a flag: flags show in `ps`)."""
    return os.environ.get(name) or None


def warn(message: str) -> None:
    print(message, file=sys.stderr)
