"""Reward specs of the envs and the system prompts that ask for the matching output format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from rlvr.errors import RlvrError
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest

RewardSpecLike: TypeAlias = "pb.RewardSpec | Mapping[str, Any] | str | Any"  # also specs.Spec and spec files

#: DeepSeek-R1's instruction: reason inside <think>, answer inside <answer>.
R1_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
    "<answer> answer here </answer>."
)

#: The R1 instruction for programming tasks: reasoning in <think>, then one fenced program.
CODE_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user gives a programming task, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process inside <think> </think> tags, "
    "then writes the complete program in a single ```python code block."
)


#: The math term's options in the default specs: the answer must be marked (<answer>, \boxed{}, "final
#: answer is", ####); the last-expression fallback is off, so a completion that merely restates the
#: prompt (whose last expression is often the question's own formula) never scores.
MATH_ACCURACY_OPTIONS: dict[str, Any] = {"allow_last_expression": False}


class RewardSpecError(RlvrError, ValueError):
    """A `reward_spec` env argument that is not a RewardSpec, its dict form, or a spec name."""

    def __init__(self, value: object, reason: str):
        super().__init__(
            f"bad reward_spec {value!r:.200}: {reason}. Pass a rlvr.RewardSpec, its dict form "
            "({'name': .., 'terms': [{'name': 'accuracy', 'verifier': 'math', 'weight': 1.0}]}), "
            "a spec file, or the name of a registered spec such as 'r1_math'"
        )
        self.value = value


def default_spec(
    name: str,
    accuracy: str,
    *,
    accuracy_options: Mapping[str, Any] | None = None,
    format_weight: float = 0.0,
    format_options: Mapping[str, Any] | None = None,
) -> pb.RewardSpec:
    """The default spec of an env: `accuracy` verifier with weight 1, plus an optional format term.

    A math accuracy term gets `MATH_ACCURACY_OPTIONS` unless `accuracy_options` are given.
    With `format_weight > 0`, a `format` term (DeepSeek-R1 template unless `format_options` say
    otherwise) is added, so a correct answer in the template earns `1 + format_weight`.
    """
    spec = pb.RewardSpec(name=name)
    term = spec.terms.add(name="accuracy", verifier=accuracy, weight=1.0)
    if accuracy_options is None and accuracy == "math":
        accuracy_options = MATH_ACCURACY_OPTIONS
    if accuracy_options:
        term.options.update(dict(accuracy_options))
    if format_weight:
        fmt = spec.terms.add(name="format", verifier="format", weight=float(format_weight))
        if format_options:
            fmt.options.update(dict(format_options))
    return spec


def resolve_spec(spec: RewardSpecLike) -> pb.RewardSpec:
    """A spec argument as the validated message sent inline in every request.

    Accepts a `pb.RewardSpec`, its dict form, a `specs.Spec`, JSON/YAML text or file, or the name of a
    registered spec (e.g. "r1_math"); names are inlined so a remote server gets the same terms.
    """
    from rlvr.verifier_server.engine.specs import load_spec

    try:
        return load_spec(spec, check_verifiers=False)  # type: ignore[arg-type]
    except InvalidRequest as exc:
        raise RewardSpecError(spec, str(exc)) from None
