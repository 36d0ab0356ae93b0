"""The bracket rules: `{groups}`, macro arguments, parentheses and intervals, `\\{sets\\}`, `|x|`, floors."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.engine.outcome import quote
from rlvr.verifier_server.verifiers.math.lexer import Token
from rlvr.verifier_server.verifiers.math.parse.build import binomial, expr
from rlvr.verifier_server.verifiers.math.parse.lists import ListRules
from rlvr.verifier_server.verifiers.math.values import IntervalValue, Seq

_CLOSERS = {"lfloor": "rfloor", "lceil": "rceil"}


class GroupRules(ListRules):
    """`group`, `argument`, `bracketed` and the delimited forms of `primary` in the grammar."""

    def parse_group(self, allow_list: bool = False) -> Any:
        self.expect_op("{")
        if self.at_op("}"):
            raise self.fail("empty group {}")
        items, _ = self.parse_items(("}",))
        if len(items) == 1 and self.at("cmd", "choose"):  # {n \\choose k}
            self.next()
            bottom = self.parse_additive()
            self.expect_op("}")
            return binomial(expr(items[0]), expr(bottom), self.text)
        self.expect_op("}")
        if len(items) == 1:
            return items[0]
        if not allow_list:
            raise self.fail("a list where one value was expected")
        return Seq(tuple(items), "list")

    def parse_argument(self) -> Any:
        """One LaTeX macro argument: a {group}, one digit of a number (`\\frac12`), a letter or a command."""
        if self.at_op("{"):
            return self.parse_group()
        token = self.peek()
        if token.kind == "num":
            self.next()
            if len(token.value) > 1 and token.value.isdigit():
                self.tokens.insert(self.pos, Token("num", token.value[1:]))
                return sympy.Integer(token.value[0])
            return sympy.Rational(token.value)
        if token.kind in ("sym", "cmd"):
            return self.parse_primary()
        raise self.fail(f"missing argument before {quote(token.value) if token.value else 'end of answer'}")

    def parse_argument_text(self) -> str:
        """A subscript or environment name as plain text: `_1`, `_{12}`, `_n`, `_{n+1}`, `{pmatrix}`."""
        if self.at_op("{"):
            content = self.collect_group_tokens()
            return "".join(t.value for t in content)
        return self.next().value

    def collect_group_tokens(self) -> list[Token]:
        """The tokens of a `{...}` group, unparsed (nested braces kept), consuming it."""
        self.expect_op("{")
        depth, collected = 1, list[Token]()
        while True:
            token = self.next()
            if token.kind == "end":
                raise self.fail("unbalanced braces")
            if token.kind == "op" and token.value == "{":
                depth += 1
            elif token.kind == "op" and token.value == "}":
                depth -= 1
                if depth == 0:
                    return collected
            collected.append(token)

    def parse_call_arguments(self) -> list[sympy.Expr]:
        """After the `(` of an application: the arguments up to `)`, consumed, as scalars."""
        args, _ = self.parse_items((")",))
        self.expect_op(")")
        return [expr(a) for a in args]

    def parse_bracketed(self, opener: str) -> Any:
        """After `(` or `[`: a parenthesised value, an interval (two items, a square bracket on either
        side) or a tuple."""
        items, _ = self.parse_items((")", "]"))
        closer = self.next()
        if closer.kind != "op" or closer.value not in (")", "]"):
            raise self.fail(f"unclosed {quote(opener)}")
        close = closer.value
        if len(items) == 1:
            if (opener, close) in (("(", ")"), ("[", "]")):
                return items[0]
            raise self.fail(f"one value inside {opener}{close}")
        if len(items) == 2 and (opener, close) != ("(", ")"):
            left, right = (expr(v) for v in items)
            return IntervalValue(left, right, opener == "(", close == ")")
        return Seq(tuple(items), "tuple", opener, close)

    def parse_delimited(self, opener: str) -> Any:
        """The part opened by the operator token `opener` (already consumed), or ParseError."""
        if opener in ("(", "["):
            return self.parse_bracketed(opener)
        if opener == "{":
            self.rewind(self.pos - 1)
            return self.parse_group(allow_list=True)
        if opener == "\\{":
            if self.at_op("\\}"):
                self.next()
                return sympy.EmptySet
            items, _ = self.parse_items(("\\}",))
            self.expect_op("\\}")
            return Seq(tuple(items), "set")
        if opener == "|":
            inner = self.parse_additive()
            self.expect_op("|")
            return sympy.Abs(expr(inner))
        if opener in _CLOSERS:
            inner = self.parse_additive()
            self.expect_op(_CLOSERS[opener])
            return (sympy.floor if opener == "lfloor" else sympy.ceiling)(expr(inner))
        raise self.fail(f"unexpected {quote(opener)}")
