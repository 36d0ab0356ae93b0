"""The atom rules: numbers (`204_5`, mixed `4 4/9`) and names (`x_1`, `e`, `i`, `f(x)`, `C_n^k`)."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.lexer import words
from rlvr.verifier_server.verifiers.math.parse.build import MAX_COUNT, binomial, expr, mixed
from rlvr.verifier_server.verifiers.math.parse.groups import GroupRules
from rlvr.verifier_server.verifiers.math.values import AnswerTooLarge, ParseError

GREEK = words(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi rho "
    "sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi Omega ell"
)
#: single letters that name a function when applied (`f(x)`), not a product (`x(x+1)`)
_FUNCTION_LETTERS = frozenset("fghpqPQFGH")
_MAX_DIGITS = 400


class AtomRules(GroupRules):
    """`number` and `symbol` of the grammar."""

    def parse_number(self, text: str) -> sympy.Expr:
        if len(text) > _MAX_DIGITS:
            raise AnswerTooLarge(f"number with {len(text)} digits", self.text)
        value = sympy.Rational(text)
        if self.at_op("_") and "." not in text:
            base = self._subscript_base()
            if base is not None:
                return self._numeral(text, base)
        if self.config.mixed_numbers and value.is_Integer and "." not in text:
            mixed_number = self._mixed_after(int(value))
            if mixed_number is not None:
                return mixed_number
        return value

    def _subscript_base(self) -> int | None:
        """`204_5` / `204_{5}`: the base, consuming the subscript; None (nothing consumed) otherwise."""
        save = self.pos
        self.next()
        braced = self.at_op("{")
        if braced:
            self.next()
        token = self.next()
        if token.kind == "num" and token.value.isdigit() and (not braced or self.at_op("}")):
            if braced:
                self.next()
            return int(token.value)
        self.rewind(save)
        return None

    def _numeral(self, digits: str, base: int) -> sympy.Expr:
        """`204_5` as a numeral symbol: a careful grader wants the answer in that base, not its value."""
        if not 2 <= base <= 36:
            raise self.fail(f"base {base} is not between 2 and 36")
        try:
            int(digits, base)
        except ValueError:
            raise self.fail(f"{digits} is not a base-{base} number") from None
        return sympy.Symbol(f"{digits.lstrip('0') or '0'}_{base}")

    def _mixed_after(self, whole: int) -> sympy.Expr | None:
        """`4\\frac{4}{9}` or `4 4/9` right after an integer: a mixed number (proper fraction only)."""
        save = self.pos
        if self.at("cmd", "frac"):
            self.next()
            num, den = self.parse_argument(), self.parse_argument()
            if isinstance(num, sympy.Integer) and isinstance(den, sympy.Integer):
                value = mixed(whole, int(num), int(den))
                if value is not None:
                    return value
        elif self.at("num") and self.peek().space and self.at("op", "/", 1) and self.at("num", offset=2):
            numerator = int(sympy.Rational(self.next().value))
            self.next()
            denominator = int(sympy.Rational(self.next().value))
            value = mixed(whole, numerator, denominator) if denominator else None
            if value is not None:
                return value
        self.rewind(save)
        return None

    def parse_symbol(self, name: str) -> Any:
        if name in self.bound:
            return sympy.Symbol(name)  # a sum's index, even when it is named i or e
        if name == "oo":
            return sympy.oo
        if name == "e" and not self.at_op("_"):
            return sympy.E
        if name == "i" and self.config.imaginary_unit and not self.at_op("_"):
            return sympy.I
        if name in ("C", "A") and self.at_op("_"):
            counted = self._counting_symbol(name)  # C_n^k (choose), A_n^k (arrangements)
            if counted is not None:
                return counted
        if self.at_op("_"):
            self.next()
            sub = self.parse_argument_text()
            name = f"{name}_{sub}"
        if name == "C" and self.at_op("(") and not self.peek().space:
            save = self.pos
            self.next()
            args, _ = self.parse_items((")",))
            if len(args) == 2 and self.at_op(")"):
                self.next()
                return binomial(expr(args[0]), expr(args[1]), self.text)  # C(n, k)
            self.rewind(save)
        if name in _FUNCTION_LETTERS and self.at_op("(") and not self.peek().space:
            self.next()
            return sympy.Function(name)(*self.parse_call_arguments())
        return sympy.Symbol(name)

    def _counting_symbol(self, name: str) -> sympy.Expr | None:
        """`C_{10}^{3}` = binomial(10, 3) and `A_{10}^{3}` = 10!/7! (the notation of Chinese, Russian
        and French textbooks), when both indices are given; None (nothing consumed) otherwise."""
        save = self.pos
        try:
            self.next()
            n = expr(self.parse_argument())
            if not self.at_op("^"):
                raise self.fail("no upper index")
            self.next()
            k = expr(self.parse_argument())
        except ParseError:
            self.rewind(save)
            return None
        if name == "C":
            return binomial(n, k, self.text)
        if n.is_Integer and n > MAX_COUNT:
            raise AnswerTooLarge(f"arrangements of {n} are too large to evaluate", self.text)
        return sympy.ff(n, k)
