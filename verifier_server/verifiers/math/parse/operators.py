"""The operator rules: sums, products (explicit and implicit), signs, powers and postfix `! % '`."""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.parse.build import MAX_COUNT, PM, arithmetic, expr, neg
from rlvr.verifier_server.verifiers.math.parse.cursor import TokenCursor
from rlvr.verifier_server.verifiers.math.values import AnswerTooLarge

#: commands that end a product rather than continue it (`3 \pmod 5`, `{n \choose k}`)
_NOT_FACTORS = frozenset({"end", "pmod", "bmod", "mod", "choose"})


class OperatorRules(TokenCursor, ABC):
    """`sum`, `term`, `unary`, `power`, `exponent` and `postfix` of the grammar. Their operands are
    `primary` and `group`, which the rules built on these (groups.py, parser.py) provide."""

    @abstractmethod
    def parse_primary(self) -> Any:
        """`primary`: a number, name, command or bracketed part."""

    @abstractmethod
    def parse_group(self, allow_list: bool = False) -> Any:
        """`group`: `{ items }`; a list only when `allow_list`."""

    def parse_additive(self) -> Any:
        sign = None
        if self.at_op("-", "+", "pm", "mp"):
            sign = self.next().value
        value = self.parse_term()
        if sign == "-":
            value = neg(value)
        elif sign in ("pm", "mp"):
            value = PM * expr(value)
        while self.at_op("+", "-", "pm", "mp"):
            op = self.next().value
            right = self.parse_term()
            if op == "+":
                value = arithmetic(operator.add, value, right)
            elif op == "-":
                value = arithmetic(operator.sub, value, right)
            else:
                value = expr(value) + PM * expr(right)
        return value

    def parse_term(self) -> Any:
        value = self.parse_unary()
        while True:
            if self.at_op("*"):
                self.next()
                value = arithmetic(operator.mul, value, self.parse_unary())
            elif self.at_op("/"):
                self.next()
                value = self.divide(expr(value), expr(self.parse_unary()))
            elif self._starts_implicit_factor():
                value = arithmetic(operator.mul, value, self.parse_unary())
            else:
                return value

    def _starts_implicit_factor(self) -> bool:
        token = self.peek()
        if token.kind in ("sym", "cmd"):
            return token.value not in _NOT_FACTORS
        if token.kind == "num":
            # "2 3" is not a product (mixed numbers are handled in parse_number), but inside a sum's
            # body "\\binom{n}{k} 2^{n-k}" is.
            return self.body_depth > 0 and self.peek(-1).kind != "num"
        return token.kind == "op" and token.value in ("(", "{", "lfloor", "lceil")

    def parse_unary(self) -> Any:
        if self.at_op("-"):
            self.next()
            return neg(self.parse_unary())
        if self.at_op("+"):
            self.next()
            return self.parse_unary()
        return self.parse_power()

    def parse_power(self) -> Any:
        base = self.parse_postfix()
        if self.at_op("^"):
            self.next()
            exponent = self.parse_exponent()
            base = self.power(expr(base), expr(exponent))
            base = self.parse_postfix_ops(base)
        return base

    def parse_exponent(self) -> Any:
        self.enter()
        try:
            if self.at_op("-"):
                self.next()
                return neg(self.parse_exponent())
            if self.at_op("{"):
                return self.parse_group()
            value = self.parse_postfix()
            if self.at_op("^"):
                self.next()
                value = self.power(expr(value), expr(self.parse_exponent()))
            return value
        finally:
            self.depth -= 1

    def parse_postfix(self) -> Any:
        return self.parse_postfix_ops(self.parse_primary())

    def parse_postfix_ops(self, value: Any) -> Any:
        while True:
            if self.at_op("!"):
                self.next()
                value = expr(value)
                if value.is_Integer and value > MAX_COUNT:
                    raise AnswerTooLarge(f"factorial of {value} is too large to evaluate", self.text)
                value = sympy.factorial(value)
            elif self.at_op("%"):
                self.next()
                value = expr(value) / 100
            elif self.at_op("'"):
                self.next()
                value = sympy.Symbol(f"{expr(value)}'")
            else:
                return value

    def power(self, base: sympy.Expr, exponent: sympy.Expr) -> sympy.Expr:
        """`base^exponent`, refused with AnswerTooLarge when it would have more than `max_bits` bits
        or an exponent over 10^6 (`10^{10^{10}}` is never evaluated)."""
        if exponent.is_Integer and base.is_number:
            size = abs(int(exponent)) if abs(exponent) < 10**12 else 10**12
            if base.is_Rational and base not in (0, 1, -1):
                bits = size * max(abs(base.p), abs(base.q)).bit_length()
                if bits > self.config.max_bits:
                    raise AnswerTooLarge(f"number too large to evaluate ({base}^{exponent})", self.text)
        elif exponent.is_number and exponent.is_real and exponent.is_finite:
            if abs(exponent) > 10**6 and not (base.is_number and abs(base) in (0, 1)):
                raise AnswerTooLarge("exponent too large to evaluate", self.text)
        elif exponent.has(sympy.Pow) and any(a.is_Integer and abs(a) > 10**6 for a in exponent.atoms()):
            raise AnswerTooLarge("exponent too large to evaluate", self.text)
        return sympy.Pow(base, exponent)

    def divide(self, num: sympy.Expr, den: sympy.Expr) -> sympy.Expr:
        if den == 0:
            raise self.fail("division by zero")
        return num / den
