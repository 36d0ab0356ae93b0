"""The `code` verifier: run the program in a response against the request's tests in the sandbox."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rlvr.sandbox import Limits, SandboxUnavailable, UnknownLanguage, compile_limits, get_language
from rlvr.sandbox.judge.runner import InvalidTests, TestVerdict, run_tests
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import CORRECT, ERROR, INCORRECT, PARTIAL, Outcome
from rlvr.verifier_server.engine.registry import Options, Verifier, register

DEFAULT_LANGUAGE = "python"
_START_SECONDS = 2.0  # worker-side setup and the sandbox check, on top of the runs themselves
_RUN_OVERHEAD_SECONDS = 0.5  # one sandbox start per test, beyond its wall limit
# A fence opens at a line start with ``` and an optional language tag; it closes at the next line-start
# ``` or, for a truncated completion, at the end of the text.
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.MULTILINE | re.DOTALL)


def extract_program(text: str, language: str, mode: str = "last_block") -> str:
    """The program in a response: in mode "last_block" the last fenced block tagged `language` (or an
    alias), else the last fenced block of any tag, else the whole text; in mode "whole" the text as is."""
    if mode == "whole":
        return text
    blocks: list[tuple[str, str]] = _FENCE.findall(text)
    if not blocks:
        return text
    wanted = get_language(language).name
    for tag, body in reversed(blocks):
        try:
            if tag and get_language(tag).name == wanted:
                return body
        except UnknownLanguage:
            continue
    return blocks[-1][1]


@dataclass(frozen=True)
class CodeOptions:
    """The `code` verifier's options, validated: see docs/code.md."""

    reward: str = "fraction"  # "fraction" of tests passed, or "all_or_nothing"
    stop_on_first_failure: bool = False
    extract: str = "last_block"  # or "whole"
    time_limit: float | None = None  # CPU seconds per test (wall: twice that plus one second)
    memory_mb: int | None = None
    backend: str = "process"  # or "docker"
    float_tolerance: float = 0.0
    prefix: str = ""  # code put before the extracted program (e.g. a HumanEval prompt it continues)

    @classmethod
    def parse(cls, options: Options) -> CodeOptions:
        """Read the options this verifier knows (others belong to other terms); raise InvalidRequest."""
        values: dict[str, Any] = {}
        for key, check, wanted in _OPTION_RULES:
            if key in options:
                if not check(options[key]):
                    raise InvalidRequest(f"code option {key}={options[key]!r}: use {wanted}")
                values[key] = options[key]
        if "memory_mb" in values:
            values["memory_mb"] = int(values["memory_mb"])
        for key in ("time_limit", "float_tolerance"):
            if key in values:
                values[key] = float(values[key])
        return cls(**values)

    def limits(self) -> Limits:
        """The per-test sandbox limits: the defaults of `Limits`, overridden by time_limit and memory_mb."""
        changes: dict[str, float] = {}
        if self.time_limit is not None:
            changes.update(cpu_seconds=self.time_limit, wall_seconds=2 * self.time_limit + 1)
        if self.memory_mb is not None:
            changes["memory_mb"] = self.memory_mb
        return dataclasses.replace(Limits(), **changes)


def _number(minimum: float, inclusive: bool = True) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return value >= minimum if inclusive else value > minimum

    return check


_OPTION_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("reward", lambda v: v in ("fraction", "all_or_nothing"), "one of fraction, all_or_nothing"),
    ("extract", lambda v: v in ("last_block", "whole"), "one of last_block, whole"),
    ("backend", lambda v: v in ("process", "docker"), "one of process, docker"),
    ("stop_on_first_failure", lambda v: isinstance(v, bool), "true or false"),
    ("time_limit", _number(0.0, inclusive=False), "a positive number of CPU seconds"),
    ("memory_mb", _number(16), "a number of MiB >= 16"),
    ("float_tolerance", _number(0.0), "a number >= 0"),
    ("prefix", lambda v: isinstance(v, str), "a string"),
)


def _language(request: pb.VerifyRequest) -> str:
    try:
        return get_language(request.language or DEFAULT_LANGUAGE).name
    except UnknownLanguage as exc:
        raise InvalidRequest(str(exc)) from None


def outcome_from_verdicts(verdicts: list[TestVerdict], reward_mode: str) -> Outcome:
    """CORRECT when every test passed, PARTIAL when some, INCORRECT when none; ERROR (reward 0) when
    the sandbox failed on any test, as nothing is then known about the program."""
    results = [v.to_proto() for v in verdicts]
    passed = sum(v.passed for v in verdicts)
    total = len(verdicts)
    broken = [v for v in verdicts if v.verdict == pb.SANDBOX_ERROR]
    if broken:
        message = f"sandbox error on {len(broken)} of {total} tests: {broken[0].message}"
        return Outcome(0.0, ERROR, message, {}, results)
    if passed == total:
        status, reward = CORRECT, 1.0
    else:
        status = PARTIAL if passed else INCORRECT
        reward = passed / total if reward_mode == "fraction" else 0.0
    message = f"{passed}/{total} tests passed"
    failed = next((v for v in verdicts if not v.passed), None)
    if failed is not None:
        detail = f": {failed.message}" if failed.message else ""
        message += f"; {failed.name}: {pb.Verdict.Name(failed.verdict)}{detail}"
    return Outcome(reward, status, message, {"pass_rate": passed / total}, results)


@register
class CodeVerifier(Verifier):
    """Extracts the program from the response and runs it against `request.tests` in the sandbox."""

    name = "code"
    version = "1"
    description = "runs the response's program against stdio, call and script tests in the sandbox"
    isolated = True

    def timeout_for(self, request: pb.VerifyRequest, options: Options) -> float:
        """The request's own deadline, else one derived from its tests and limits (seconds)."""
        if request.timeout_seconds > 0:
            return request.timeout_seconds
        try:
            limits = CodeOptions.parse(options).limits()
            language = get_language(request.language or DEFAULT_LANGUAGE)
        except (InvalidRequest, UnknownLanguage):
            return self.default_timeout  # check() will answer INVALID_REQUEST at once
        compile_seconds = compile_limits(limits).wall_seconds if language.compiled else 0.0
        per_test = limits.wall_seconds + _RUN_OVERHEAD_SECONDS
        return _START_SECONDS + compile_seconds + max(1, len(request.tests)) * per_test

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        settings = CodeOptions.parse(options)
        language = _language(request)
        if not request.tests:
            raise InvalidRequest("the code verifier needs at least one test in `tests`")
        program = settings.prefix + extract_program(request.response, language, settings.extract)
        try:
            verdicts = run_tests(
                program,
                language,
                request.tests,
                limits=settings.limits(),
                backend=settings.backend,
                stop_on_first_failure=settings.stop_on_first_failure,
                float_tolerance=settings.float_tolerance,
            )
        except InvalidTests as exc:
            raise InvalidRequest(str(exc)) from None
        except SandboxUnavailable as exc:
            return Outcome.error(f"sandbox unavailable: {exc}")
        return outcome_from_verdicts(verdicts, settings.reward)
