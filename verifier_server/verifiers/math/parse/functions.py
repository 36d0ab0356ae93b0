"""The function rule: `\\sin^2 x`, `\\log_2 8`, `\\arcsin`, `\\max(1, 2)` and their other spellings."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.parse.atoms import GREEK
from rlvr.verifier_server.verifiers.math.parse.build import expr
from rlvr.verifier_server.verifiers.math.parse.groups import GroupRules

FUNCTIONS: dict[str, Any] = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "sec": sympy.sec,
    "csc": sympy.csc,
    "cot": sympy.cot,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "arcsec": sympy.asec,
    "arccsc": sympy.acsc,
    "arccot": sympy.acot,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "coth": sympy.coth,
    "sech": sympy.sech,
    "csch": sympy.csch,
    "arcsinh": sympy.asinh,
    "arccosh": sympy.acosh,
    "arctanh": sympy.atanh,
    "arccoth": sympy.acoth,
    "arcsech": sympy.asech,
    "arccsch": sympy.acsch,
    "ln": sympy.log,
    "log": sympy.log,  # no base: natural, or 10 when the comparison retries (MathConfig)
    "lg": lambda x: sympy.log(x, 10),
    "exp": sympy.exp,
    "abs": sympy.Abs,
    "max": sympy.Max,
    "min": sympy.Min,
    "gcd": sympy.gcd,
    "lcm": sympy.lcm,
    "sgn": sympy.sign,
}
#: other spellings of the functions above: ISO (arsinh), programming (asinh), Russian and French (tg)
FUNCTION_ALIASES = {
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "arctg": "arctan",
    "tg": "tan",
    "ctg": "cot",
    "cotg": "cot",
    "cotan": "cot",
    "arcctg": "arccot",
    "cosec": "csc",
    "asinh": "arcsinh",
    "arsinh": "arcsinh",
    "arsh": "arcsinh",
    "acosh": "arccosh",
    "arcosh": "arccosh",
    "arch": "arccosh",
    "atanh": "arctanh",
    "artanh": "arctanh",
    "arth": "arctanh",
    "acoth": "arccoth",
    "arcoth": "arccoth",
    "asech": "arcsech",
    "arsech": "arcsech",
    "acsch": "arccsch",
    "arcsch": "arccsch",
    "sh": "sinh",
    "ch": "cosh",
    "th": "tanh",
    "cth": "coth",
}
#: `\sin^{-1}` is `\arcsin`
_INVERSE = {
    "sin": "arcsin",
    "cos": "arccos",
    "tan": "arctan",
    "sec": "arcsec",
    "csc": "arccsc",
    "cot": "arccot",
    "sinh": "arcsinh",
    "cosh": "arccosh",
    "tanh": "arctanh",
    "coth": "arccoth",
    "sech": "arcsech",
    "csch": "arccsch",
}
_VARIADIC = frozenset({"max", "min", "gcd", "lcm"})
#: commands that continue an unbracketed argument (`\sin 2\pi x`)
_ARGUMENT_CMDS = frozenset({"pi", "frac", "sqrt"})


class FunctionRules(GroupRules):
    """`function` of the grammar: a known function, applied to `(arguments)` or to the product that
    follows (`\\sin 2x` is sin(2x); `\\sin b \\cos a` stops at `\\cos`)."""

    def parse_function(self, name: str) -> Any:
        function = FUNCTIONS[name]
        power = None
        base = None
        if self.at_op("_") and name == "log":
            self.next()
            base = expr(self.parse_argument())
        elif name == "log" and self.config.log_base != "e":
            base = sympy.Integer(10)
        if self.at_op("^"):
            self.next()
            power = expr(self.parse_exponent())
            if power == -1 and name in _INVERSE:
                function, power = FUNCTIONS[_INVERSE[name]], None
        if self.at_op("("):
            self.next()
            exprs = self.parse_call_arguments()
        else:
            argument = expr(self.parse_power())
            while self._continues_argument():
                argument = argument * expr(self.parse_power())
            if self.at("word", "degree"):  # sin 60^\circ
                self.next()
                argument = argument * sympy.pi / 180
            exprs = [argument]
        if base is not None:
            result = sympy.log(exprs[0], base)
        elif name in _VARIADIC:
            result = function(*exprs)
        elif len(exprs) != 1:
            raise self.fail(f"{name} takes one argument")
        else:
            result = function(exprs[0])
        return result if power is None else self.power(result, power)

    def _continues_argument(self) -> bool:
        token = self.peek()
        return token.kind == "sym" or (
            token.kind == "cmd" and (token.value in GREEK or token.value in _ARGUMENT_CMDS)
        )
