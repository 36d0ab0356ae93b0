"""`reward_model`: a learned reward model (a local Hugging Face sequence-classification dir) as a verifier.

The model scores (prompt, completion): `request.prompt` is the prompt, `request.response` the
completion. Models are loaded once per process and cached by (dir, device, dtype); requests of one
`verify_batch` call are scored together in batches of `batch_size`. torch and transformers are
imported on first use, so the core installs and imports without them.

Encoding (the same for `rlvr rm train` and scoring, so a trained dir scores what it learned): with a
chat template, the tokenizer renders [user: prompt, assistant: completion] and the prompt part is the
rendered text up to where the completion starts; without one, the prompt (with the tokenizer's
special tokens) and a newline precede the completion. Truncation, when prompt + completion exceed
`max_length` tokens: the prompt keeps its head and the completion its tail (the final answer is at
the end); the prompt keeps at most half the budget unless the completion needs less.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr.errors import RlvrError
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import CORRECT, INCORRECT, PARTIAL, Outcome
from rlvr.verifier_server.engine.registry import BatchVerifier, Options, register
from rlvr.verifier_server.engine.specs import get_option

NAME = "reward_model"
NORMALIZATIONS = ("none", "running", "fixed")
DTYPES = ("float32", "bfloat16", "float16")
#: Context used when neither the config nor the tokenizer states one.
FALLBACK_CONTEXT = 2048
#: Models kept loaded at once; the least recently used one is dropped past it.
CACHE_SIZE = 4


class ModelUnavailable(RlvrError, RuntimeError):
    """The server cannot run reward models (torch / transformers missing): answered ERROR, not INVALID."""


@dataclass(frozen=True)
class Encoded:
    """Token ids of one (prompt, completion) pair after truncation, and what truncation dropped."""

    ids: list[int]
    prompt_tokens: int
    completion_tokens: int
    prompt_kept: int
    completion_kept: int

    @property
    def truncated(self) -> bool:
        return self.prompt_kept < self.prompt_tokens or self.completion_kept < self.completion_tokens

    def note(self) -> str:
        """How the pair was truncated, for the verdict message ("" when it was not)."""
        if not self.truncated:
            return ""
        return (
            f"truncated to {len(self.ids)} tokens: kept the first {self.prompt_kept} of {self.prompt_tokens} "
            f"prompt tokens and the last {self.completion_kept} of {self.completion_tokens} completion tokens"
        )


def truncate(prompt_ids: Sequence[int], completion_ids: Sequence[int], max_length: int) -> Encoded:
    """Prompt head + completion tail within `max_length` tokens (the rule in the module docstring)."""
    if max_length < 2:
        raise InvalidRequest(f"{NAME}: max_length must be at least 2 tokens, got {max_length}")
    p, c = len(prompt_ids), len(completion_ids)
    kept_p = p if p + c <= max_length else min(p, max(max_length // 2, max_length - c))
    kept_c = min(c, max_length - kept_p)
    ids = list(prompt_ids[:kept_p]) + list(completion_ids[c - kept_c :])
    return Encoded(ids, p, c, kept_p, kept_c)


def split_pair(tokenizer: Any, prompt: str, completion: str) -> tuple[list[int], list[int]]:
    """Token ids of the prompt part and of the completion part of one pair (before truncation)."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
        head = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        cut = _common_prefix_length(head, full)
        prompt_ids = tokenizer(full[:cut], add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(full[cut:], add_special_tokens=False)["input_ids"]
    else:
        prompt_ids = tokenizer(prompt + "\n" if prompt else "", add_special_tokens=True)["input_ids"]
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return list(prompt_ids), list(completion_ids)


def _common_prefix_length(a: str, b: str) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def encode(tokenizer: Any, prompt: str, completion: str, max_length: int) -> Encoded:
    """The model input for one (prompt, completion) pair: `split_pair`, then `truncate`."""
    return truncate(*split_pair(tokenizer, prompt, completion), max_length)


@dataclass
class ScoringModel:
    """A loaded reward model: the sequence-classification model, its tokenizer, device and context."""

    model: Any
    tokenizer: Any
    device: str
    context: int

    def score(self, encoded: Sequence[Encoded], batch_size: int) -> list[float]:
        """One scalar per pair: the model's logit at the last token, in batches of `batch_size`.

        Pairs are batched by length (less padding) and right-padded, so a pair scores the same alone
        or in a batch; the scores come back in input order.
        """
        import torch

        pad = self.model.config.pad_token_id
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        scores = [0.0] * len(encoded)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                input_ids, mask = pad_batch([encoded[i].ids for i in chunk], pad)
                logits = self.model(
                    input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)
                ).logits
                for i, value in zip(chunk, logits[:, 0].float().tolist()):
                    scores[i] = value
        return scores


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """Right-padded input ids and attention mask (long tensors) of `sequences`."""
    import torch

    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[row, : len(ids)] = 1
    return input_ids, mask


def load_tokenizer(path: Path) -> Any:
    """The tokenizer saved in `path`; a `tokenizer.json` loads as trained (no class re-splitting numbers)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if (path / "tokenizer.json").exists():
        return PreTrainedTokenizerFast.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def model_context(model: Any, tokenizer: Any) -> int:
    """The longest input the model takes: the smaller of the config's and the tokenizer's limits."""
    limits = [
        getattr(model.config, "max_position_embeddings", None),
        getattr(tokenizer, "model_max_length", None),
    ]
    usable = [int(n) for n in limits if isinstance(n, int) and 0 < n < 10**7]
    return min(usable) if usable else FALLBACK_CONTEXT


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No load reports or progress bars from transformers inside the block (a score head that is
    missing is checked, not printed)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def load_scoring_model(model_dir: str, device: str, dtype: str) -> ScoringModel:
    """Load a reward-model dir for scoring; InvalidRequest saying why when it is not one."""
    try:
        import torch
        from transformers import AutoModelForSequenceClassification
    except ImportError as exc:
        raise ModelUnavailable(
            f"{NAME} needs torch and transformers on the server ({exc}); install them: pip install 'rlvr[train]'"
        ) from None
    path = Path(model_dir)
    if not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "has no config.json"
        raise InvalidRequest(
            f"{NAME}: model dir {model_dir!r} {what}; pass a local Hugging Face reward-model dir"
        )
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidRequest(
            f"{NAME}: device {device!r} asked, but this server sees no CUDA device; use 'cpu'"
        )
    try:
        with quiet_transformers():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path, dtype=getattr(torch, dtype), output_loading_info=True
            )
            tokenizer = load_tokenizer(path)
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidRequest(
            f"{NAME}: cannot load a sequence-classification model from {model_dir!r}: {exc}"
        ) from None
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        raise InvalidRequest(
            f"{NAME}: {model_dir!r} has no trained sequence-classification head ({', '.join(missing[:4])} "
            "missing from the checkpoint; a causal LM or base model dir?): train one with "
            f"`rlvr rm train PAIRS.jsonl --model {model_dir} --output DIR`, or pass a reward-model dir"
        )
    if model.config.num_labels != 1:
        raise InvalidRequest(
            f"{NAME}: {model_dir!r} has {model.config.num_labels} output labels; a reward model has one"
        )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
    model.to(device).eval()
    return ScoringModel(model, tokenizer, device, model_context(model, tokenizer))


class ModelCache:
    """Loaded models by (dir, device, dtype, weights' change time): loaded once, the least recent dropped.

    A dir rewritten in place (a new training run) is loaded again; a dir that fails to load is not cached.
    """

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._models: OrderedDict[tuple, ScoringModel] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, model_dir: str, device: str, dtype: str) -> ScoringModel:
        key = (*_identity(model_dir), device, dtype)
        with self._lock:  # one load at a time: two threads must not load the same model twice
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            model = load_scoring_model(model_dir, device, dtype)
            self.loads += 1
            self._models[key] = model
            while len(self._models) > self.size:
                self._models.popitem(last=False)
            return model


def _identity(model_dir: str) -> tuple[str, int]:
    path = Path(model_dir).resolve()
    stamps = [p.stat().st_mtime_ns for p in path.glob("*.safetensors")] + [
        p.stat().st_mtime_ns for p in path.glob("config.json")
    ]
    return str(path), max(stamps, default=0)


class RunningStats:
    """Mean and standard deviation of every score seen (Welford's algorithm), thread-safe."""

    def __init__(self) -> None:
        self.count, self.mean, self._m2 = 0, 0.0, 0.0
        self._lock = threading.Lock()

    def update(self, values: Sequence[float]) -> tuple[float, float, int]:
        """Add `values`; return (mean, std, count) including them."""
        with self._lock:
            for value in values:
                self.count += 1
                delta = value - self.mean
                self.mean += delta / self.count
                self._m2 += delta * (value - self.mean)
            return self.mean, math.sqrt(self._m2 / self.count) if self.count else 0.0, self.count


@dataclass(frozen=True)
class RewardModelOptions:
    """The options of one request (see `RewardModel`)."""

    model: str
    device: str
    dtype: str
    batch_size: int
    max_length: int | None
    normalize: str
    mean: float
    std: float
    threshold: float | None

    @classmethod
    def parse(cls, options: Options) -> RewardModelOptions:
        def option(key: str, kind: type, default: Any, **kw: Any) -> Any:
            return get_option(options, key, kind, default, owner=NAME, **kw)

        model = get_option(options, "model", str, owner=NAME)
        device = option("device", str, "auto")
        if device == "auto":
            device = _auto_device()
        elif device != "cpu" and not device.startswith("cuda"):
            raise InvalidRequest(f"{NAME}: option 'device' must be auto, cpu, cuda or cuda:N, got {device!r}")
        parsed = cls(
            model=model,
            device=device,
            dtype=option("dtype", str, "float32", choices=DTYPES),
            batch_size=option("batch_size", int, 8),
            max_length=option("max_length", int, None),
            normalize=option("normalize", str, "none", choices=NORMALIZATIONS),
            mean=option("mean", float, 0.0),
            std=option("std", float, 1.0),
            threshold=option("threshold", float, None),
        )
        if parsed.batch_size < 1:
            raise InvalidRequest(f"{NAME}: option 'batch_size' must be >= 1, got {parsed.batch_size}")
        if parsed.std <= 0:
            raise InvalidRequest(f"{NAME}: option 'std' must be > 0, got {parsed.std:g}")
        return parsed


def _auto_device() -> str:
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


@register
class RewardModel(BatchVerifier):
    """A learned reward model's score of (prompt, completion), e.g. a Bradley–Terry model from `rlvr rm train`.

    Options: `model` (required: a local dir holding an `AutoModelForSequenceClassification` with one
    label and its tokenizer), `device` ("auto": cuda when available, else cpu), `dtype` (float32,
    bfloat16, float16), `batch_size` (pairs per forward pass, default 8), `max_length` (tokens,
    default the model's context; longer pairs are truncated as the module docstring says),
    `normalize`: "none" (reward = score), "running" ((score − μ)/σ over every score this process saw
    from the model, this batch included; 0 until two distinct scores are seen) or "fixed"
    ((score − `mean`)/`std`), and `threshold` (reward ≥ threshold → CORRECT, else INCORRECT; without
    it the status is PARTIAL: a graded score, not a verdict).
    Components: `score` (the raw logit) and `truncated` (1 when the pair was cut to fit).
    A dir that is not a reward model (no config, no trained classification head, several labels) is
    answered INVALID_REQUEST saying so; a server without torch answers ERROR.
    """

    name = NAME
    version = "1"
    description = "learned reward model: a local HF sequence-classification dir scores (prompt, completion)"
    lane = "model"

    def __init__(self) -> None:
        self.models = ModelCache()
        self._stats: dict[tuple, RunningStats] = {}
        self._stats_lock = threading.Lock()

    def check_batch(self, requests: Sequence[pb.VerifyRequest], options: Sequence[Options]) -> list[Outcome]:
        outcomes: list[Outcome] = [Outcome.invalid("")] * len(requests)
        groups: dict[RewardModelOptions, list[int]] = {}
        for index, opts in enumerate(options):
            if not requests[index].prompt and not requests[index].response:
                outcomes[index] = Outcome.invalid(
                    f"{NAME}: prompt and response are both empty: nothing to score"
                )
                continue
            try:
                groups.setdefault(RewardModelOptions.parse(opts), []).append(index)
            except InvalidRequest as exc:
                outcomes[index] = Outcome.invalid(str(exc))
        for opts, members in groups.items():
            try:
                scored = self._score([requests[i] for i in members], opts)
            except InvalidRequest as exc:
                scored = [Outcome.invalid(str(exc))] * len(members)
            except ModelUnavailable as exc:
                scored = [Outcome.error(str(exc))] * len(members)
            for index, outcome in zip(members, scored):
                outcomes[index] = outcome
        return outcomes

    def _score(self, requests: Sequence[pb.VerifyRequest], opts: RewardModelOptions) -> list[Outcome]:
        """Outcomes of requests sharing one set of options: encode, score in batches, normalise, decide."""
        model = self.models.get(opts.model, opts.device, opts.dtype)
        max_length = opts.max_length or model.context
        if max_length > model.context:
            raise InvalidRequest(
                f"{NAME}: option 'max_length' {max_length} exceeds the model's context of {model.context} tokens"
            )
        encoded = [encode(model.tokenizer, r.prompt, r.response, max_length) for r in requests]
        scores = model.score(encoded, opts.batch_size)
        mean, std, how = opts.mean, opts.std, "fixed"
        if opts.normalize == "running":
            mean, std, count = self._running_stats(opts).update(scores)
            how = f"running over {count}"
        outcomes = []
        for enc, score in zip(encoded, scores):
            if opts.normalize == "none":
                reward, text = score, f"score {score:.4g}"
            else:
                reward = (score - mean) / std if std > 0 else 0.0
                text = (
                    f"score {score:.4g}, normalised ({how}: mean {mean:.4g}, std {std:.4g}) to {reward:.4g}"
                )
            if opts.threshold is None:
                status = PARTIAL
            else:
                status = CORRECT if reward >= opts.threshold else INCORRECT
                text += f" {'≥' if status == CORRECT else '<'} threshold {opts.threshold:g}"
            if enc.truncated:
                text += "; " + enc.note()
            components = {"score": score, "truncated": float(enc.truncated)}
            outcomes.append(Outcome(reward, status, text, components))
        return outcomes

    def _running_stats(self, opts: RewardModelOptions) -> RunningStats:
        key = (*_identity(opts.model), opts.device, opts.dtype)
        with self._stats_lock:
            return self._stats.setdefault(key, RunningStats())
