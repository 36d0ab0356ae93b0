"""The verifier registry: `Verifier` base classes and name → verifier lookup."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import UnknownVerifier
from rlvr.verifier_server.engine.outcome import Outcome

Options = dict[str, Any]


class Verifier:
    """Decides how good one completion is.

    Subclasses set `name`, `version` and `description`, and implement `check`. `check` receives the
    request and its options (the request's `options` merged with a reward term's own) and returns an
    `Outcome`; it raises `InvalidRequest` for a malformed request and may raise anything else, which
    the core answers as ERROR. It must not rely on any state beyond the request: it may run in any
    worker process.

    `isolated = True` runs `check` in a killable worker process with a hard deadline of
    `request.timeout_seconds` (or `default_timeout`, seconds); use it for anything that can hang or
    run untrusted work (sympy, code). Cheap pure-Python checks stay inline.

    `lane` names the service executor that runs requests for this verifier, so slow kinds of work
    never queue fast ones: "inline" (cheap checks), "pool" (worker processes) or "model" (model
    inference: reward models, LLM judges). Left None, it is "pool" when `isolated`, else "inline".
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    isolated: ClassVar[bool] = False
    default_timeout: ClassVar[float] = 10.0
    lane: ClassVar[str | None] = None

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        raise NotImplementedError

    @classmethod
    def lane_name(cls) -> str:
        """The executor lane of this verifier's requests: `lane`, or derived from `isolated`."""
        return cls.lane or ("pool" if cls.isolated else "inline")

    def timeout_for(self, request: pb.VerifyRequest, options: Options) -> float:
        """Hard deadline in seconds for this request (the pool kills the worker past it)."""
        return request.timeout_seconds if request.timeout_seconds > 0 else self.default_timeout


class GroupVerifier(Verifier):
    """A verifier whose reward depends on the whole group of completions for one prompt.

    `check_group` receives every request of one group (same `group_id`; a request without one is a
    group of its own), the options of each, and whether each completion was judged correct by the
    spec's accuracy term (the term `accuracy_term` names, or the spec's only per-completion term;
    None when that is unknown). It returns one Outcome per request, in order. The core calls it only
    with a whole group: when members state a `group_size` that the call does not hold, the group
    term is answered INVALID_REQUEST instead.
    """

    def check_group(
        self,
        requests: Sequence[pb.VerifyRequest],
        options: Sequence[Options],
        correct: Sequence[bool | None],
    ) -> list[Outcome]:
        raise NotImplementedError

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        return self.check_group([request], [options], [None])[0]


class BatchVerifier(Verifier):
    """A verifier that scores many completions in one call (model inference: reward models, LLM judges).

    `check_batch` receives every distinct request one `verify_batch` call holds for this verifier,
    whatever their groups, with the options of each, and returns one Outcome per request, in order;
    it batches them as it sees fit (e.g. by its model's batch size). A bad request should get its own
    `Outcome.invalid` so it does not void the others; raising `InvalidRequest` answers the whole call
    INVALID_REQUEST and any other exception answers it ERROR. Batch verifiers run in the calling
    process (never `isolated`), so they may keep per-process state such as a loaded model.
    """

    def check_batch(self, requests: Sequence[pb.VerifyRequest], options: Sequence[Options]) -> list[Outcome]:
        raise NotImplementedError

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        return self.check_batch([request], [options])[0]


_VERIFIERS: dict[str, Verifier] = {}
_SPECS: dict[str, pb.RewardSpec] = {}
V = TypeVar("V", bound=type[Verifier])


def register(cls: V) -> V:
    """Class decorator: register one instance of `cls` under `cls.name` (a later one replaces it)."""
    _VERIFIERS[cls.name] = cls()
    return cls


def register_spec(spec: pb.RewardSpec) -> None:
    """Make a reward spec callable by name, as `VerifyRequest.verifier = spec.name`."""
    _SPECS[spec.name] = spec


def get_verifier(name: str) -> Verifier:
    _load_builtins()
    try:
        return _VERIFIERS[name]
    except KeyError:
        raise UnknownVerifier(name, list(_VERIFIERS) + list(_SPECS)) from None


def get_spec(name: str) -> pb.RewardSpec | None:
    _load_builtins()
    return _SPECS.get(name)


def list_verifiers() -> list[pb.VerifierInfo]:
    """Every registered verifier and named reward spec, sorted by name."""
    _load_builtins()
    infos = [
        pb.VerifierInfo(name=v.name, version=v.version, description=v.description)
        for v in _VERIFIERS.values()
    ]
    for spec in _SPECS.values():
        terms = " + ".join(f"{t.weight:g}·{t.verifier}" for t in spec.terms)
        infos.append(pb.VerifierInfo(name=spec.name, version="spec", description=f"reward spec: {terms}"))
    return sorted(infos, key=lambda info: info.name)


_BUILTIN_MODULES = (
    "rlvr.verifier_server.verifiers.math",
    "rlvr.verifier_server.verifiers.code",
    "rlvr.verifier_server.verifiers.format",
    "rlvr.verifier_server.verifiers.length",
    "rlvr.verifier_server.verifiers.natural_language",
    "rlvr.verifier_server.verifiers.reasoning_gym",
    "rlvr.verifier_server.verifiers.calculator",
    "rlvr.verifier_server.verifiers.reward_model",
    "rlvr.verifier_server.verifiers.llm_judge",
    "rlvr.verifier_server.engine.specs",
)
_loaded = False
_loading = False
_load_lock = threading.RLock()


def _load_builtins() -> None:
    """Import the built-in verifier modules and the `RLVR_PLUGINS` modules once (they register on import).

    Thread-safe: a second thread waits until loading is complete (it would otherwise see a half-filled
    registry); a re-entrant call from a module being imported returns at once.
    """
    global _loaded, _loading
    if _loaded:
        return
    with _load_lock:
        if _loaded or _loading:
            return
        _loading = True
        try:
            from rlvr.verifier_server.engine.plugins import load_plugins, plugins_from_env

            load_plugins(_BUILTIN_MODULES + plugins_from_env())
        finally:
            _loaded, _loading = True, False
