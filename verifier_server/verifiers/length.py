"""Length shaping: Kimi k1.5 group length reward, DAPO soft overlong punishment, cosine length scaling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import CORRECT, INCORRECT, PARTIAL, Outcome
from rlvr.verifier_server.engine.registry import GroupVerifier, Options, Verifier, register
from rlvr.verifier_server.engine.specs import get_option

UNITS = ("auto", "tokens", "chars", "words")


def resolve_unit(requests: Sequence[pb.VerifyRequest], unit: str) -> str:
    """The concrete unit for a set of requests: "auto" means tokens when every one carries
    `response_tokens`, else characters (one unit for the whole set, so lengths stay comparable)."""
    if unit != "auto":
        return unit
    return "tokens" if all(r.response_tokens > 0 for r in requests) else "chars"


def response_length(request: pb.VerifyRequest, unit: str) -> int:
    """Length of the completion in `unit` ("tokens", "chars" = code points, "words" = whitespace-split).

    Raises InvalidRequest for "tokens" when a non-empty response carries no `response_tokens`.
    """
    if unit == "tokens":
        if request.response_tokens <= 0 and request.response:
            raise InvalidRequest(
                "length unit 'tokens' needs request.response_tokens (the completion's token count); "
                "send it, or set option unit to 'chars' or 'words'"
            )
        return max(0, request.response_tokens)
    if unit == "chars":
        return len(request.response)
    if unit == "words":
        return len(request.response.split())
    raise InvalidRequest(f"unknown length unit {unit!r}; use one of {', '.join(UNITS)}")


def kimi_lambdas(lengths: Sequence[float]) -> list[float]:
    """Kimi k1.5: λ_i = 0.5 − (len_i − min_len)/(max_len − min_len) over one prompt's group.

    The shortest response gets 0.5, the longest −0.5; λ = 0 for all when every length is equal
    (the paper leaves 0/0 undefined; no length signal is the neutral choice).
    """
    shortest, longest = min(lengths), max(lengths)
    if longest == shortest:
        return [0.0] * len(lengths)
    return [0.5 - (length - shortest) / (longest - shortest) for length in lengths]


def kimi_length_reward(lam: float, correct: bool) -> float:
    """Kimi k1.5: λ for a correct answer, min(0, λ) for an incorrect one (never rewards short wrong ones)."""
    return lam if correct else min(0.0, lam)


def overlong_penalty(length: float, max_length: float, buffer: float) -> float:
    """DAPO soft overlong punishment: 0 up to max−buffer, linear to −1 inside the buffer, −1 beyond max."""
    expected = max_length - buffer
    if length <= expected:
        return 0.0
    if length <= max_length:
        return (expected - length) / buffer
    return -1.0


def cosine_schedule(length: float, max_length: float, at_zero: float, at_max: float) -> float:
    """Yeo et al. 2025 CosFn: `at_zero` at length 0, `at_max` at `max_length`, half a cosine between.

    r(L) = at_max + ½·(at_zero − at_max)·(1 + cos(π·L/L_max)).
    """
    return at_max + 0.5 * (at_zero - at_max) * (1.0 + math.cos(math.pi * length / max_length))


def _unit_option(options: Options, owner: str) -> str:
    return get_option(options, "unit", str, "auto", owner=owner, choices=UNITS)


def _max_length_option(options: Options, owner: str) -> float:
    max_length = get_option(options, "max_length", float, owner=owner)
    if max_length <= 0:
        raise InvalidRequest(f"{owner}: option 'max_length' must be > 0, got {max_length:g}")
    return max_length


@register
class Overlong(Verifier):
    """DAPO soft overlong punishment (Yu et al. 2025, "Overlong Reward Shaping"), a reward in [−1, 0].

    Options: `max_length` (required, in `unit`), `buffer` (DAPO's L_cache; default 20 % of
    max_length, DAPO's 4096 of 20480), `unit` ("auto" | "tokens" | "chars" | "words").
    Status: CORRECT within max−buffer, PARTIAL inside the buffer, INCORRECT beyond max_length.
    """

    name = "overlong"
    description = "DAPO soft overlong punishment: 0, then linear to -1 in the buffer before max_length"

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        max_length = _max_length_option(options, self.name)
        buffer = get_option(options, "buffer", float, 0.2 * max_length, owner=self.name)
        if not 0 <= buffer <= max_length:
            raise InvalidRequest(f"overlong: option 'buffer' must be in [0, max_length], got {buffer:g}")
        unit = resolve_unit([request], _unit_option(options, self.name))
        length = response_length(request, unit)
        if length > max_length:
            return Outcome(-1.0, INCORRECT, f"{length} {unit} > max_length {max_length:g}: −1")
        if buffer == 0 or length <= max_length - buffer:
            return Outcome(0.0, CORRECT, f"{length} {unit} ≤ {max_length - buffer:g}: no penalty")
        reward = overlong_penalty(length, max_length, buffer)
        return Outcome(reward, PARTIAL, f"{length} {unit} in the last {buffer:g} before {max_length:g}")


class _CorrectnessShaping(GroupVerifier):
    """A length reward that needs each completion's correctness, which the core only hands to group
    verifiers (from the spec's accuracy term). Such a verifier cannot stand alone."""

    needs_correctness: ClassVar[bool] = True

    def _unknown(self) -> Outcome:
        return Outcome.invalid(
            f"{self.name}: correctness unknown; use it in a reward spec with an accuracy term "
            "(e.g. math, named by accuracy_term) that decided this response"
        )

    def _group_unit(self, requests: Sequence[pb.VerifyRequest], options: Sequence[Options]) -> str:
        units = {_unit_option(o, self.name) for o in options}
        if len(units) > 1:
            raise InvalidRequest(f"{self.name}: one group mixes length units {sorted(units)}; use one")
        return resolve_unit(requests, units.pop())


@register
class KimiLength(_CorrectnessShaping):
    """Kimi k1.5 group length reward (Kimi Team 2025, "Length Penalty"), in [−0.5, 0.5].

    Within one group (same `group_id`): λ = 0.5 − (len − min)/(max − min); reward λ for a correct
    completion and min(0, λ) for an incorrect one; λ = 0 when all lengths are equal (a group of
    one included). Option `unit`. A completion whose correctness is unknown (no accuracy term, or
    it timed out) is answered INVALID_REQUEST; its length still counts in the group's min and max.
    """

    name = "kimi_length"
    description = "Kimi k1.5 group length reward: 0.5 - (len-min)/(max-min), min(0, .) when incorrect"

    def check_group(
        self,
        requests: Sequence[pb.VerifyRequest],
        options: Sequence[Options],
        correct: Sequence[bool | None],
    ) -> list[Outcome]:
        unit = self._group_unit(requests, options)
        lengths = [response_length(r, unit) for r in requests]
        lambdas = kimi_lambdas(lengths)
        span = f"group of {len(lengths)}, {min(lengths)}–{max(lengths)} {unit}"
        outcomes = []
        for length, lam, ok in zip(lengths, lambdas, correct):
            if ok is None:
                outcomes.append(self._unknown())
                continue
            reward = kimi_length_reward(lam, ok)
            rule = "λ (correct)" if ok else "min(0, λ) (incorrect)"
            outcomes.append(
                Outcome(reward, CORRECT if ok else INCORRECT, f"{length} {unit}, {span}: λ={lam:.3f}, {rule}")
            )
        return outcomes


@register
class CosineLength(_CorrectnessShaping):
    """Cosine length scaling (Yeo et al. 2025, "Demystifying Long Chain-of-Thought Reasoning in LLMs").

    reward = CosFn(len, max_length, correct_at_zero, correct_at_max) for a correct completion,
    CosFn(len, max_length, wrong_at_zero, wrong_at_max) for an incorrect one, `exceed` when
    len ≥ max_length (the completion hit the limit: it was cut off). Defaults are the paper's
    (2, 1, −10, 0, −10): short correct answers earn most, short wrong ones are punished hardest.
    Options: `max_length` (required), `unit`, and those five values. Per-completion, but a group
    verifier because only group verifiers receive correctness.
    """

    name = "cosine_length"
    description = "Yeo et al. 2025 cosine length scaling by correctness, with an exceed-length penalty"
    _VALUES: ClassVar[dict[str, float]] = {
        "correct_at_zero": 2.0,
        "correct_at_max": 1.0,
        "wrong_at_zero": -10.0,
        "wrong_at_max": 0.0,
        "exceed": -10.0,
    }

    def check_group(
        self,
        requests: Sequence[pb.VerifyRequest],
        options: Sequence[Options],
        correct: Sequence[bool | None],
    ) -> list[Outcome]:
        outcomes = []
        for request, opts, ok in zip(requests, options, correct):
            try:  # each completion stands alone: one bad request must not void the group
                outcomes.append(self._one(request, opts, ok))
            except InvalidRequest as exc:
                outcomes.append(Outcome.invalid(str(exc)))
        return outcomes

    def _one(self, request: pb.VerifyRequest, options: Options, correct: bool | None) -> Outcome:
        max_length = _max_length_option(options, self.name)
        values: dict[str, float] = {
            key: get_option(options, key, float, default, owner=self.name)
            for key, default in self._VALUES.items()
        }
        unit = resolve_unit([request], _unit_option(options, self.name))
        length = response_length(request, unit)
        if correct is None:
            return self._unknown()
        status = CORRECT if correct else INCORRECT
        if length >= max_length:
            return Outcome(values["exceed"], status, f"{length} {unit} ≥ max_length {max_length:g}: exceed")
        prefix = "correct" if correct else "wrong"
        reward = cosine_schedule(length, max_length, values[f"{prefix}_at_zero"], values[f"{prefix}_at_max"])
        return Outcome(reward, status, f"{prefix}, {length}/{max_length:g} {unit}: cosine {reward:.3f}")
