"""WordProblems: linear systems told as shopping stories ("Emily buys 3 apples and 2 oranges for $13 …")."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rlvr.envs.generators.base import Generator, Problem, format_number, pick

_NAMES = ("Emily", "Jack", "Priya", "Mateo", "Aiko", "Omar", "Sofia", "Liam", "Chen", "Amara", "Noah", "Zoe")
# (singular, plural)
_ITEMS = (
    ("apple", "apples"),
    ("orange", "oranges"),
    ("pencil", "pencils"),
    ("notebook", "notebooks"),
    ("muffin", "muffins"),
    ("bottle of juice", "bottles of juice"),
    ("ticket", "tickets"),
    ("sandwich", "sandwiches"),
    ("candle", "candles"),
    ("plant", "plants"),
)
# level -> (unknowns, largest count per item, price step in dollars, largest price in steps)
_LEVELS = {
    1: (2, 3, Fraction(1), 5),
    2: (2, 5, Fraction(1), 12),
    3: (2, 9, Fraction(1, 2), 40),
    4: (3, 4, Fraction(1), 15),
    5: (3, 6, Fraction(1, 4), 80),
}


def _determinant(matrix: list[list[int]]) -> int:
    """Exact determinant of an integer matrix (Bareiss' fraction-free elimination)."""
    rows = [list(row) for row in matrix]
    size, sign, previous = len(rows), 1, 1
    for k in range(size - 1):
        if rows[k][k] == 0:
            swap = next((r for r in range(k + 1, size) if rows[r][k] != 0), None)
            if swap is None:
                return 0
            rows[k], rows[swap] = rows[swap], rows[k]
            sign = -sign
        for i in range(k + 1, size):
            for j in range(k + 1, size):
                rows[i][j] = (rows[i][j] * rows[k][k] - rows[i][k] * rows[k][j]) // previous
        previous = rows[k][k]
    return sign * rows[-1][-1]


def _money(value: Fraction) -> str:
    return f"${value.numerator}" if value.denominator == 1 else f"${float(value):.2f}"


def _basket(counts: list[int], items: list[tuple[str, str]]) -> str:
    parts = [f"{c} {items[i][0] if c == 1 else items[i][1]}" for i, c in enumerate(counts) if c]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class WordProblemsGenerator(Generator):
    """Two or three shoppers, two or three items with unknown prices, one price asked (unique solution).

    Prices are multiples of a level-dependent step (whole dollars, then halves, then quarters).
    """

    name = "word_problems"

    def make(self, rng: np.random.Generator, level: int) -> Problem:
        unknowns, largest_count, step, largest_price = _LEVELS[level]
        item_ids = rng.choice(len(_ITEMS), size=unknowns, replace=False)
        items = [_ITEMS[int(i)] for i in item_ids]
        names = [_NAMES[int(i)] for i in rng.choice(len(_NAMES), size=unknowns, replace=False)]
        prices = [step * pick(rng, 1, largest_price) for _ in range(unknowns)]
        while True:
            counts = rng.integers(0, largest_count + 1, size=(unknowns, unknowns)).tolist()
            # From level 3 on, every shopper buys at least two kinds of item: no price is given away.
            least = 2 if level >= 3 else 1
            if all(sum(map(bool, row)) >= least for row in counts) and _determinant(counts) != 0:
                break
        totals = [sum((c * p for c, p in zip(row, prices)), Fraction(0)) for row in counts]
        asked = int(rng.integers(unknowns))
        sentences = [
            f"{name} buys {_basket(row, items)} for {_money(total)}."
            for name, row, total in zip(names, counts, totals)
        ]
        same = ", ".join(f"every {singular}" for singular, _ in items[:-1]) + f" and every {items[-1][0]}"
        question = f"All prices are fixed: {same} cost the same for everyone. How much does one {items[asked][0]} cost, in dollars?"
        return Problem(
            prompt=" ".join(sentences) + " " + question,
            answer=format_number(prices[asked]),
            metadata={
                "counts": counts,
                "totals": [str(t) for t in totals],
                "asked": asked,
            },
        )
