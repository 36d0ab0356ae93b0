"""The `math` verifier: extract the final answer, parse both sides, compare, and say how it decided."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sympy

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import Outcome, quote
from rlvr.verifier_server.engine.registry import Options, Verifier, register
from rlvr.verifier_server.verifiers.math.compare import CompareConfig, Decision, compare_answers
from rlvr.verifier_server.verifiers.math.deadlines import DeadlineExceeded, StepTimeout, time_limit
from rlvr.verifier_server.verifiers.math.extract import ExtractConfig, extract_answer, reference_text
from rlvr.verifier_server.verifiers.math.normalize import DECIMAL_COMMA_RE, strip_trailing
from rlvr.verifier_server.verifiers.math.parse import (
    ParseConfig,
    choice_letter,
    parse_answer,
    parse_reference,
)
from rlvr.verifier_server.verifiers.math.values import Answer, AnswerTooLarge, ParseError

#: the options this verifier reads; others (shared by a reward spec's terms) are ignored
_OPTION_NAMES = frozenset(
    {"ordered", "rel_tol", "allow_last_expression", "percent", "units", "imaginary_unit"}
    | {"symbolic_timeout", "inequality_for_interval"}
)
_PERCENT_MODES = ("flexible", "lenient", "fraction", "strict")
_UNIT_MODES = ("check", "ignore")
# The soft limit stops this much before the pool's hard deadline, so the message can say what happened.
_SOFT_MARGIN_SECONDS = 0.5


@dataclass(frozen=True)
class MathConfig:
    """Everything one math check is configured by; built from request options by `from_options`."""

    extract: ExtractConfig = field(default_factory=ExtractConfig)
    parse: ParseConfig = field(default_factory=ParseConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    max_response_chars: int = 2_000_000

    @classmethod
    def from_options(cls, options: Options) -> MathConfig:
        """Read the documented options (docs/math.md); raise InvalidRequest naming a bad one."""
        known = sorted((k, _freeze(v)) for k, v in options.items() if k in _OPTION_NAMES)
        return _config_from_items(tuple(known))


@lru_cache(maxsize=256)
def _config_from_items(items: tuple[tuple[str, Any], ...]) -> MathConfig:
    options = dict(items)
    ordered = None if options.get("ordered") is None else _bool(options, "ordered", False)
    last_expression = _bool(options, "allow_last_expression", True)
    imaginary = _bool(options, "imaginary_unit", True)
    inequality_for_interval = _bool(options, "inequality_for_interval", False)
    rel_tol = options.get("rel_tol", 1e-6)
    if not isinstance(rel_tol, (int, float)) or isinstance(rel_tol, bool) or not 0 < rel_tol <= 0.1:
        raise InvalidRequest(f"math option rel_tol={rel_tol!r} must be a number in (0, 0.1], e.g. 1e-6")
    percent = options.get("percent", "flexible")
    if percent not in _PERCENT_MODES:
        raise InvalidRequest(f"math option percent={percent!r} must be one of {', '.join(_PERCENT_MODES)}")
    units = options.get("units", "check")
    if units not in _UNIT_MODES:
        raise InvalidRequest(f"math option units={units!r} must be one of {', '.join(_UNIT_MODES)}")
    symbolic = options.get("symbolic_timeout", 1.5)
    if not isinstance(symbolic, (int, float)) or isinstance(symbolic, bool) or symbolic <= 0:
        raise InvalidRequest(
            f"math option symbolic_timeout={symbolic!r} must be a positive number of seconds"
        )
    return MathConfig(
        extract=ExtractConfig(last_expression=last_expression),
        parse=ParseConfig(imaginary_unit=imaginary),
        compare=CompareConfig(
            rel_tol=float(rel_tol),
            inequality_for_interval=inequality_for_interval,
            ordered=ordered,
            percent=percent,
            units=units,
            symbolic_seconds=float(symbolic),
        ),
    )


def _freeze(value: Any) -> Any:
    """A hashable stand-in for an option value (the config cache key); validation rejects it later."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def _bool(options: dict[str, Any], name: str, default: bool) -> bool:
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"math option {name}={value!r} must be true or false")
    return value


@register
class MathVerifier(Verifier):
    """Reward 1.0 when the response's final answer equals `ground_truth` mathematically, else 0.0.

    Status CORRECT / INCORRECT with a message saying how it decided; TIMEOUT when the soft limit (the
    request's timeout minus 0.5 s) runs out; INVALID_REQUEST for an empty ground truth or a bad option;
    ERROR when the ground truth itself cannot be parsed and the answer does not match it as text.
    """

    name = "math"
    version = "1.0"
    description = (
        "final-answer math equivalence (\\boxed, <answer>, ####, phrases; sympy-exact, numeric, sets)"
    )
    isolated = True
    default_timeout = 5.0

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        config = MathConfig.from_options(options)
        if not request.ground_truth.strip():
            raise InvalidRequest('math: ground_truth is empty; set it to the reference answer, e.g. "3/4"')
        if len(request.response) > config.max_response_chars:
            return Outcome.incorrect(
                f"response is {len(request.response)} characters, over the {config.max_response_chars} limit"
            )
        budget = max(self.timeout_for(request, options) - _SOFT_MARGIN_SECONDS, 0.2)
        try:
            with time_limit(budget):
                return judge(request.response, request.ground_truth, config)
        except (StepTimeout, DeadlineExceeded):
            return Outcome.timeout(f"timed out after {budget:g} s while comparing (soft limit)")
        except RecursionError:
            return Outcome.incorrect("answer is nested too deeply to parse")


def judge(response: str, ground_truth: str, config: MathConfig = MathConfig()) -> Outcome:
    """Extract -> parse -> compare, without time limits (the caller sets them). See MathVerifier."""
    gold_text = reference_text(ground_truth)
    reference, reference_error = _reference(gold_text, config.parse)
    if reference is None:
        located = extract_answer(ground_truth, config.extract)
        if located is not None and located.text != gold_text:
            relocated, _ = _reference(located.text, config.parse)
            if relocated is not None:
                gold_text, reference = located.text, relocated
    extraction = extract_answer(response, config.extract)
    if extraction is None:
        return Outcome.incorrect(
            "no final answer found (looked for \\boxed, <answer>, ####, 'final answer', math)"
        )
    answer_text = extraction.text
    where = f"answer {_short(answer_text)} ({extraction.method})"
    letter = choice_letter(gold_text)
    if letter is not None:
        chosen = choice_letter(answer_text)
        if chosen is not None:
            if chosen == letter:
                return Outcome.correct(f"choice {chosen} matches; {where}")
            return Outcome.incorrect(f"choice {chosen}, expected {letter}; {where}")
    if _plain(answer_text) == _plain(gold_text):
        return Outcome.correct(f"identical answer text; {where}")
    try:
        candidate = parse_answer(answer_text, config.parse)
    except AnswerTooLarge as exc:
        return Outcome.incorrect(f"{exc}; {where}")
    except ParseError as exc:
        return Outcome.incorrect(f"answer could not be parsed ({exc}); {where}")
    if reference is None:
        return Outcome.error(f"ground truth {_short(gold_text)} could not be parsed ({reference_error})")
    try:
        decision: Decision = compare_answers(reference, candidate, config.compare)
        if not decision.match:
            decision = (
                _decimal_comma_reading(reference, candidate, gold_text, answer_text, config)
                or _common_log_reading(gold_text, answer_text, config)
                or decision
            )
    except (TypeError, ValueError, AttributeError, NotImplementedError, ArithmeticError) as exc:
        # sympy refused an operation on these values: the answer is unknown, not wrong.
        return Outcome.error(f"comparison failed ({type(exc).__name__}: {exc}); {where}")
    if decision.match:
        return Outcome.correct(f"{decision.how}; {where}")
    return Outcome.incorrect(f"{decision.how}; {where}")


def _decimal_comma_reading(
    reference: Answer, candidate: Answer, gold_text: str, answer_text: str, config: MathConfig
) -> Decision | None:
    """`2,74` against 2.74: read one side's comma as a decimal point, only when the other is one number."""
    comma_config = dataclasses.replace(config.parse, decimal_comma=True)
    for text, other, is_reference in ((answer_text, reference, False), (gold_text, candidate, True)):
        if isinstance(other.value, sympy.Expr) and DECIMAL_COMMA_RE.match(
            strip_trailing(text).strip().strip("$")
        ):
            try:
                reread = parse_answer(text, comma_config)
            except ParseError:
                continue
            pair = (reread, candidate) if is_reference else (reference, reread)
            decision = compare_answers(*pair, config.compare)
            if decision.match:
                return Decision(True, f"{decision.how} (comma read as a decimal point)")
    return None


_BARE_LOG_RE = re.compile(r"(?<![A-Za-z])log(?!\s*_)")


def _common_log_reading(gold_text: str, answer_text: str, config: MathConfig) -> Decision | None:
    """`\\log 100` against 2: a log without a base is also read as base 10 (school and competition
    usage), on both sides at once, when either side writes one."""
    if not (_BARE_LOG_RE.search(gold_text) or _BARE_LOG_RE.search(answer_text)):
        return None
    common = dataclasses.replace(config.parse, log_base="10")
    try:
        reference, candidate = parse_answer(gold_text, common), parse_answer(answer_text, common)
    except ParseError:
        return None
    decision = compare_answers(reference, candidate, config.compare)
    return Decision(True, f"{decision.how} (log read as base 10)") if decision.match else None


def _reference(text: str, config: ParseConfig) -> tuple[Answer | None, str]:
    try:
        return parse_reference(text, config), ""
    except ParseError as exc:
        return None, str(exc)


_WRAPPER_RE = re.compile(r"\\(?:text|textbf|textrm|mathrm|mbox|textnormal|mathbf)\s*\{([^{}]*)\}")


def _plain(text: str) -> str:
    """Answer text without layout: identical plain forms need no parsing (`\\text{odd}` vs `odd`)."""
    text = _WRAPPER_RE.sub(r"\1", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = re.sub(r"\\(?:left|right)\b|(?<!\\)\$|\\[,;!: ]", "", text)
    return "".join(text.split()).rstrip(".").lower()


def _short(text: str, limit: int = 60) -> str:
    return quote(text, limit)
