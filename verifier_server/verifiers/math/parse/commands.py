"""The command rule: what each LaTeX command reads (`\\frac`, `\\sqrt`, `\\binom`, `\\boxed`, ...)."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.lexer import STYLE_COMMANDS, words
from rlvr.verifier_server.verifiers.math.parse.atoms import GREEK
from rlvr.verifier_server.verifiers.math.parse.build import binomial, expr
from rlvr.verifier_server.verifiers.math.parse.environments import EnvironmentRules
from rlvr.verifier_server.verifiers.math.parse.functions import FUNCTION_ALIASES, FUNCTIONS, FunctionRules
from rlvr.verifier_server.verifiers.math.parse.sums import SumRules

#: commands an answer cannot use: calculus, modular arithmetic, layout
_STRUCTURAL_COMMANDS = words(
    "int iint oint lim limsup liminf partial nabla pmod bmod mod over choose end hline cline "
    "multicolumn label tag nonumber notag newline hfill vspace hspace phantom underbrace overbrace"
)
_NAMED_SETS = {"R": sympy.Reals, "Z": sympy.Integers, "N": sympy.Naturals, "Q": sympy.Rationals}
#: style commands whose mark changes the name (x-bar is not x); the others only change the typeface
_MARKING_STYLES = frozenset({"bar", "overline", "hat"})


class CommandRules(FunctionRules, SumRules, EnvironmentRules):
    """`command` of the grammar."""

    def parse_command(self, name: str) -> Any:
        if name == "frac":
            num, den = self.parse_argument(), self.parse_argument()
            return self.divide(expr(num), expr(den))
        if name == "sqrt":
            return self.parse_root()
        if name == "pi":
            return sympy.pi
        if name == "emptyset":
            return sympy.EmptySet
        if name in ("binom", "dbinom", "tbinom"):
            return binomial(expr(self.parse_argument()), expr(self.parse_argument()), self.text)
        if name in ("sum", "prod"):
            return self.parse_big_operator(name)
        name = FUNCTION_ALIASES.get(name, name)
        if name in FUNCTIONS:
            return self.parse_function(name)
        if name in GREEK:
            return sympy.Symbol(name)
        if name in STYLE_COMMANDS:
            inner = self.parse_argument()
            return sympy.Symbol(f"{name}({inner})") if name in _MARKING_STYLES else inner
        if name == "mathbb":
            letter = self.parse_argument_text()
            if letter not in _NAMED_SETS:
                raise self.fail(f"unknown set \\mathbb{{{letter}}}")
            return _NAMED_SETS[letter]
        if name == "begin":
            return self.parse_environment()
        if name == "boxed" or name == "fbox":
            return self.parse_group(allow_list=True)
        if name in _STRUCTURAL_COMMANDS:
            raise self.fail(f"\\{name} is not supported in an answer")
        if self.at_op("(") and not self.peek().space:
            # `\\operatorname{Si}(2)`: a function we do not know, applied. It stays an unknown
            # function of its arguments (never equal to a number), not the product Si * 2.
            self.next()
            return sympy.Function(name)(*self.parse_call_arguments())
        return sympy.Symbol(name)  # an unknown macro names something, like \\alpha does

    def parse_root(self) -> sympy.Expr:
        """After `\\sqrt`: `[index]`, then the radicand as a macro argument or in parentheses."""
        index = None
        if self.at_op("["):
            self.next()
            index = self.parse_additive()
            self.expect_op("]")
        if self.at_op("("):
            self.next()
            radicand = expr(self.parse_bracketed("("))
        else:
            radicand = expr(self.parse_argument())
        return sympy.sqrt(radicand) if index is None else sympy.root(radicand, expr(index))
