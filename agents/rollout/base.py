"""The rollout backend interface: prompts as token ids in, sampled completions with logprobs out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one completion per prompt.

    `temperature=0` is greedy decoding. `top_p` < 1 or `top_k` > 0 truncate the distribution; the
    returned logprobs are then those of the truncated, renormalised sampler (ALGORITHMS.md pitfall 7:
    they differ from the trainer's, so keep both off for on-policy training unless IS correction is on).
    """

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={self.max_new_tokens}: pass at least 1")
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature}: pass 0 (greedy) or a positive value")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p}: pass a value in (0, 1]")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Generation:
    """One sampled completion.

    `token_ids` run through the first EOS inclusive (the EOS stays: the model must learn to stop);
    `logprobs[t]` is the sampler's log-probability of `token_ids[t]` after temperature (and top-p /
    top-k); `finish_reason` is "stop" when an EOS ended it, "length" when `max_new_tokens` did.
    """

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: FinishReason

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@runtime_checkable
class RolloutBackend(Protocol):
    """Samples completions for batches of tokenised prompts.

    `generate` returns one `Generation` per prompt, in order. `sync_weights(model)` makes the backend
    sample from `model`'s current weights (a no-op when the backend samples from the training model
    itself, as `hf` does).
    """

    name: str

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]: ...

    def sync_weights(self, model: Any) -> None: ...


def cut_at_eos(token_ids: Sequence[int], logprobs: Sequence[float], eos_ids: set[int]) -> Generation:
    """The completion through its first EOS (inclusive), or all of it with finish reason "length".

    Positions after the first EOS are padding whatever their id, so a pad id equal to the EOS id
    cannot drop the EOS (ALGORITHMS.md pitfall 6).
    """
    for position, token in enumerate(token_ids):
        if token in eos_ids:
            end = position + 1
            return Generation(list(token_ids[:end]), [float(x) for x in logprobs[:end]], "stop")
    return Generation(list(token_ids), [float(x) for x in logprobs], "length")
