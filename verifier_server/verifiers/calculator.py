"""The `calculator` verifier: evaluate a tool call's Python expression in the sandbox (the Calculator env's tool)."""

from __future__ import annotations

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import Outcome
from rlvr.verifier_server.engine.registry import Options, Verifier, register

MAX_OUTPUT = 1000  # characters of a value or error line handed back to the model

# Runs inside the sandbox: evaluate one expression with math's names in scope and print its value.
_PROGRAM = """import math
from fractions import Fraction
scope = {{name: getattr(math, name) for name in dir(math) if not name.startswith("_")}}
scope["Fraction"] = Fraction
print(eval(compile({expression!r}, "<calculator>", "eval"), scope))
"""


@register
class CalculatorVerifier(Verifier):
    """Evaluates `request.response`, one Python expression (the math module's names and `Fraction` in
    scope), in the sandbox: 2 s CPU, 4 s wall, 256 MB, 4 KB of output.

    A tool, not a reward: the message is what the model gets back, the printed value, or
    `error: <the error's last line>`. CORRECT (reward 1) when the expression evaluated, INCORRECT
    (reward 0) when it raised or took too long; ERROR when no sandbox can run where the check runs.
    Option `backend`: "process" (default) or "docker".
    """

    name = "calculator"
    description = (
        "evaluates a Python expression in the sandbox; the message is its value (Calculator env tool)"
    )
    isolated = True

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        from rlvr.sandbox import Limits, SandboxUnavailable, run

        backend = options.get("backend", "process")
        if backend not in ("process", "docker"):
            raise InvalidRequest(f"calculator option backend={backend!r}: use process or docker")
        limits = Limits(cpu_seconds=2.0, wall_seconds=4.0, memory_mb=256, output_bytes=4096)
        program = _PROGRAM.format(expression=request.response.strip())
        try:
            result = run(program, "python", limits=limits, backend=backend)
        except SandboxUnavailable as exc:
            return Outcome.error(f"calculator: no sandbox here: {exc}")
        outcome = result.runs[0] if result.runs else result.compile
        if outcome is None or outcome.sandbox_error is not None:
            reason = outcome.sandbox_error if outcome is not None else "no run"
            return Outcome.error(f"calculator: the sandbox failed: {reason}")
        if outcome.ok:
            return Outcome.correct(outcome.stdout.decode("utf-8", "replace").strip()[:MAX_OUTPUT])
        if outcome.timed_out:
            return Outcome.incorrect("error: the calculation took too long")
        lines = outcome.stderr.decode("utf-8", "replace").strip().splitlines()
        return Outcome.incorrect(f"error: {lines[-1] if lines else 'the calculation failed'}"[:MAX_OUTPUT])
