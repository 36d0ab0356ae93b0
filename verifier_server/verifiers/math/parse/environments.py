"""The environment rule: `\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}` and the other matrix forms."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.engine.outcome import quote
from rlvr.verifier_server.verifiers.math.lexer import words
from rlvr.verifier_server.verifiers.math.parse.build import expr
from rlvr.verifier_server.verifiers.math.parse.groups import GroupRules

_MATRIX_ENVS = words("pmatrix bmatrix Bmatrix matrix vmatrix smallmatrix array")


class EnvironmentRules(GroupRules):
    """`environment` of the grammar: a matrix (its determinant for `vmatrix`)."""

    def parse_environment(self) -> Any:
        env = self.parse_argument_text()
        if env not in _MATRIX_ENVS:
            raise self.fail(f"unsupported environment {quote(env)}")
        if env == "array" and self.at_op("{"):
            self.collect_group_tokens()  # the column layout
        rows: list[list[sympy.Expr]] = [[]]
        while True:
            if self.at("cmd", "end"):
                self.next()
                self.parse_argument_text()
                break
            if self.at_op("\\\\"):
                self.next()
                rows.append([])
                continue
            if self.at_op("&"):
                self.next()
                continue
            if self.at("end"):
                raise self.fail(f"unterminated {env}")
            rows[-1].append(expr(self.parse_additive()))
        rows = [row for row in rows if row]
        if not rows or len({len(row) for row in rows}) != 1:
            raise self.fail("matrix rows have different lengths")
        matrix = sympy.ImmutableMatrix(rows)
        return sympy.det(matrix) if env == "vmatrix" else matrix
