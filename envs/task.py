"""`Task`: one prompt with what the verifier needs to score a completion for it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from google.protobuf import json_format

from rlvr.verifier.v1 import verifier_pb2 as pb

TestLike: TypeAlias = "pb.TestCase | Mapping[str, Any]"


def to_test(test: TestLike) -> pb.TestCase:
    """A TestCase from a message or its proto-JSON dict (`{"stdio": {"input": .., "output": ..}}`)."""
    if isinstance(test, pb.TestCase):
        return test
    return json_format.ParseDict(dict(test), pb.TestCase())


def content_id(prefix: str, *parts: str) -> str:
    """A stable task id: `prefix` plus a short hash of the task's defining text."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:12]
    return f"{prefix}-{digest}"


@dataclass(frozen=True, eq=False)
class Task:
    """One task: the user-facing `prompt` and the hidden material the verifier scores against.

    `ground_truth` is the reference answer (math); `tests` and `language` are for code; `options`
    are per-request verifier options (e.g. how to extract the answer). `difficulty` is the level the
    task was drawn at (1 when unknown). `metadata` holds source-specific data (the generator's
    parameters, the dataset row's fields) that never reaches the model.
    """

    id: str
    prompt: str
    ground_truth: str = ""
    tests: tuple[pb.TestCase, ...] = ()
    language: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    difficulty: int = 1
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, id: str, prompt: str, *, tests: Sequence[TestLike] = (), **kwargs: Any) -> Task:
        """Build a task, accepting tests in dict form."""
        return cls(id, prompt, tests=tuple(to_test(t) for t in tests), **kwargs)

    # The last template built, keyed by the spec's bytes: the members of a GRPO group reuse the one
    # their leader built (one entry only, so a large dataset does not hold a copy of every task's tests).
    _last_template: list[tuple[bytes, pb.VerifyRequest]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def request_template(self, spec: pb.RewardSpec) -> pb.VerifyRequest:
        """A VerifyRequest for this task with everything but `id`, `response` and `group_id` filled in."""
        key = spec.SerializeToString(deterministic=True)
        if self._last_template and self._last_template[0][0] == key:
            request = pb.VerifyRequest()
            request.CopyFrom(self._last_template[0][1])
            return request
        request = self._build_template(spec)
        self._last_template[:] = [(key, request)]
        copy = pb.VerifyRequest()
        copy.CopyFrom(request)
        return copy

    def _build_template(self, spec: pb.RewardSpec) -> pb.VerifyRequest:
        request = pb.VerifyRequest(
            ground_truth=self.ground_truth,
            language=self.language,
            prompt=self.prompt,
        )
        request.tests.extend(self.tests)
        if self.options:
            request.options.update(dict(self.options))
        request.reward_spec.CopyFrom(spec)
        return request

    def revealed_answer(self) -> str | list[dict[str, Any]]:
        """What `info["ground_truth"]` shows once an episode ends: the answer, or the tests as dicts."""
        if self.ground_truth or not self.tests:
            return self.ground_truth
        return [json_format.MessageToDict(t) for t in self.tests]
