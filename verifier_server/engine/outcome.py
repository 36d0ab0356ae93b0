"""`Outcome`: what one verifier decides about one request, before it becomes a VerifyResponse."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlvr.verifier.v1 import verifier_pb2 as pb

CORRECT = pb.CORRECT
INCORRECT = pb.INCORRECT
PARTIAL = pb.PARTIAL
TIMEOUT = pb.TIMEOUT
ERROR = pb.ERROR
INVALID_REQUEST = pb.INVALID_REQUEST

#: Statuses that mean "the answer is not known": never to be read as "wrong".
UNKNOWN_STATUSES = frozenset({TIMEOUT, ERROR, INVALID_REQUEST})

_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {10: "\\n", 9: "\\t", 13: "\\r", 127: "\\x7f"}


def quote(text: str, limit: int = 60) -> str:
    """`text` in single quotes for a verdict message, cut to `limit` characters.

    Unlike `repr`, backslashes and quotes stay as written, so LaTeX reads as the model wrote it
    (`'\\frac{1}{2}'`, not `'\\\\frac{1}{2}'`); only control characters are escaped (`\\n`, `\\t`).
    """
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return "'" + text.translate(_CONTROL) + "'"


@dataclass
class Outcome:
    """A verifier's decision: a reward (scale set by the verifier, usually [0, 1]), a `pb.Status`, and how.

    `components` holds sub-scores a verifier wants reported (e.g. "tests_passed"); `test_results`
    holds per-test verdicts of the code verifier. Outcomes cross process boundaries, so they stay
    picklable plain data.
    """

    reward: float
    status: int
    message: str = ""
    components: dict[str, float] = field(default_factory=dict)
    test_results: list[pb.TestResult] = field(default_factory=list)

    @classmethod
    def correct(cls, message: str = "", reward: float = 1.0) -> Outcome:
        return cls(reward, CORRECT, message)

    @classmethod
    def incorrect(cls, message: str = "", reward: float = 0.0) -> Outcome:
        return cls(reward, INCORRECT, message)

    @classmethod
    def timeout(cls, message: str = "timed out") -> Outcome:
        return cls(0.0, TIMEOUT, message)

    @classmethod
    def error(cls, message: str) -> Outcome:
        return cls(0.0, ERROR, message)

    @classmethod
    def invalid(cls, message: str) -> Outcome:
        return cls(0.0, INVALID_REQUEST, message)

    def __reduce__(self):
        # TestResult messages pickle through their wire form, keeping Outcome cheap to ship.
        results = [r.SerializeToString() for r in self.test_results]
        return (_rebuild, (self.reward, self.status, self.message, self.components, results))


def _rebuild(reward: float, status: int, message: str, components: dict, results: list[bytes]) -> Outcome:
    return Outcome(reward, status, message, components, [pb.TestResult.FromString(r) for r in results])
