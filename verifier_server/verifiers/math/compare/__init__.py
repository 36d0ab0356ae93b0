"""Equivalence of two parsed answers: exact first, then symbolic, then numeric; every decision says how.

`compare_answers` (answers.py) settles units, percent signs and truncated decimals, then asks a
`Comparison` (comparison.py) whether the values are equal. `Comparison.equal` is the one place that
picks how two values are compared, by their kind; each kind has its module, as a class adding its
comparisons to the ones it builds on:

    context.py      ComparisonContext: config, tolerance, the answers' decimal places
    numbers.py      NumberComparison: exact rationals, numerals in a base, numeric closeness,
                    rounded references and rounded entries of containers
    expressions.py  ExpressionComparison: scalar expressions (identity test, expand, points, simplify)
    sets.py         SetComparison: intervals, unions, sets
    sequences.py    SequenceComparison: tuples, lists, sets of values, solved systems
    matrices.py     MatrixComparison: matrices and vectors
    equations.py    RelationComparison: equations and inequalities (on expressions, sets, sequences)
    text.py         TextComparison: text answers
"""

from rlvr.verifier_server.verifiers.math.compare.answers import CompareConfig, compare_answers
from rlvr.verifier_server.verifiers.math.compare.decision import Decision

__all__ = ["CompareConfig", "Decision", "compare_answers"]
