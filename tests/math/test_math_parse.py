"""Parsing LaTeX and plain-text answers into values, and refusing what it cannot read."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import sympy

from rlvr.verifier_server.verifiers.math import AnswerTooLarge, ParseConfig, ParseError, parse, parse_answer
from rlvr.verifier_server.verifiers.math.values import IntervalValue, Relation, Seq, SetOp, Text

x = sympy.Symbol("x")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r"\frac{1}{2}", sympy.Rational(1, 2)),
        (r"\dfrac12", sympy.Rational(1, 2)),
        (r"\tfrac{3}{4}", sympy.Rational(3, 4)),
        ("0.5", sympy.Rational(1, 2)),
        (r"\sqrt[3]{8}", sympy.Integer(2)),
        ("sqrt(2)", sympy.sqrt(2)),
        ("2pi", 2 * sympy.pi),
        (r"3\times10^{5}", sympy.Integer(300000)),
        ("5.1e-2", sympy.Rational(51, 1000)),
        ("4 4/9", sympy.Rational(40, 9)),
        (r"4\frac{4}{9}", sympy.Rational(40, 9)),
        ("7,425,000", sympy.Integer(7425000)),
        (r"14{,}916", sympy.Integer(14916)),
        ("x^2+1", x**2 + 1),
        (r"\left( \frac{1}{3} \right)", sympy.Rational(1, 3)),
        (r"\infty", sympy.oo),
        ("3+4i", 3 + 4 * sympy.I),
        ("204_5", sympy.Symbol("204_5")),
        (r"\log_2 8", sympy.Integer(3)),
        (r"5!", sympy.Integer(120)),
        (r"\binom{5}{2}", sympy.Integer(10)),
    ],
)
def test_scalar_forms(text: str, value: sympy.Expr) -> None:
    parsed = parse_answer(text).value
    assert parsed == value or sympy.simplify(parsed - value) == 0


def test_percent_units_and_currency_are_recorded_not_discarded() -> None:
    assert parse_answer(r"28\%").percent
    assert parse_answer(r"15\mbox{ cm}^2").unit == "cm^2"
    assert parse_answer(r"\$18").unit == "usd"
    assert parse_answer(r"90^\circ").unit == "degree"
    assert parse_answer("0.50").decimals == 2


def test_structures() -> None:
    assert parse_answer("(1, 2)").value == Seq((1, 2), "tuple", "(", ")")
    assert parse_answer("1, 2").value.kind == "list"
    assert parse_answer(r"\{1, 2\}").value.kind == "set"
    assert parse_answer("[0, 1)").value == IntervalValue(0, 1, False, True)
    assert isinstance(parse_answer(r"(0,1) \cup (2,3)").value, SetOp)
    assert isinstance(parse_answer("x = 3").value, Relation)
    assert parse_answer(r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}").value.shape == (2, 2)
    assert parse_answer(r"\text{Evelyn}").value == Text("evelyn")
    assert parse_answer(r"1 \pm \sqrt{2}").value.kind == "set"


def test_decimal_comma_only_when_asked() -> None:
    assert parse_answer("2,74").value.kind == "list"
    assert parse_answer("2,74", ParseConfig(decimal_comma=True)).value == sympy.Rational(274, 100)


@pytest.mark.parametrize(
    "text",
    [r"\frac{1}{", "5 +", r"\int_0^1 x dx", "3 3", r"\frac{4}{0}", ")(", "", r"\begin{cases} 1 \end{cases}"],
)
def test_garbage_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_answer(text)


@pytest.mark.parametrize("text", [r"10^{10^{10^{10}}}", r"2^{2^{40}}", "99999999!", "1" * 500])
def test_absurd_numbers_are_refused_before_evaluation(text: str) -> None:
    with pytest.raises(AnswerTooLarge):
        parse_answer(text)


def test_deep_nesting_and_long_answers_are_refused() -> None:
    with pytest.raises(ParseError, match="nested"):
        parse_answer("(" * 300 + "1" + ")" * 300)
    with pytest.raises(ParseError, match="characters long"):
        parse_answer("1+" * 2000 + "1")


def test_the_documented_grammar_is_the_parsers_own() -> None:
    """docs/math.md shows the grammar block of the parser package's docstring, unchanged."""
    lines = (parse.__doc__ or "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("answer "))
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    block = textwrap.dedent("\n".join(lines[start:end]))
    docs = (Path(__file__).parents[2] / "docs" / "math.md").read_text(encoding="utf-8")
    assert f"```ebnf\n{block}\n```" in docs
