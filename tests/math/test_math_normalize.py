"""Normalisation: notation without meaning is removed, and what was stripped is recorded."""

from __future__ import annotations

import pytest

from rlvr.verifier_server.verifiers.math import Normalized, normalize_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\$1{,}000.50", Normalized("1000.50", unit="usd", decimals=2)),
        (r"28\%", Normalized("28", percent=True)),
        ("28 percent.", Normalized("28", percent=True)),
        (r"\left( \frac{1}{3} \right).", Normalized(r"( \frac{1}{3} )")),
        ("1 000", Normalized("1000")),
        ("7,425,000", Normalized("7425000")),
        (r"0.\overline{3}", Normalized(r"\frac{3}{9}")),
        ("2.5 million", Normalized(r"2.5 \times 10^{6}")),
        ("3 x 10^5", Normalized(r"3 \times 10^5")),
        ("1, 2, 3, ...", Normalized("1, 2, 3, ...")),
    ],
)
def test_normalized_forms(text: str, expected: Normalized) -> None:
    assert normalize_answer(text) == expected


def test_decimal_comma_is_read_only_when_asked() -> None:
    assert normalize_answer("2,74").text == "2,74"
    assert normalize_answer("2,74", decimal_comma=True) == Normalized("2.74", decimals=2)


def test_spacing_command_glued_to_a_letter_is_still_spacing() -> None:
    assert normalize_answer(r"a=1,\quadb=2").text.replace(" ", "") == "a=1,b=2"
    assert normalize_answer(r"a=1,\qquadb=2").text.replace(" ", "") == "a=1,b=2"
