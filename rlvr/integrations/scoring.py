"""`RewardScorer`: trainer rows (completion + ground truth + data source) to one `verify_batch` call."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlvr.envs.client import GRPC_SCHEME, RemoteVerifier, VerifierClient, make_verifier
from rlvr.envs.rewards import resolve_spec
from rlvr.envs.task import TestLike, to_test
from rlvr.errors import RlvrError
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine import registry
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import UNKNOWN_STATUSES

logger = logging.getLogger("rlvr.integrations")

# Load the built-in verifiers now, under the import lock: trainers call reward functions from many
# threads at once (verl's naive manager, OpenRLHF's asyncio.to_thread), and the registry's lazy first
# load is not thread-safe (a second thread can see it marked loaded while still empty).
registry.list_verifiers()

#: Verifiers that cannot score without a reference: math needs `ground_truth`, code needs `tests`.
_NEEDS_ANSWER = {"math": "ground_truth", "code": "tests"}


class MissingGroundTruth(RlvrError, ValueError):
    """A row's reward needs a reference (a math answer, code tests) and the row has none."""


class UnknownDataSource(RlvrError, ValueError):
    """A row's `data_source` has no reward spec in the adapter's `specs` map."""

    def __init__(self, data_source: str, known: Sequence[str]):
        super().__init__(
            f"no reward spec for data_source {data_source!r}; the adapter knows {sorted(known)}. "
            "Add it to specs={...}, or pass specs={'*': spec} for a default"
        )
        self.data_source = data_source


class VerifierUnavailable(RlvrError, ConnectionError):
    """The reward service could not be reached; rewards are unknown (never zero)."""

    def __init__(self, target: str, cause: BaseException):
        super().__init__(
            f"rlvr verifier at {target} failed ({_rpc_code(cause)}: {_rpc_details(cause)}). "
            "Start it with `rlvr serve --port PORT` (list replicas as grpc://h1:p,h2:p), give its token "
            "(client_options={'token': ...} or RLVR_TOKEN), or pass verifier=None to score in this process"
        )
        self.target = target


class CompletionFormatError(RlvrError, TypeError):
    """A trainer passed a completion that is neither text nor chat messages with assistant content."""

    def __init__(self, value: object):
        super().__init__(
            f"a completion must be text or a list of chat messages ending in an assistant message, "
            f"got {type(value).__name__}: {value!r:.120}"
        )
        self.value = value


def _rpc_code(error: BaseException) -> str:
    code = getattr(error, "code", None)
    if callable(code):
        try:
            return str(getattr(code(), "name", code()))
        except Exception:  # a non-call RpcError has no code
            pass
    return error.__class__.__name__


def _rpc_details(error: BaseException) -> str:
    details = getattr(error, "details", None)
    if callable(details):
        try:
            return str(details())
        except Exception:  # a non-call RpcError has no details
            pass
    return str(error)


def completion_text(completion: Any) -> str:
    """The text to verify: a string as is; for chat messages (TRL's conversational format) the content
    of the last assistant message, text blocks joined. Raises CompletionFormatError otherwise."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    if isinstance(completion, Sequence) and completion and all(isinstance(m, Mapping) for m in completion):
        for message in reversed(completion):
            if message.get("role", "assistant") == "assistant":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, Sequence):
                    texts = [
                        b.get("text", "")
                        for b in content
                        if isinstance(b, Mapping) and b.get("type") == "text"
                    ]
                    return "".join(texts)
                if content is None:
                    return ""
        raise CompletionFormatError(completion)
    raise CompletionFormatError(completion)


def prompt_text(prompt: Any) -> str:
    """A prompt as text for `VerifyRequest.prompt`: chat prompts give their last user message."""
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        for message in reversed(prompt):
            if isinstance(message, Mapping) and message.get("role") == "user":
                content = message.get("content")
                return content if isinstance(content, str) else ""
    return ""


def object_or_text(value: Any) -> Any:
    """A reference that may be a JSON object (`{"ground_truth": .., "tests": ..}`) or answer text that
    merely looks like JSON (`{1, 2}`, `[0, 1)`, `[1, 2]`): only a JSON object is parsed."""
    if isinstance(value, (str, bytes)) and value.strip()[:1] == "{":
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


def loads_field(value: Any, what: str) -> Any:
    """A structured column (tests, options, reward spec) stored as JSON text or already parsed."""
    if isinstance(value, (str, bytes)) and value and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise InvalidRequest(f"{what} is not valid JSON: {exc}: {value!r:.120}") from None
    return value


@dataclass
class Sample:
    """One completion to score and what its reward needs, in rlvr's words.

    `spec` is the row's own reward spec (a name, dict or JSON text, e.g. an env dataset's
    `reward_spec` column); it is used when the adapter was given neither `spec` nor a `specs` entry.
    """

    completion: str
    ground_truth: str = ""
    tests: Sequence[TestLike] = ()
    language: str = ""
    options: Mapping[str, Any] | None = None
    data_source: str = ""
    prompt: str = ""
    response_tokens: int | None = None
    group_id: str = ""
    spec: Any = None
    id: str = ""


@dataclass
class RewardScorer:
    """Scores `Sample`s with one `verify_batch` per call, the same numbers as `rlvr verify`.

    Which reward spec a sample gets: `spec` when given (every sample); else `specs[sample.data_source]`
    (`specs["*"]` as a default); else the sample's own `spec`; else the registered spec named by
    its `data_source` (e.g. "r1_math"; a verifier name such as "math" is a one-term spec); else
    UnknownDataSource. `verifier`:
    None (in this process), "grpc://host:port" or "grpc://h1:p,h2:p" (a running `rlvr serve`, replicas
    round-robin), or any object with `verify_batch(requests)`. `verifier_options` are request options
    every term sees (length budgets, timeouts). `client_options` go to the gRPC `Client` (`token`,
    `tls`, `timeout`...); the token defaults to the `RLVR_TOKEN` environment variable.

    Failure is never a zero: a row whose reward needs a reference it lacks raises MissingGroundTruth;
    an unreachable server raises VerifierUnavailable; a batch answered INVALID_REQUEST throughout
    raises InvalidRequest (a misconfigured spec). Single TIMEOUT / ERROR / INVALID_REQUEST answers are
    returned as they are; each adapter maps them to its trainer's "unknown" (`is_unscorable`).
    """

    spec: Any = None
    specs: Mapping[str, Any] | None = None
    verifier: Any = None
    verifier_options: Mapping[str, Any] | None = None
    client_options: Mapping[str, Any] | None = None
    _spec: pb.RewardSpec | None = field(init=False, default=None, repr=False)
    _specs: dict[str, pb.RewardSpec] = field(init=False, default_factory=dict, repr=False)
    _row_specs: dict[str, pb.RewardSpec] = field(init=False, default_factory=dict, repr=False)
    _named_specs: dict[str, pb.RewardSpec] = field(init=False, default_factory=dict, repr=False)
    _client: VerifierClient = field(init=False, repr=False)
    _warned: set[str] = field(init=False, default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._spec = _resolve(self.spec) if self.spec is not None else None
        self._specs = {name: _resolve(s) for name, s in (self.specs or {}).items()}
        options = dict(self.client_options or {})
        if os.environ.get("RLVR_TOKEN") and "token" not in options:
            options["token"] = os.environ["RLVR_TOKEN"]
        if isinstance(self.verifier, str) and self.verifier.startswith(GRPC_SCHEME) and options:
            self._client = RemoteVerifier(self.verifier[len(GRPC_SCHEME) :], **options)
        else:
            self._client = make_verifier(self.verifier)

    @property
    def target(self) -> str:
        """Where requests go: "in-process" or the server address."""
        return getattr(self._client, "target", None) or "in-process"

    def spec_for(self, sample: Sample) -> pb.RewardSpec:
        """The reward spec of `sample` (see the class docstring for the order)."""
        if self._spec is not None:
            return self._spec
        if self._specs:
            found = self._specs.get(sample.data_source) or self._specs.get("*")
            if found is not None:
                return found
            if sample.spec is None:
                raise UnknownDataSource(sample.data_source, list(self._specs))
        if sample.spec is None or sample.spec == "":
            named = self._named_specs.get(sample.data_source) or _registered_spec(sample.data_source)
            if named is not None:
                self._named_specs[sample.data_source] = named
            else:
                raise UnknownDataSource(sample.data_source, list(self._specs))
            return named
        key = sample.spec if isinstance(sample.spec, str) else json.dumps(sample.spec, sort_keys=True)
        cached = self._row_specs.get(key)
        if cached is None:
            cached = self._row_specs[key] = resolve_spec(loads_field(sample.spec, "reward_spec"))
        return cached

    def request(self, sample: Sample, index: int = 0) -> pb.VerifyRequest:
        """The VerifyRequest for one sample; raises MissingGroundTruth / UnknownDataSource."""
        spec = self.spec_for(sample)
        tests = loads_field(sample.tests, "tests") or ()
        for term in spec.terms:
            needed = _NEEDS_ANSWER.get(term.verifier)
            if needed == "ground_truth" and not str(sample.ground_truth or "").strip():
                raise MissingGroundTruth(
                    f"row {index} (data_source {sample.data_source!r}) has no ground truth, and its reward "
                    f"term {term.name or term.verifier!r} ({term.verifier}) needs one"
                )
            if needed == "tests" and not tests:
                raise MissingGroundTruth(
                    f"row {index} (data_source {sample.data_source!r}) has no tests, and its reward "
                    f"term {term.name or term.verifier!r} (code) needs them"
                )
        request = pb.VerifyRequest(
            id=sample.id or str(index),
            response=sample.completion,
            ground_truth=str(sample.ground_truth or ""),
            language=sample.language or "",
            prompt=sample.prompt or "",
            group_id=sample.group_id or "",
        )
        request.reward_spec.CopyFrom(spec)
        if tests:
            request.tests.extend(to_test(t) for t in tests)
        options = dict(self.verifier_options or {})
        options.update(loads_field(sample.options, "options") or {})
        if options:
            request.options.update(options)
        if sample.response_tokens is not None:
            request.response_tokens = int(sample.response_tokens)
        return request

    def score(self, samples: Sequence[Sample]) -> list[pb.VerifyResponse]:
        """One VerifyResponse per sample, in order (see the class docstring for what raises)."""
        requests = [self.request(sample, i) for i, sample in enumerate(samples)]
        return self.verify_requests(requests)

    def verify_requests(self, requests: Sequence[pb.VerifyRequest]) -> list[pb.VerifyResponse]:
        """Send ready-made requests through this scorer's client, with its failure rules."""
        if not requests:
            return []
        import grpc

        try:
            responses = list(self._client.verify_batch(list(requests)))
        except grpc.RpcError as exc:
            raise VerifierUnavailable(self.target, exc) from exc
        if all(r.status == pb.INVALID_REQUEST for r in responses):
            raise InvalidRequest(
                f"every request was answered INVALID_REQUEST, e.g. {responses[0].message!r}: "
                "check the reward spec and the verifier options"
            )
        for response in responses:
            unknown = response.status in UNKNOWN_STATUSES
            if unknown and response.message not in self._warned and len(self._warned) < 32:
                self._warned.add(response.message)
                logger.warning(
                    "rlvr: reward unknown (%s): %s", pb.Status.Name(response.status), response.message
                )
        return responses

    def term_names(self) -> list[str]:
        """Names of the terms of the fixed spec(s), for logging columns that are the same every batch."""
        specs = [self._spec] if self._spec is not None else list(self._specs.values())
        names: list[str] = []
        for spec in specs:
            for term in spec.terms:
                name = term.name or term.verifier
                if name not in names:
                    names.append(name)
        return names

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_warned"] = set()
        return state


def _resolve(spec: Any) -> pb.RewardSpec:
    """A spec argument; a bare verifier name ("math") is the one-term spec of that verifier."""
    if isinstance(spec, str) and registry.get_spec(spec) is None:
        named = _registered_spec(spec)
        if named is not None:
            return named
    return resolve_spec(spec)


def _registered_spec(name: str) -> pb.RewardSpec | None:
    """The registered spec `name`, or a one-term spec when `name` is a registered verifier."""
    if not name:
        return None
    if registry.get_spec(name) is not None:
        return resolve_spec(name)
    try:
        registry.get_verifier(name)
    except InvalidRequest:
        return None
    return resolve_spec({"name": name, "terms": [{"name": "accuracy", "verifier": name}]})


def is_unscorable(response: pb.VerifyResponse) -> bool:
    """True when the reward is not known (TIMEOUT, ERROR, INVALID_REQUEST): never read it as wrong."""
    return response.status in UNKNOWN_STATUSES
