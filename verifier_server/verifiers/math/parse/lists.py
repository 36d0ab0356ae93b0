"""The answer-level rules: number words and named sets, lists, units, relations, set operations, ratios."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.engine.outcome import quote
from rlvr.verifier_server.verifiers.math.parse.build import ELLIPSIS, expr, finish
from rlvr.verifier_server.verifiers.math.parse.operators import OperatorRules
from rlvr.verifier_server.verifiers.math.relations import is_name
from rlvr.verifier_server.verifiers.math.units import canonical_unit
from rlvr.verifier_server.verifiers.math.values import Relation, Seq, SetOp, Text

_RELATIONS = {
    "=": "=",
    "<": "<",
    ">": ">",
    "<=": "<=",
    ">=": ">=",
    "!=": "!=",
    "approx": "approx",
    "in": "in",
}
_SET_OPS = {"cup": "union", "cap": "intersection", "minus": "minus"}
_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NAMED_SETS = {
    "all real numbers": sympy.Reals,
    "all reals": sympy.Reals,
    "real numbers": sympy.Reals,
    "no solution": sympy.EmptySet,
    "no solutions": sympy.EmptySet,
    "no real solutions": sympy.EmptySet,
    "empty set": sympy.EmptySet,
}


class ListRules(OperatorRules):
    """`answer`, `items`, `item`, `units`, `relation`, `set_expr` and `ratio` of the grammar."""

    def parse_top(self) -> tuple[Any, str | None]:
        """The whole answer: its value and its unit (when every item states the same one)."""
        if all(t.kind in ("word", "op") for t in self.tokens[:-1]) and any(
            t.kind == "word" for t in self.tokens
        ):
            text = " ".join(t.value.lower() for t in self.tokens if t.kind == "word")
            if text in _NUMBER_WORDS:
                return sympy.Integer(_NUMBER_WORDS[text]), None
            return _NAMED_SETS.get(text, Text(text)), None
        self.drop_through_last_op("=>")  # `a = 1 \Rightarrow b = 2` answers b = 2
        items, units = self.parse_items(("end",))
        if not self.at("end"):
            raise self.fail(f"unexpected {quote(self.peek().value)}")
        unit_names = {u for u in units if u}
        unit = unit_names.pop() if len(unit_names) == 1 else None
        if len(items) == 1:
            return finish(items[0]), unit
        return finish(Seq(tuple(items), "list")), unit

    def parse_items(self, closers: tuple[str, ...]) -> tuple[list[Any], list[str | None]]:
        """Comma/semicolon-separated items up to (not including) one of `closers`."""
        items: list[Any] = []
        units: list[str | None] = []
        while True:
            if self.at_op("..."):
                self.next()
                items.append(ELLIPSIS)
                units.append(None)
            else:
                items.append(self.parse_relation())
                units.append(self.parse_units())
            if self.at_op(",", ";"):
                while self.at_op(",", ";"):  # "19, 46, and 82" has two separators in a row
                    self.next()
                if self.peek().kind == "end" or self.at_op(*closers):
                    break  # a trailing comma
                continue
            return items, units
        return items, units

    def parse_units(self) -> str | None:
        words: list[str] = []
        while self.at("word") or (words and self.at_op("^")):
            if self.at_op("^"):
                self.next()
                words.append("^" + self.next().value)
            else:
                words.append(self.next().value)
        if not words:
            return None
        unit = canonical_unit(words)
        return unit if unit is not None else "?" + " ".join(w.lower() for w in words)

    def parse_relation(self) -> Any:
        exprs = [self.parse_set_expr()]
        ops: list[str] = []
        while self.peek().kind == "op" and self.peek().value in _RELATIONS:
            ops.append(_RELATIONS[self.next().value])
            if self.at("word"):
                raise self.fail("text inside a relation")
            exprs.append(self.parse_set_expr())
        if not ops:
            return exprs[0]
        if "in" in ops:
            return exprs[-1]
        if ops[0] == "approx" and not is_name(exprs[0]):
            return exprs[0]  # `\\sqrt{2} \\approx 1.414`: the exact value, not its rounding
        return Relation(tuple(exprs), tuple(ops))

    def parse_set_expr(self) -> Any:
        parts = [self.parse_ratio()]
        op = None
        while self.peek().kind == "op" and self.peek().value in _SET_OPS:
            this = _SET_OPS[self.next().value]
            if op is not None and this != op:
                parts = [SetOp(op, tuple(parts))]
            op = this
            parts.append(self.parse_ratio())
        if op is None:
            return parts[0]
        return SetOp(op, tuple(parts))

    def parse_ratio(self) -> Any:
        """`3:4` is the ratio 3/4; `1:2:3` stays an ordered triple."""
        parts = [self.parse_additive()]
        while self.at_op(":"):
            self.next()
            parts.append(self.parse_additive())
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            return self.divide(expr(parts[0]), expr(parts[1]))
        return Seq(tuple(parts), "tuple", "(", ")")
