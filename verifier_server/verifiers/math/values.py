"""The parsed forms of a math answer: sympy expressions plus a few structured containers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from rlvr.errors import RlvrError


class ParseError(RlvrError, ValueError):
    """The answer text is not math this parser understands; `text` is the offending input."""

    def __init__(self, message: str, text: str = ""):
        super().__init__(message)
        self.text = text


class AnswerTooLarge(ParseError):
    """The answer denotes a value too large to evaluate safely (e.g. a power tower)."""


@dataclass(frozen=True)
class Seq:
    """Several values. `kind`: "tuple" (ordered, parenthesised), "list" (bare commas) or "set" (braces).

    `opener`/`closer` keep the brackets of a two-item tuple, which may also be read as an interval.
    """

    items: tuple[Any, ...]
    kind: str
    opener: str = ""
    closer: str = ""


@dataclass(frozen=True)
class IntervalValue:
    """An interval with explicit endpoints and openness (kept unevaluated: sympy empties (3, 1))."""

    left: sympy.Expr
    right: sympy.Expr
    left_open: bool
    right_open: bool


@dataclass(frozen=True)
class SetOp:
    """A set expression: `op` is "union", "intersection" or "minus" over `parts`."""

    op: str
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Relation:
    """A chain `exprs[0] ops[0] exprs[1] ...`; ops are "=", "<", "<=", ">", ">=", "!=", "approx"."""

    exprs: tuple[Any, ...]
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Text:
    """A non-mathematical answer (a name, "yes"), compared as normalised lowercase text."""

    text: str


@dataclass(frozen=True)
class Answer:
    """A parsed answer: its value plus what was stripped from it.

    `unit` is a canonical unit name ("cm", "usd", "degree") or None; `percent` says a trailing % was
    removed (the value is the number before it); `decimals` is the number of digits after the point when
    the whole answer is one decimal literal (a rounded reference); `truncated` says that literal was
    followed by an ellipsis (`0.333...`: more digits follow); `text` is the normalised source.
    """

    value: Any
    text: str
    unit: str | None = None
    percent: bool = False
    decimals: int | None = None
    truncated: bool = False
