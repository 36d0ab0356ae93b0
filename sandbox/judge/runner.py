"""Run a program against tests in the sandbox and judge every test on the host: `run_tests`."""

from __future__ import annotations

import json
import re
import secrets
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from google.protobuf import json_format, struct_pb2

from rlvr.errors import RlvrError
from rlvr.sandbox import drivers
from rlvr.sandbox.backend import Backend
from rlvr.sandbox.drivers.pydriver import ValueCodecError, decode_value, encode_value
from rlvr.sandbox.judge.asserts import CallCheck, calls_from_script
from rlvr.sandbox.judge.outputs import compare_stdout, describe, values_equal
from rlvr.sandbox.languages import Language, get_language
from rlvr.sandbox.limits import Limits, RunResult
from rlvr.sandbox.program import run
from rlvr.verifier.v1 import verifier_pb2 as pb

MAX_MESSAGE = 300  # characters of a verdict message
_DRIVER_REFUSED = 3  # the driver's exit code when it cannot hide itself or its job from the program
_SYNTAX_ERRORS = {"SyntaxError", "IndentationError", "TabError"}
_SYNTAX_LOCATION = re.compile(r'\s*File "(?:.*/)?([^/"]+)", line (\d+)$')
TestLike: TypeAlias = "pb.TestCase | Mapping[str, Any]"


class InvalidTests(RlvrError, ValueError):
    """A test that cannot be run as given (malformed, or a call/script test for a non-Python program)."""


@dataclass
class TestVerdict:
    """The verdict of one test: a `pb.Verdict` value, a short reason, and the run's wall time in seconds."""

    __test__ = False  # not a pytest test class, despite its name

    name: str
    verdict: int
    message: str = ""
    elapsed_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.verdict == pb.OK

    def to_proto(self) -> pb.TestResult:
        return pb.TestResult(
            name=self.name, verdict=self.verdict, message=self.message, elapsed_seconds=self.elapsed_seconds
        )


def _bounded(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def as_test_case(test: TestLike) -> pb.TestCase:
    """A TestCase message from itself or its dict form (proto JSON mapping); raise InvalidTests."""
    if isinstance(test, pb.TestCase):
        case = test
    else:
        try:
            case = json_format.ParseDict(dict(test), pb.TestCase())
        except (json_format.ParseError, TypeError, ValueError) as exc:
            raise InvalidTests(
                _bounded(f"test {dict(test)!r} is not a rlvr.verifier.v1.TestCase: {exc}")
            ) from None
    if case.WhichOneof("kind") is None:
        raise InvalidTests(
            _bounded(f"test {json_format.MessageToDict(case)!r} has none of stdio, call or script")
        )
    if case.WhichOneof("kind") == "call" and not case.call.HasField("expected"):
        raise InvalidTests(f"call test of {case.call.function!r} has no expected value (use null for None)")
    return case


# ------------------------------------------------------------------------------------------- verdicts


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _limit_verdict(result: RunResult) -> TestVerdict | None:
    """The verdict a run gets from its limits and the sandbox alone, before its output is read."""
    if result.sandbox_error is not None:
        return TestVerdict("", pb.SANDBOX_ERROR, _bounded(f"sandbox failed: {result.sandbox_error}"))
    if result.memory_exceeded:
        return TestVerdict("", pb.MEMORY_LIMIT, "memory limit exceeded")
    if result.timed_out:
        used = f"{result.cpu_seconds:.2f} s CPU, {result.wall_seconds:.2f} s wall"
        return TestVerdict("", pb.TIME_LIMIT, f"time limit exceeded ({used})")
    if result.output_exceeded:
        return TestVerdict("", pb.OUTPUT_LIMIT, "output limit exceeded")
    return None


def _crash_message(result: RunResult) -> str:
    last = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    how = f"killed by {_signal_name(result.signal)}" if result.signal else f"exit code {result.exit_code}"
    return _bounded(f"{how}: {last[0]}" if last[0] else how)


def _python_syntax_error(result: RunResult, source: str) -> str | None:
    """The message of a Python program that did not compile, or None.

    CPython reports a syntax error of the main file with exit code 1 and no "Traceback" header:
    `File ".../main.py", line N`, the line, a caret, then `SyntaxError: ...` (or IndentationError,
    TabError). A SyntaxError raised while running (by `eval`, `compile`, an import) has the header.
    """
    if result.exit_code != 1:
        return None
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    if not lines or "Traceback (most recent call last):" in lines:
        return None
    where = _SYNTAX_LOCATION.match(lines[0])
    name = lines[-1].split(":", 1)[0]
    if where is None or where.group(1) != source or name not in _SYNTAX_ERRORS:
        return None
    return _bounded(f"{lines[-1]} (line {where.group(2)})")


def _stdio_verdict(
    result: RunResult, case: pb.TestCase, float_tolerance: float, python_source: str | None = None
) -> TestVerdict:
    """The verdict of one stdio run; `python_source` (the program's file name) when it is Python."""
    verdict = _limit_verdict(result)
    if verdict is not None:
        return verdict
    if result.exit_code != 0:
        syntax = _python_syntax_error(result, python_source) if python_source else None
        if syntax is not None:
            return TestVerdict("", pb.COMPILE_ERROR, syntax)
        return TestVerdict("", pb.RUNTIME_ERROR, _crash_message(result))
    mismatch = compare_stdout(result.stdout.decode("utf-8", "replace"), case.stdio.output, float_tolerance)
    if mismatch is not None:
        return TestVerdict("", pb.WRONG_ANSWER, _bounded(mismatch))
    return TestVerdict("", pb.OK)


def _error_verdict(error: Any, where: str) -> TestVerdict:
    """The verdict of an error the driver reported (untrusted in content, so only ever a failure)."""
    if not isinstance(error, dict):
        return TestVerdict("", pb.RUNTIME_ERROR, f"{where}: malformed error report")
    kind, name, text = error.get("kind"), str(error.get("type") or ""), str(error.get("message") or "")
    line = error.get("line")
    at = f" (test line {line})" if isinstance(line, int) else ""
    detail = f"{name}: {text}" if name and text else name or text
    if kind == "output":
        return TestVerdict("", pb.OUTPUT_LIMIT, _bounded(f"{where}: {text}"))
    if kind == "assertion":
        return TestVerdict(
            "", pb.WRONG_ANSWER, _bounded(f"assertion failed{at}" + (f": {text}" if text else ""))
        )
    if name in _SYNTAX_ERRORS and where == "while loading":
        return TestVerdict("", pb.COMPILE_ERROR, _bounded(detail))
    if name == "MemoryError":
        return TestVerdict("", pb.MEMORY_LIMIT, _bounded(f"{where}: {detail}{at}"))
    return TestVerdict("", pb.RUNTIME_ERROR, _bounded(f"{where}: {detail}{at}"))


def _driver_report(result: RunResult, token: str) -> dict | TestVerdict:
    """The driver's report, or the verdict when there is none: only a line carrying the token counts."""
    verdict = _limit_verdict(result)
    if verdict is not None:
        return verdict
    if result.exit_code == _DRIVER_REFUSED and not result.stdout:
        return TestVerdict("", pb.SANDBOX_ERROR, _bounded(result.stderr.decode("utf-8", "replace")))
    prefix = token.encode() + b" "
    lines = result.stdout.split(b"\n")
    if result.exit_code == 0 and len(lines) == 2 and not lines[1] and lines[0].startswith(prefix):
        try:
            report = json.loads(lines[0][len(prefix) :])
        except ValueError:
            report = None
        if isinstance(report, dict):
            return report
    return TestVerdict("", pb.RUNTIME_ERROR, "no verdict from the test driver: " + _crash_message(result))


def _calls_verdict(
    report: dict, checks: Sequence[CallCheck], json_mode: bool, tolerance: float
) -> TestVerdict:
    results = report.get("results")
    if not isinstance(results, list):
        return TestVerdict("", pb.RUNTIME_ERROR, "malformed driver report")
    for index, check in enumerate(checks):
        where = f"`{check.source}` (test line {check.line})" if check.line else check.source
        if index >= len(results) or not isinstance(results[index], dict):
            return TestVerdict("", pb.RUNTIME_ERROR, f"{where}: no result")
        if "error" in results[index]:
            return _error_verdict(results[index]["error"], where)
        try:
            got = decode_value(results[index].get("value", ""))
        except ValueCodecError as exc:
            return TestVerdict("", pb.RUNTIME_ERROR, _bounded(f"{where}: {exc}"))
        if not values_equal(got, check.expected, json_mode=json_mode, float_tolerance=tolerance):
            if check.line:
                reason = f"`{check.source}` failed (test line {check.line}): got {describe(got)}"
            else:
                reason = f"{check.source}: expected {describe(check.expected)}, got {describe(got)}"
            return TestVerdict("", pb.WRONG_ANSWER, _bounded(reason))
    return TestVerdict("", pb.OK)


def _script_verdict(report: dict, code: str) -> TestVerdict:
    script = report.get("script")
    if not isinstance(script, dict):
        return TestVerdict("", pb.RUNTIME_ERROR, "malformed driver report")
    if script.get("passed") is True:
        return TestVerdict("", pb.OK)
    error = script.get("error")
    verdict = _error_verdict(error, "test")
    line = error.get("line") if isinstance(error, dict) else None
    lines = code.splitlines()
    if verdict.verdict == pb.WRONG_ANSWER and isinstance(line, int) and 0 < line <= len(lines):
        verdict.message = _bounded(f"{verdict.message}: `{lines[line - 1].strip()}`")
    return verdict


# -------------------------------------------------------------------------------------------- driver


@dataclass
class _DriverJob:
    """One call or script test as the driver runs it; the expected values stay here, on the host."""

    mode: str  # "calls" or "script"
    checks: list[CallCheck]
    script: str = ""
    json_mode: bool = False

    def stdin(self, program: str, token: str, max_reply_bytes: int) -> bytes:
        job: dict[str, Any] = {
            "token": token,
            "program": program,
            "mode": self.mode,
            "max_reply_bytes": max_reply_bytes,
        }
        if self.mode == "calls":
            job["calls"] = [
                {"function": c.function, "args": encode_value(c.args), "kwargs": encode_value(c.kwargs)}
                for c in self.checks
            ]
        else:
            job["script"] = self.script
        return json.dumps(job).encode()


def _plain(value: struct_pb2.Value) -> Any:
    """A protobuf Value as plain data; integral numbers below 2^53 as ints (protobuf keeps only doubles)."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "list_value":
        return [_plain(v) for v in value.list_value.values]
    if kind == "struct_value":
        return {k: _plain(v) for k, v in value.struct_value.fields.items()}
    if kind in ("string_value", "bool_value"):
        return getattr(value, kind)
    return None


def _driver_job(case: pb.TestCase) -> _DriverJob:
    if case.WhichOneof("kind") == "call":
        call = case.call
        args = [_plain(v) for v in call.args.values]
        kwargs = {k: _plain(v) for k, v in call.kwargs.fields.items()}
        shown = ", ".join([describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()])
        check = CallCheck(
            function=call.function,
            args=args,
            kwargs=kwargs,
            expected=_plain(call.expected),
            source=f"{call.function}({shown})",
            line=0,
        )
        return _DriverJob("calls", [check], json_mode=True)
    checks = calls_from_script(case.script.code)
    if checks is not None:
        return _DriverJob("calls", checks)
    return _DriverJob("script", [], script=case.script.code)


# --------------------------------------------------------------------------------------------- judge


class _Judge:
    """Runs batches of one program's tests, compiling at most once."""

    def __init__(
        self, program: str, language: Language, limits: Limits, backend: str | Backend, tolerance: float
    ):
        from rlvr.sandbox import get_backend

        self.program, self.language, self.limits, self.tolerance = program, language, limits, tolerance
        self.backend = get_backend(backend) if isinstance(backend, str) else backend
        self.binary: bytes | None = None
        self.compile_error: TestVerdict | None = None

    def run_stdio(self, cases: Sequence[pb.TestCase]) -> list[TestVerdict]:
        stdins = [case.stdio.input.encode() for case in cases]
        if self.compile_error is not None:
            return [self.compile_error] * len(cases)
        if self.binary is not None and self.language.binary is not None:
            files = {self.language.binary: self.binary}
            runs = self.backend.run_many(
                list(self.language.run), files=files, stdins=stdins, limits=self.limits
            )
        else:
            outcome = run(self.program, self.language.name, stdins, limits=self.limits, backend=self.backend)
            if outcome.compile is not None:
                if outcome.compile_failed:
                    self.compile_error = self._compile_verdict(outcome.compile)
                    return [self.compile_error] * len(cases)
                self.binary = outcome.compile.files.get(self.language.binary or "")
            runs = outcome.runs
        python = self.language.source if self.language.name == "python" else None
        return [
            replace(_stdio_verdict(r, case, self.tolerance, python), elapsed_seconds=r.wall_seconds)
            for r, case in zip(runs, cases)
        ]

    def _compile_verdict(self, result: RunResult) -> TestVerdict:
        if result.sandbox_error is not None:
            return TestVerdict(
                "", pb.SANDBOX_ERROR, _bounded(f"sandbox failed while compiling: {result.sandbox_error}")
            )
        if result.timed_out:
            return TestVerdict("", pb.COMPILE_ERROR, "compile time limit exceeded")
        errors = result.stderr.decode("utf-8", "replace")
        first = next((line for line in errors.splitlines() if "error" in line), errors)
        return TestVerdict("", pb.COMPILE_ERROR, _bounded(first or "the compiler produced no binary"))

    def run_driver(self, cases: Sequence[pb.TestCase]) -> list[TestVerdict]:
        jobs = [_driver_job(case) for case in cases]
        tokens = [secrets.token_hex(16) for _ in cases]
        stdins = [
            job.stdin(self.program, token, self.limits.output_bytes) for job, token in zip(jobs, tokens)
        ]
        command = [self.language.run[0], "-I", "-B", "-c", drivers.source("pydriver")]
        runs = self.backend.run_many(command, files=None, stdins=stdins, limits=self.limits)
        return [
            replace(self._driver_verdict(result, job, token), elapsed_seconds=result.wall_seconds)
            for result, job, token in zip(runs, jobs, tokens)
        ]

    def _driver_verdict(self, result: RunResult, job: _DriverJob, token: str) -> TestVerdict:
        report = _driver_report(result, token)
        if isinstance(report, TestVerdict):
            return report
        if "load_error" in report:
            return _error_verdict(report["load_error"], "while loading")
        if job.mode == "calls":
            return _calls_verdict(report, job.checks, job.json_mode, self.tolerance)
        return _script_verdict(report, job.script)

    def run_batch(self, cases: Sequence[pb.TestCase]) -> list[TestVerdict]:
        """Verdicts of `cases`, in order: stdio tests in one batch, call and script tests in another."""
        stdio = [i for i, case in enumerate(cases) if case.WhichOneof("kind") == "stdio"]
        driven = [i for i, case in enumerate(cases) if case.WhichOneof("kind") != "stdio"]
        verdicts: list[TestVerdict | None] = [None] * len(cases)
        for indices, runner in ((stdio, self.run_stdio), (driven, self.run_driver)):
            if indices:
                for index, verdict in zip(indices, runner([cases[i] for i in indices])):
                    verdicts[index] = verdict
        return verdicts  # type: ignore[return-value]


def run_tests(
    program: str,
    language: str,
    tests: Iterable[TestLike],
    *,
    limits: Limits = Limits(),
    backend: str | Backend = "process",
    stop_on_first_failure: bool = False,
    float_tolerance: float = 0.0,
) -> list[TestVerdict]:
    """Run `program` (source text in `language`) against `tests` and judge each on the host.

    `tests` are `pb.TestCase` messages or their dict forms. Each test is one run under `limits`;
    runs share sandbox starts through `Backend.run_many`, and a compiled language compiles once. Stdio
    tests compare stdout (see `compare.compare_stdout`, with `float_tolerance`); call and script tests
    (Python only) go through the driver in `pydriver`, expected values staying on the host wherever
    the test allows it. With `stop_on_first_failure`, tests run in growing batches (1, 2, 4...) and
    every test after the first failure is SKIPPED.

    Returns one TestVerdict per test, in order. An empty program fails every test with COMPILE_ERROR.
    Raises InvalidTests for malformed tests, UnknownLanguage, and SandboxUnavailable when `backend`
    cannot run here.
    """
    cases = [as_test_case(test) for test in tests]
    names = [case.name or f"test {i + 1}" for i, case in enumerate(cases)]
    lang = get_language(language)
    if lang.name != "python":
        for name, case in zip(names, cases):
            if case.WhichOneof("kind") != "stdio":
                raise InvalidTests(
                    f"{name} is a {case.WhichOneof('kind')} test, which needs language 'python' "
                    f"(got {language!r}); use stdio tests for other languages"
                )
    if not program.strip():
        return [TestVerdict(name, pb.COMPILE_ERROR, "the program is empty") for name in names]
    judge = _Judge(program, lang, limits, backend, float_tolerance)
    judge.backend.check()
    verdicts: list[TestVerdict] = []
    batch = 1 if stop_on_first_failure else max(1, len(cases))
    while len(verdicts) < len(cases):
        start = len(verdicts)
        for offset, verdict in enumerate(judge.run_batch(cases[start : start + batch])):
            verdicts.append(replace(verdict, name=names[start + offset]))
            if stop_on_first_failure and not verdict.passed:
                rest = names[len(verdicts) :]
                return verdicts + [TestVerdict(name, pb.SKIPPED, "an earlier test failed") for name in rest]
        batch *= 2
    return verdicts
