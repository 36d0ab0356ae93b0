"""Declarative reward specs (Python, dict, JSON, YAML) and the named specs users call by name."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import yaml
from google.protobuf import json_format

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine import registry
from rlvr.verifier_server.engine.errors import InvalidRequest, UnknownVerifier
from rlvr.verifier_server.engine.messages import options_dict

_SPEC_KEYS = frozenset({"name", "terms"})
_TERM_KEYS = frozenset({"name", "verifier", "weight", "options", "accuracy_term", "gate"})
_MISSING: Any = object()
_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "text", list: "a list"}


class InvalidRewardSpec(InvalidRequest):
    """A reward spec is malformed; `value` is the offending part and the message says how to fix it."""

    def __init__(self, message: str, value: Any = None):
        super().__init__(message)
        self.value = value


@dataclass(frozen=True)
class Term:
    """One weighted term of a reward: `weight * verifier(request, options)`, reported as `name`."""

    verifier: str
    weight: float = 1.0
    name: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    #: for a group term (kimi_length, cosine_length): the name of the term that judges correctness
    accuracy_term: str = ""
    #: run this term only when the term of this name is CORRECT (else: not run, reward 0)
    gate: str = ""


@dataclass(frozen=True)
class Spec:
    """A reward built in Python: `Spec("mine", [Term("math"), Term("format", 0.1)]).to_proto()`.

    A term may also be given in its dict form."""

    name: str
    terms: Sequence[Term | Mapping[str, Any]]

    def to_proto(self) -> pb.RewardSpec:
        """The validated `pb.RewardSpec`; raises InvalidRewardSpec."""
        return load_spec(self)


SpecLike: TypeAlias = "pb.RewardSpec | Spec | Mapping[str, Any] | str | os.PathLike[str]"


def load_spec(obj: SpecLike, *, check_verifiers: bool = True) -> pb.RewardSpec:
    """Build a validated `pb.RewardSpec` from any of its forms.

    `obj` is a `pb.RewardSpec`, a `Spec`, a dict `{"name": ..., "terms": [{"verifier", "weight",
    "name", "options", "accuracy_term", "gate"}]}`, a path to a .json/.yaml/.yml file, JSON or YAML text, or
    the name of a registered spec. Term names default to the verifier name and must be unique (they
    key the response's components). With `check_verifiers`, every term's verifier must be registered
    and every term that shapes by correctness must have exactly one accuracy term to take it from
    (`accuracy_terms`), and every `gate` must name a per-completion, ungated term (`gate_terms`). Raises InvalidRewardSpec (an InvalidRequest) saying what is wrong and where.
    """
    if isinstance(obj, pb.RewardSpec):
        obj = spec_to_dict(obj)
    elif isinstance(obj, Spec):
        obj = {"name": obj.name, "terms": [vars(t) if isinstance(t, Term) else t for t in obj.terms]}
    elif isinstance(obj, str) and (registered := registry.get_spec(obj.strip())) is not None:
        named = pb.RewardSpec()
        named.CopyFrom(registered)
        return named  # validated when it was registered
    elif isinstance(obj, (str, os.PathLike)):
        obj = _read_text_or_file(obj)
    if not isinstance(obj, Mapping):
        raise InvalidRewardSpec(f"a reward spec must be a mapping, got {type(obj).__name__}", obj)
    return _from_dict(obj, check_verifiers)


def spec_to_dict(spec: pb.RewardSpec) -> dict[str, Any]:
    """The plain-dict form of a spec (every term with name, verifier, weight and options)."""
    return {
        "name": spec.name,
        "terms": [
            {"name": t.name, "verifier": t.verifier, "weight": t.weight, "options": options_dict(t.options)}
            | ({"accuracy_term": t.accuracy_term} if t.accuracy_term else {})
            | ({"gate": t.gate} if t.gate else {})
            for t in spec.terms
        ],
    }


def dump_spec(spec: pb.RewardSpec, fmt: str = "yaml") -> str:
    """The spec as YAML (`fmt="yaml"`) or JSON (`fmt="json"`) text that `load_spec` reads back."""
    data = spec_to_dict(spec)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    raise ValueError(f"unknown spec format {fmt!r}: use 'yaml' or 'json'")


def _read_text_or_file(obj: str | os.PathLike) -> Any:
    if isinstance(obj, str):
        stripped = obj.strip()
        if "\n" in stripped or stripped.startswith("{") or (":" in stripped and not os.path.isfile(stripped)):
            return _parse_text(obj, "text")
        if not os.path.isfile(stripped):
            known = sorted(info.name for info in registry.list_verifiers() if info.version == "spec")
            raise InvalidRewardSpec(
                f"{stripped!r} is not a registered spec ({', '.join(known)}), an existing file, "
                "or JSON/YAML text of a spec",
                obj,
            )
        obj = stripped
    path = Path(obj)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRewardSpec(f"cannot read reward spec file {str(path)!r}: {exc}", str(path)) from None
    return _parse_text(text, str(path))


def _parse_text(text: str, source: str) -> Any:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # YAML flow mappings also start with "{"
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidRewardSpec(f"reward spec {source} is not valid JSON or YAML: {exc}", text) from None


def _from_dict(data: Mapping[str, Any], check_verifiers: bool) -> pb.RewardSpec:
    _reject_unknown_keys(data, _SPEC_KEYS, "reward spec")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise InvalidRewardSpec(f"reward spec name must be text, got {name!r}", name)
    terms = data.get("terms")
    if not isinstance(terms, Sequence) or isinstance(terms, (str, bytes)) or not terms:
        raise InvalidRewardSpec(
            f"reward spec {name!r} needs a non-empty list 'terms' of {{verifier, weight, name, options}}, "
            f"got {terms!r}",
            terms,
        )
    spec = pb.RewardSpec(name=name)
    seen: set[str] = set()
    for index, raw in enumerate(terms):
        term = _term_from_dict(raw, f"term {index} of reward spec {name!r}", check_verifiers)
        if term.name in seen:
            raise InvalidRewardSpec(
                f"term {index} of reward spec {name!r}: name {term.name!r} is used twice; "
                "give each term its own 'name' (it keys the response's components)",
                term.name,
            )
        seen.add(term.name)
        spec.terms.append(term)
    if check_verifiers:
        verifiers = [registry.get_verifier(t.verifier) for t in spec.terms]
        accuracy_terms(spec.terms, verifiers, name)
        gate_terms(spec.terms, verifiers, name)
    return spec


def accuracy_terms(
    terms: Sequence[pb.RewardTerm], verifiers: Sequence[registry.Verifier], spec_name: str = ""
) -> list[int | None]:
    """For each term, the index of the term whose verdict tells it which completions are correct.

    A group term (`GroupVerifier`) takes correctness from the term its `accuracy_term` names, or,
    when it names none, from the spec's only per-completion term. Every other term gets None, and so
    does a group term that does not shape by correctness and leaves the choice open. Raises
    InvalidRewardSpec when a correctness-shaping term has no such term or several to choose from,
    or when `accuracy_term` names a missing term, a group term, or is set on a per-completion term.
    """
    names = [t.name or v.name for t, v in zip(terms, verifiers)]
    per_completion = [i for i, v in enumerate(verifiers) if not isinstance(v, registry.GroupVerifier)]
    sources: list[int | None] = []
    for index, (term, verifier) in enumerate(zip(terms, verifiers)):
        where = f"term {names[index]!r} of reward spec {spec_name!r}"
        if not isinstance(verifier, registry.GroupVerifier):
            if term.accuracy_term:
                raise InvalidRewardSpec(
                    f"{where}: accuracy_term is only for group terms (kimi_length, cosine_length); "
                    f"{verifier.name!r} judges each completion itself",
                    term.accuracy_term,
                )
            sources.append(None)
        elif term.accuracy_term:
            if term.accuracy_term not in names:
                raise InvalidRewardSpec(
                    f"{where}: accuracy_term {term.accuracy_term!r} is not a term of this spec "
                    f"(terms: {', '.join(names)})",
                    term.accuracy_term,
                )
            source = names.index(term.accuracy_term)
            if source not in per_completion:
                raise InvalidRewardSpec(
                    f"{where}: accuracy_term {term.accuracy_term!r} is a group term; name a term that "
                    "judges each completion (e.g. math)",
                    term.accuracy_term,
                )
            sources.append(source)
        elif len(per_completion) == 1:
            sources.append(per_completion[0])
        elif getattr(verifier, "needs_correctness", False):
            choices = ", ".join(repr(names[i]) for i in per_completion) or "none"
            raise InvalidRewardSpec(
                f"{where}: {verifier.name!r} shapes by correctness, but the spec does not say which "
                f"term judges it (per-completion terms: {choices}); set accuracy_term to one of "
                "them, or add an accuracy term such as math",
                terms[index].name,
            )
        else:
            sources.append(None)
    return sources


def gate_terms(
    terms: Sequence[pb.RewardTerm], verifiers: Sequence[registry.Verifier], spec_name: str = ""
) -> list[int | None]:
    """For each term, the index of the term it is gated on (`gate`), or None when it always runs.

    A gated term runs only when its gate term's verdict is CORRECT, so an expensive term (an LLM
    judge) costs nothing on wrong answers. Raises InvalidRewardSpec when a gate names a missing term
    or the term itself, a gate or gated term is a group term (those score whole groups), or the gate
    term is itself gated (one level keeps the order of evaluation obvious).
    """
    names = [t.name or v.name for t, v in zip(terms, verifiers)]
    gates: list[int | None] = []
    for index, (term, verifier) in enumerate(zip(terms, verifiers)):
        if not term.gate:
            gates.append(None)
            continue
        where = f"term {names[index]!r} of reward spec {spec_name!r}"
        if term.gate not in names or term.gate == names[index]:
            others = ", ".join(n for n in names if n != names[index])
            raise InvalidRewardSpec(
                f"{where}: gate {term.gate!r} must name another term of this spec (terms: {others})",
                term.gate,
            )
        source = names.index(term.gate)
        if isinstance(verifier, registry.GroupVerifier) or isinstance(
            verifiers[source], registry.GroupVerifier
        ):
            raise InvalidRewardSpec(
                f"{where}: gates are for per-completion terms; a group term ({verifier.name!r} or "
                f"{verifiers[source].name!r}) scores a whole group and cannot gate or be gated",
                term.gate,
            )
        if terms[source].gate:
            raise InvalidRewardSpec(
                f"{where}: gate {term.gate!r} is itself gated on {terms[source].gate!r}; gate on "
                f"{terms[source].gate!r} directly",
                term.gate,
            )
        gates.append(source)
    return gates


def _term_from_dict(raw: Any, where: str, check_verifiers: bool) -> pb.RewardTerm:
    if not isinstance(raw, Mapping):
        raise InvalidRewardSpec(f"{where} must be a mapping with a 'verifier', got {raw!r}", raw)
    _reject_unknown_keys(raw, _TERM_KEYS, where)
    verifier = raw.get("verifier")
    if not isinstance(verifier, str) or not verifier:
        raise InvalidRewardSpec(
            f"{where} needs 'verifier', a registered verifier name; got {verifier!r}", raw
        )
    if check_verifiers:
        try:
            registry.get_verifier(verifier)
        except UnknownVerifier as exc:
            raise InvalidRewardSpec(f"{where}: {exc}", verifier) from None
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        hint = " (YAML 1.1 reads 1e-3 as text: write 1.0e-3)" if isinstance(weight, str) else ""
        raise InvalidRewardSpec(f"{where}: weight must be a finite number, got {weight!r}{hint}", weight)
    name = raw.get("name") or verifier
    if not isinstance(name, str):
        raise InvalidRewardSpec(f"{where}: name must be text, got {name!r}", name)
    options = raw.get("options") or {}
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise InvalidRewardSpec(
            f"{where}: options must be a mapping with text keys, got {options!r}", options
        )
    accuracy_term = raw.get("accuracy_term") or ""
    if not isinstance(accuracy_term, str):
        raise InvalidRewardSpec(
            f"{where}: accuracy_term must be the name of another term, got {accuracy_term!r}", accuracy_term
        )
    gate = raw.get("gate") or ""
    if not isinstance(gate, str):
        raise InvalidRewardSpec(f"{where}: gate must be the name of another term, got {gate!r}", gate)
    term = pb.RewardTerm(
        name=name, verifier=verifier, weight=float(weight), accuracy_term=accuracy_term, gate=gate
    )
    try:
        json_format.ParseDict(dict(options), term.options)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise InvalidRewardSpec(f"{where}: options must be JSON values: {exc}", options) from None
    return term


def _reject_unknown_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise InvalidRewardSpec(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}",
            unknown,
        )


def get_option(
    options: Mapping[str, Any],
    key: str,
    kind: type,
    default: Any = _MISSING,
    *,
    owner: str,
    choices: Sequence[Any] | None = None,
) -> Any:
    """Read one verifier option, checked against `kind` (bool, int, float, str or list).

    Integers are accepted where a float is asked. A missing option yields `default`; a missing
    option without a default, a value of the wrong type or outside `choices` raises InvalidRequest
    naming `owner` (the verifier), the key and the bad value.
    """
    if key not in options:
        if default is _MISSING:
            raise InvalidRequest(f"{owner}: option {key!r} is required ({_KIND_NAMES[kind]})")
        return default
    value: Any = options[key]
    accepted = (int, float) if kind is float else (kind,)
    well_typed = isinstance(value, accepted) and isinstance(value, bool) is (kind is bool)
    if not well_typed:
        raise InvalidRequest(f"{owner}: option {key!r} must be {_KIND_NAMES[kind]}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise InvalidRequest(f"{owner}: option {key!r} must be finite, got {value!r}")
    if choices is not None and value not in choices:
        raise InvalidRequest(
            f"{owner}: option {key!r} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    return float(value) if kind is float else value


#: Named specs, callable as `VerifyRequest.verifier = "<name>"`. Length budgets (max_length, buffer,
#: unit) and the target language are deliberately left to the request's options: they depend on the
#: caller's generation limit and prompt, and a term's own options would override the request's.
NAMED_SPECS: dict[str, dict[str, Any]] = {
    "r1_math": {
        "terms": [
            {"name": "accuracy", "verifier": "math", "weight": 1.0},
            {"name": "format", "verifier": "format", "weight": 0.1, "options": {"template": "think_answer"}},
        ]
    },
    "r1_math_lang": {
        "terms": [
            {"name": "accuracy", "verifier": "math", "weight": 1.0},
            {"name": "format", "verifier": "format", "weight": 0.1, "options": {"template": "think_answer"}},
            {"name": "language", "verifier": "language_consistency", "weight": 0.1},
        ]
    },
    "dapo_math": {
        "terms": [
            {"name": "accuracy", "verifier": "math", "weight": 1.0},
            {"name": "overlong", "verifier": "overlong", "weight": 1.0},
        ]
    },
    "kimi_math": {
        "terms": [
            {"name": "accuracy", "verifier": "math", "weight": 1.0},
            {"name": "length", "verifier": "kimi_length", "weight": 1.0, "accuracy_term": "accuracy"},
        ]
    },
    "cosine_math": {
        "terms": [
            {"name": "accuracy", "verifier": "math", "weight": 0.0},
            {"name": "length", "verifier": "cosine_length", "weight": 1.0, "accuracy_term": "accuracy"},
        ]
    },
}

for _name, _body in NAMED_SPECS.items():
    # The math verifier may land (or fail to import) independently: its name is checked per request.
    registry.register_spec(load_spec({"name": _name, **_body}, check_verifiers=False))
