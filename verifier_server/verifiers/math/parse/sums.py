"""The big-operator rule: finite sums and products `\\sum_{k=1}^{n} k^2`, `\\prod_{k=2}^{n}(1-\\frac1k)`."""

from __future__ import annotations

import sympy

from rlvr.verifier_server.verifiers.math.deadlines import StepTimeout, time_limit
from rlvr.verifier_server.verifiers.math.parse.build import MAX_COUNT, expr
from rlvr.verifier_server.verifiers.math.parse.groups import GroupRules
from rlvr.verifier_server.verifiers.math.values import AnswerTooLarge

_CLOSED_FORM_SECONDS = 1.0


class SumRules(GroupRules):
    """`big_operator` of the grammar."""

    def parse_big_operator(self, name: str) -> sympy.Expr:
        """`\\sum_{k=1}^{n} body` / `\\prod_{k=1}^{n} body`: the body is the product that follows
        (up to the next `+` or `-`), as written in the field. Evaluated to a closed form when sympy
        finds one within a second; otherwise kept as an unevaluated Sum / Product."""
        if not self.at_op("_"):
            raise self.fail(f"\\{name} needs bounds: \\{name}_{{k=1}}^{{n}}")
        self.next()
        braced = self.at_op("{")
        if braced:
            self.next()
        variable = self.next()
        if variable.kind != "sym" or not self.at_op("="):
            raise self.fail(f"\\{name} needs an index and a lower bound, as in _{{k=1}}")
        self.next()
        lower = expr(self.parse_additive()) if braced else expr(self.parse_primary())
        if braced:
            self.expect_op("}")
        if not self.at_op("^"):
            raise self.fail(f"\\{name} needs an upper bound, as in ^{{n}}")
        self.next()
        upper = expr(self.parse_argument())
        index = sympy.Symbol(variable.value)
        with self.sum_body(variable.value):
            body = expr(self.parse_term())
        if name == "prod" and lower.is_Integer and upper.is_Integer and upper - lower > MAX_COUNT:
            raise AnswerTooLarge(f"\\prod over more than {MAX_COUNT} factors", self.text)
        operator_class = sympy.Sum if name == "sum" else sympy.Product
        unevaluated = operator_class(body, (index, lower, upper))
        try:
            with time_limit(_CLOSED_FORM_SECONDS):
                value = unevaluated.doit()
        except (StepTimeout, TypeError, ValueError, NotImplementedError, ArithmeticError, RecursionError):
            return unevaluated
        return value if isinstance(value, sympy.Expr) else unevaluated
