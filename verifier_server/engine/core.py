"""The one `verify` core: the CLI, the gRPC servicer, the envs and the trainer adapters all call it."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine import registry
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.messages import RequestLike, options_dict, to_request
from rlvr.verifier_server.engine.outcome import CORRECT, INCORRECT, UNKNOWN_STATUSES, Outcome
from rlvr.verifier_server.engine.pool import (
    TaskCancelled,
    TaskTimeout,
    WorkerCrashed,
    WorkerPool,
    default_pool,
)
from rlvr.verifier_server.engine.specs import accuracy_terms, gate_terms

_ID_IN_BROKEN_JSON = re.compile(r'"id"\s*:\s*"?([\w.:-]{1,128})')
# A hard deadline slightly past the verifier's own, so a verifier that reports its own timeout wins,
# yet every answer still comes within the request's deadline + 0.5 s.
_POOL_GRACE_SECONDS = 0.4


@dataclass
class _Term:
    name: str
    verifier: registry.Verifier
    weight: float
    options: dict[str, Any]
    #: index of the term whose verdict is this group term's correctness (None: not known)
    accuracy: int | None = None
    #: index of the term that must be CORRECT for this one to run (None: always runs)
    gate: int | None = None


@dataclass
class _Item:
    request: pb.VerifyRequest
    terms: list[_Term]
    outcomes: list[Outcome | None]
    elapsed: float = 0.0


def verify(request: RequestLike, *, pool: WorkerPool | None = None) -> pb.VerifyResponse:
    """Verify one request (a VerifyRequest, its dict or its JSON text) and return its VerifyResponse.

    Never raises for a bad request: it is answered with status INVALID_REQUEST. Isolated verifiers
    (math, code) run in `pool` (default: the process-wide pool) under a hard deadline.
    """
    return verify_batch([request], pool=pool)[0]


def verify_batch(
    requests: Iterable[RequestLike],
    *,
    pool: WorkerPool | None = None,
    cancel: threading.Event | None = None,
    progress: bool = False,
) -> list[pb.VerifyResponse]:
    """Verify many requests; responses come back in request order, one per request.

    Identical checks (same verifier, completion, ground truth, tests and options) run once. Group
    verifiers (length shaping) see every request sharing a `group_id`. `cancel`, when set, stops
    work in flight (the items are answered ERROR "cancelled").
    """
    responses: list[pb.VerifyResponse | None] = []
    items: list[tuple[int, _Item]] = []
    for index, raw in enumerate(requests):
        try:
            request = to_request(raw)
            items.append((index, _plan(request)))
            responses.append(None)
        except InvalidRequest as exc:
            responses.append(invalid_response(raw, str(exc)))
    planned = [item for _, item in items]
    _run_terms(planned, pool, cancel, progress)  # gated terms wait for their gate
    if _close_gates(planned):
        _run_terms(planned, pool, cancel, progress)  # the gated terms whose gate passed
    _run_group_terms(planned)
    for index, item in items:
        responses[index] = _compose(item)
    return responses  # type: ignore[return-value]


def has_group_terms(request: pb.VerifyRequest) -> bool:
    """Whether the request's reward has a group term (scored over every member of its `group_id`)."""
    spec = request.reward_spec if request.reward_spec.terms else registry.get_spec(request.verifier)
    names = [term.verifier for term in spec.terms] if spec is not None else [request.verifier]
    try:
        return any(isinstance(registry.get_verifier(name), registry.GroupVerifier) for name in names if name)
    except InvalidRequest:
        return False  # answered INVALID_REQUEST by itself, whoever it is sent with


def invalid_response(raw: Any, message: str) -> pb.VerifyResponse:
    """The INVALID_REQUEST answer to `raw`, echoing its id when one can be read from it."""
    request_id = ""
    if isinstance(raw, pb.VerifyRequest):
        request_id = raw.id
    elif isinstance(raw, dict) and isinstance(raw.get("id"), (str, int)):
        request_id = str(raw["id"])
    elif isinstance(raw, (str, bytes)):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            parsed = json.loads(text)
            if isinstance(parsed, dict) and isinstance(parsed.get("id"), (str, int)):
                request_id = str(parsed["id"])
        except ValueError:
            found = _ID_IN_BROKEN_JSON.search(text)  # best effort: the line is not JSON at all
            request_id = found.group(1) if found else ""
    return pb.VerifyResponse(id=request_id, status=pb.INVALID_REQUEST, message=message)


def _plan(request: pb.VerifyRequest) -> _Item:
    spec = request.reward_spec if request.reward_spec.terms else None
    if spec is None and request.verifier:
        spec = registry.get_spec(request.verifier)
    base_options = options_dict(request.options)
    if spec is None:
        if not request.verifier:
            raise InvalidRequest("request names no verifier and carries no reward_spec")
        verifier = registry.get_verifier(request.verifier)
        terms = [_Term(verifier.name, verifier, 1.0, base_options)]
    else:
        terms = []
        for term in spec.terms:
            if not term.verifier:
                raise InvalidRequest(f"reward term {term.name!r} names no verifier")
            verifier = registry.get_verifier(term.verifier)
            name = term.name or verifier.name
            terms.append(_Term(name, verifier, term.weight, {**base_options, **options_dict(term.options)}))
        sources = accuracy_terms(spec.terms, [t.verifier for t in terms], spec.name or request.verifier)
        gates = gate_terms(spec.terms, [t.verifier for t in terms], spec.name or request.verifier)
        for term_, source, gate in zip(terms, sources, gates):
            term_.accuracy, term_.gate = source, gate
    return _Item(request, terms, [None] * len(terms))


def _dedupe_key(term: _Term, request: pb.VerifyRequest) -> tuple[str, bytes, str]:
    anonymous = pb.VerifyRequest()
    anonymous.CopyFrom(request)
    anonymous.id = ""
    anonymous.group_id = ""
    anonymous.group_size = 0
    anonymous.ClearField("reward_spec")
    return (
        term.verifier.name,
        anonymous.SerializeToString(deterministic=True),
        json.dumps(term.options, sort_keys=True),
    )


def _run_terms(
    items: Sequence[_Item], pool: WorkerPool | None, cancel: threading.Event | None, progress: bool
) -> None:
    unique: dict[tuple, tuple[_Term, pb.VerifyRequest]] = {}
    slots: dict[tuple, list[tuple[_Item, int]]] = {}
    for item in items:
        for position, term in enumerate(item.terms):
            if isinstance(term.verifier, registry.GroupVerifier) or item.outcomes[position] is not None:
                continue
            if term.gate is not None and item.outcomes[term.gate] is None:
                continue
            key = _dedupe_key(term, item.request)
            unique.setdefault(key, (term, item.request))
            slots.setdefault(key, []).append((item, position))

    def store(key: tuple, outcome: Outcome, elapsed: float) -> None:
        for item, position in slots[key]:
            item.outcomes[position] = outcome
            item.elapsed += elapsed

    def run_one(key: tuple) -> None:
        term, request = unique[key]
        started = time.perf_counter()
        outcome = _check(term, request, pool, cancel)
        store(key, outcome, time.perf_counter() - started)

    batched: dict[str, list[tuple]] = {}
    for key, (term, _) in unique.items():
        if isinstance(term.verifier, registry.BatchVerifier):
            batched.setdefault(term.verifier.name, []).append(key)
    inline = [
        key
        for key, (term, _) in unique.items()
        if not term.verifier.isolated and not isinstance(term.verifier, registry.BatchVerifier)
    ]
    isolated = [key for key, (term, _) in unique.items() if term.verifier.isolated]
    bar = tqdm(total=len(unique), desc="verifying", unit="check", disable=not progress)
    for keys in batched.values():
        started = time.perf_counter()
        outcomes = _check_batch([unique[key] for key in keys])
        share = (time.perf_counter() - started) / len(keys)
        for key, outcome in zip(keys, outcomes):
            store(key, outcome, share)
        bar.update(len(keys))
    for key in inline:
        run_one(key)
        bar.update()
    if isolated:
        pool = pool or default_pool()
        if len(isolated) == 1:
            run_one(isolated[0])
            bar.update()
        else:
            with ThreadPoolExecutor(max_workers=pool.size) as executor:
                for _ in executor.map(run_one, isolated):
                    bar.update()
    bar.close()


def _close_gates(items: Sequence[_Item]) -> bool:
    """Answer every gated term whose gate is not CORRECT as skipped; whether any gated term is left to run."""
    left = False
    for item in items:
        for position, term in enumerate(item.terms):
            if term.gate is None or item.outcomes[position] is not None:
                continue
            gate = item.outcomes[term.gate]
            assert gate is not None, "gates are run before the terms they gate"
            if gate.status == CORRECT:
                left = True
                continue
            item.outcomes[position] = Outcome(
                0.0,
                INCORRECT,
                f"not run: gate {item.terms[term.gate].name!r} is {pb.Status.Name(gate.status)}",
                {"skipped": 1.0},
            )
    return left


def _check_batch(checks: Sequence[tuple[_Term, pb.VerifyRequest]]) -> list[Outcome]:
    """One `check_batch` call for the distinct checks of one batch verifier; a failure answers them all."""
    verifier = checks[0][0].verifier
    assert isinstance(verifier, registry.BatchVerifier)
    try:
        outcomes = verifier.check_batch(
            [request for _, request in checks], [term.options for term, _ in checks]
        )
        if len(outcomes) != len(checks):
            raise RuntimeError(f"check_batch returned {len(outcomes)} outcomes for {len(checks)} requests")
        return outcomes
    except InvalidRequest as exc:
        return [Outcome.invalid(str(exc)) for _ in checks]
    except MemoryError:
        return [Outcome.error(f"{verifier.name}: out of memory") for _ in checks]
    except Exception as exc:  # noqa: BLE001 - a verifier bug must become an ERROR answer, not a crash
        return [Outcome.error(f"{verifier.name}: {type(exc).__name__}: {exc}") for _ in checks]


def _check(
    term: _Term, request: pb.VerifyRequest, pool: WorkerPool | None, cancel: threading.Event | None
) -> Outcome:
    verifier = term.verifier
    try:
        if not verifier.isolated:
            return verifier.check(request, term.options)
        timeout = verifier.timeout_for(request, term.options)
        return (pool or default_pool()).run(
            run_check,
            (verifier.name, request.SerializeToString(), term.options),
            timeout + _POOL_GRACE_SECONDS,
            cancel,
            kind=verifier.name,
        )
    except InvalidRequest as exc:
        return Outcome.invalid(str(exc))
    except TaskTimeout:
        return Outcome.timeout(
            f"{verifier.name}: timed out after {verifier.timeout_for(request, term.options):g} s"
        )
    except TaskCancelled:
        return Outcome.error(f"{verifier.name}: cancelled")
    except WorkerCrashed as exc:
        return Outcome.error(f"{verifier.name}: worker crashed ({exc})")
    except MemoryError:
        return Outcome.error(f"{verifier.name}: out of memory")
    except Exception as exc:  # noqa: BLE001 - a verifier bug must become an ERROR answer, not a crash
        return Outcome.error(f"{verifier.name}: {type(exc).__name__}: {exc}")


def run_check(verifier_name: str, request_bytes: bytes, options: dict[str, Any]) -> Outcome:
    """Worker-side entry point: look the verifier up and run its check."""
    request = pb.VerifyRequest.FromString(request_bytes)
    return registry.get_verifier(verifier_name).check(request, options)


def _run_group_terms(items: Sequence[_Item]) -> None:
    """Run each group term once per group: the members sharing a `group_id` and that term.

    A group whose members state a `group_size` must be whole in this call; otherwise its group terms
    are answered INVALID_REQUEST (a reward computed from part of a group would depend on how the
    caller cut its requests).
    """
    calls: dict[tuple[str, str, str], list[tuple[_Item, int]]] = {}
    members_of: dict[str, list[_Item]] = {}
    for number, item in enumerate(items):
        group = item.request.group_id or f"\0{number}"  # no group id: a group of one
        members_of.setdefault(group, []).append(item)
        for position, term in enumerate(item.terms):
            if isinstance(term.verifier, registry.GroupVerifier):
                calls.setdefault((group, term.name, term.verifier.name), []).append((item, position))
    for (group, _, _), members in calls.items():
        first, first_position = members[0]
        verifier = first.terms[first_position].verifier
        assert isinstance(verifier, registry.GroupVerifier)
        incomplete = _incomplete_group(group, members_of[group])
        if incomplete:
            for item, position in members:
                item.outcomes[position] = Outcome.invalid(f"{verifier.name}: {incomplete}")
            continue
        correct = [_correctness(item, position) for item, position in members]
        started = time.perf_counter()
        try:
            outcomes = verifier.check_group(
                [item.request for item, _ in members],
                [item.terms[position].options for item, position in members],
                correct,
            )
            if len(outcomes) != len(members):
                raise RuntimeError(
                    f"check_group returned {len(outcomes)} outcomes for {len(members)} requests"
                )
        except InvalidRequest as exc:
            outcomes = [Outcome.invalid(str(exc)) for _ in members]
        except Exception as exc:  # noqa: BLE001 - a verifier bug must become an ERROR answer, not a crash
            outcomes = [Outcome.error(f"{verifier.name}: {type(exc).__name__}: {exc}") for _ in members]
        elapsed = (time.perf_counter() - started) / len(members)
        for (item, position), outcome in zip(members, outcomes):
            item.outcomes[position] = outcome
            item.elapsed += elapsed


def _incomplete_group(group: str, members: Sequence[_Item]) -> str:
    """Why this call cannot score `group` as a whole ("" when it can): its stated size is not met."""
    sizes = sorted({item.request.group_size for item in members})
    if sizes == [0]:
        return ""  # no size stated: the caller vouches that the call holds the whole group
    name = repr(group) if not group.startswith("\0") else "(no group_id)"
    if len(sizes) > 1:
        return f"members of group {name} state different group_size values {sizes}; state one"
    if len(members) != sizes[0]:
        return (
            f"this call holds {len(members)} of the {sizes[0]} members of group {name} (group_size); "
            "send a whole group in one call (Client.verify_batch, VerifyStream and `rlvr verify` "
            "keep groups together)"
        )
    return ""


def _correctness(item: _Item, position: int) -> bool | None:
    source = item.terms[position].accuracy
    return None if source is None else _is_correct(item.outcomes[source])


def _is_correct(outcome: Outcome | None) -> bool | None:
    if outcome is None or outcome.status in UNKNOWN_STATUSES:
        return None
    return outcome.status == CORRECT


def _compose(item: _Item) -> pb.VerifyResponse:
    request, terms = item.request, item.terms
    outcomes = [o for o in item.outcomes if o is not None]
    assert len(outcomes) == len(terms), "every term is checked before composing"
    response = pb.VerifyResponse(id=request.id, elapsed_seconds=item.elapsed)
    unknown = [o for o in outcomes if o.status in UNKNOWN_STATUSES]
    response.status = unknown[0].status if unknown else outcomes[0].status
    response.reward = 0.0 if unknown else sum(t.weight * o.reward for t, o in zip(terms, outcomes))
    for term, outcome in zip(terms, outcomes):
        response.components[term.name] = outcome.reward
        for name, value in outcome.components.items():
            response.components[f"{term.name}.{name}"] = value
        response.test_results.extend(outcome.test_results)
    if len(terms) == 1:
        response.message = outcomes[0].message
        response.verifier = terms[0].verifier.name
        response.verifier_version = terms[0].verifier.version
    else:
        response.message = "; ".join(f"{t.name}: {o.message}" for t, o in zip(terms, outcomes) if o.message)
        spec_name = request.reward_spec.name if request.reward_spec.terms else request.verifier
        response.verifier = spec_name or "reward_spec"
        response.verifier_version = ",".join(f"{t.verifier.name}@{t.verifier.version}" for t in terms)
    return response
