"""Host-side comparisons of a program's output with the expected one: stdout text and returned values."""

from __future__ import annotations

import math
from typing import Any

_EXCERPT = 60  # characters of a value or line quoted in a mismatch message


def _clip(shown: str) -> str:
    return shown if len(shown) <= _EXCERPT else shown[: _EXCERPT - 3] + "..."


def _excerpt(text: str) -> str:
    return _clip(repr(text))


def normalise_stdout(text: str) -> list[str]:
    """The lines of `text` as judged: `\\r\\n` read as `\\n`, trailing spaces, tabs and `\\r` of each line
    removed, trailing empty lines dropped. Leading and inner whitespace stays significant."""
    lines = [line.rstrip(" \t\r") for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _floats_close(got: str, want: str, tolerance: float) -> bool:
    try:
        a, b = float(got), float(want)
    except ValueError:
        return False
    if math.isnan(a) or math.isnan(b):
        return False
    return abs(a - b) <= tolerance * max(1.0, abs(b))


def compare_stdout(got: str, want: str, float_tolerance: float = 0.0) -> str | None:
    """None when `got` matches `want`, else a short reason naming the first difference.

    Without tolerance the normalised lines (see `normalise_stdout`) must be equal. With
    `float_tolerance > 0` the whitespace-separated tokens are compared instead (line breaks do not
    matter): equal strings, or two numbers within `float_tolerance`, absolute below 1 and relative
    above (|got - want| <= tol * max(1, |want|)).
    """
    if float_tolerance > 0:
        got_tokens, want_tokens = got.split(), want.split()
        for index, (g, w) in enumerate(zip(got_tokens, want_tokens)):
            if g != w and not _floats_close(g, w, float_tolerance):
                return f"token {index + 1}: expected {_excerpt(w)}, got {_excerpt(g)}"
        if len(got_tokens) != len(want_tokens):
            return f"expected {len(want_tokens)} tokens, got {len(got_tokens)}"
        return None
    got_lines, want_lines = normalise_stdout(got), normalise_stdout(want)
    for index, (g, w) in enumerate(zip(got_lines, want_lines)):
        if g != w:
            return f"line {index + 1}: expected {_excerpt(w)}, got {_excerpt(g)}"
    if len(got_lines) != len(want_lines):
        if not got_lines:
            return "no output"
        return f"expected {len(want_lines)} lines, got {len(got_lines)}"
    return None


def _numbers_equal(got: Any, want: Any, tolerance: float) -> bool:
    if got == want:
        return True
    if tolerance > 0 and (type(got) is float or type(want) is float):
        return _floats_close(repr(got), repr(want), tolerance)
    return False


def values_equal(got: Any, want: Any, *, json_mode: bool, float_tolerance: float = 0.0) -> bool:
    """Whether a returned value `got` equals `want`, both exact plain data.

    Types must match: a bool equals only a bool (True is not 1), a str only a str, None only None,
    and containers only their own kind, element by element. Ints and floats compare by value (3 ==
    3.0), within `float_tolerance` when one is a float. In `json_mode` (call tests, whose expected
    values come from JSON or protobuf) a tuple also equals a list, and dict keys must be strings;
    sets never equal anything, as JSON has none. Otherwise (asserts taken from Python test code) a
    tuple equals only a tuple and a set only a set.
    """
    tg, tw = type(got), type(want)
    if tw is bool or tg is bool:
        return tg is tw and got == want
    if tw in (int, float):
        return tg in (int, float) and _numbers_equal(got, want, float_tolerance)
    if want is None or tw is str:
        return tg is tw and got == want
    if tw is list or tw is tuple:
        sequences = (list, tuple) if json_mode else (tw,)
        return (
            tg in sequences
            and len(got) == len(want)
            and all(
                values_equal(g, w, json_mode=json_mode, float_tolerance=float_tolerance)
                for g, w in zip(got, want)
            )
        )
    if tw is dict:
        if tg is not dict or len(got) != len(want):
            return False
        if json_mode and not all(type(k) is str for k in got):
            return False
        for key, value in want.items():
            if key not in got:
                return False
            if not values_equal(got[key], value, json_mode=json_mode, float_tolerance=float_tolerance):
                return False
        return True
    if tw in (set, frozenset):
        return not json_mode and tg in (set, frozenset) and got == want
    return False


def describe(value: Any) -> str:
    """A short repr of `value` for a verdict message."""
    try:
        return _clip(repr(value))
    except ValueError:  # an int past the decimal conversion limit, somewhere inside
        return f"<{type(value).__name__} too large to show>"
