"""Read a judge's verdict (a score, or which of two answers is better) out of its reply text."""

from __future__ import annotations

import json
from dataclasses import dataclass

import regex

from rlvr.errors import RlvrError
from rlvr.verifier_server.engine.outcome import quote

# "Score: 7", "score = 7/10", "**Score:** 7", "Rating: [[7]]" — the last one in the reply wins, since
# judges reason first and conclude last.
_LABELLED_SCORE = regex.compile(
    r"(?:score|rating|grade|rated)\W{0,6}?(?:is\W{0,3})?\[{0,2}\s*(-?\d+(?:\.\d+)?)\s*\]{0,2}(?:\s*/\s*\d+)?",
    regex.IGNORECASE,
)
_BRACKETED_SCORE = regex.compile(r"\[\[\s*(-?\d+(?:\.\d+)?)\s*\]\]")
_OUT_OF_SCORE = regex.compile(r"(-?\d+(?:\.\d+)?)\s+out\s+of\s+\d+", regex.IGNORECASE)
_BARE_SCORE = regex.compile(r"\s*\**\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*\d+)?\s*\**\s*\.?\s*")
_LABELLED_CHOICE = regex.compile(
    r"(?:verdict|winner|better(?: answer| response)?|choice)\W{0,6}?(?:is\W{0,3})?\[{0,2}\s*"
    r"(?:answer\s+|response\s+)?(A|B|tie)\b",
    regex.IGNORECASE,
)
_BRACKETED_CHOICE = regex.compile(r"\[\[\s*(A|B|tie|C)\s*\]\]", regex.IGNORECASE)
_BARE_CHOICE = regex.compile(r"\s*\**\s*\[{0,2}(A|B|tie)\]{0,2}\s*\**\s*\.?\s*", regex.IGNORECASE)


class UnreadableVerdict(RlvrError, ValueError):
    """The reply holds no verdict in the expected form; the message quotes the reply's start."""


@dataclass(frozen=True)
class Score:
    """A pointwise verdict: `value` on the judge's scale, and how it was found."""

    value: float
    how: str


def read_score(reply: str, low: float, high: float) -> Score:
    """The score in `reply`, which must lie in [low, high].

    Accepted, in order of trust: a JSON object with a "score" key, the last labelled score ("Score:
    7", "Rating: [[7]]", "score = 7/10", "rated 7"), the last "[[7]]", the last "7 out of 10", or a
    reply that is only a number.
    Raises UnreadableVerdict when none is there or the score is off the scale.
    """
    found = _json_score(reply)
    how = "JSON"
    if found is None:
        patterns = (
            (_LABELLED_SCORE, "labelled"),
            (_BRACKETED_SCORE, "bracketed"),
            (_OUT_OF_SCORE, '"N out of M"'),
        )
        for pattern, label in patterns:
            matches = pattern.findall(reply)
            if matches:
                found, how = float(matches[-1]), label
                break
    if found is None and (bare := _BARE_SCORE.fullmatch(reply)):
        found, how = float(bare.group(1)), "bare"
    if found is None:
        raise UnreadableVerdict(f"no score in the judge's reply {quote(reply.strip(), 160)}")
    if not low <= found <= high:
        raise UnreadableVerdict(
            f"the judge's score {found:g} is outside its scale {low:g}..{high:g} (reply {quote(reply.strip(), 120)})"
        )
    return Score(found, how)


def read_choice(reply: str) -> str:
    """Which answer `reply` prefers: "A", "B" or "tie".

    Accepted: a JSON object with a "verdict"/"winner" key, the last labelled choice ("Verdict: A",
    "The better answer is B"), the last "[[A]]" / "[[B]]" / "[[C]]" (MT-Bench's tie), or a reply that
    is only the choice. Raises UnreadableVerdict otherwise.
    """
    choice = _json_choice(reply)
    if choice is None:
        for pattern in (_LABELLED_CHOICE, _BRACKETED_CHOICE):
            matches = pattern.findall(reply)
            if matches:
                choice = matches[-1]
                break
    if choice is None and (bare := _BARE_CHOICE.fullmatch(reply)):
        choice = bare.group(1)
    if choice is None:
        raise UnreadableVerdict(f"no verdict (A, B or tie) in the judge's reply {quote(reply.strip(), 160)}")
    choice = choice.upper()
    return "tie" if choice in ("TIE", "C") else choice


def _json_object(reply: str) -> dict | None:
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(reply[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_score(reply: str) -> float | None:
    value = (_json_object(reply) or {}).get("score")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _json_choice(reply: str) -> str | None:
    data = _json_object(reply) or {}
    value = data.get("verdict", data.get("winner"))
    return (
        value.strip() if isinstance(value, str) and value.strip().upper() in ("A", "B", "TIE", "C") else None
    )
