"""Property tests: an answer matches itself under equivalent rewriting, and distinct values never match."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.verifiers.math import judge

FAST = settings(max_examples=40, deadline=None)
integers = st.integers(min_value=-(10**6), max_value=10**6)
denominators = st.sampled_from([2, 4, 5, 8, 10, 16, 20, 25, 40, 50, 125])


def correct(response: str, reference: str) -> bool:
    return judge(response, reference).status == pb.CORRECT


@FAST
@given(integers, denominators)
def test_terminating_fraction_matches_its_decimal(numerator: int, denominator: int) -> None:
    value = Fraction(numerator, denominator)
    decimal = f"{float(value):.6f}".rstrip("0").rstrip(".")
    latex = rf"\frac{{{value.numerator}}}{{{value.denominator}}}"
    assert correct(rf"\boxed{{{decimal}}}", latex)
    assert correct(rf"\boxed{{{latex}}}", decimal)


@FAST
@given(st.integers(min_value=1, max_value=999), st.integers(min_value=2, max_value=999))
def test_dfrac_matches_slash_form(numerator: int, denominator: int) -> None:
    assert correct(
        rf"The answer is $\boxed{{\dfrac{{{numerator}}}{{{denominator}}}}}$.", f"{numerator}/{denominator}"
    )


@FAST
@given(st.lists(st.integers(min_value=-50, max_value=50), min_size=2, max_size=6, unique=True), st.randoms())
def test_reordered_sets_match(values: list[int], rng) -> None:
    shuffled = list(values)
    rng.shuffle(shuffled)
    reference = r"\{" + ", ".join(map(str, values)) + r"\}"
    assert correct(r"\boxed{\{" + ", ".join(map(str, shuffled)) + r"\}}", reference)


@FAST
@given(st.integers(min_value=1000, max_value=10**12))
def test_thousands_separators_do_not_change_a_number(value: int) -> None:
    assert correct(rf"\boxed{{{value:,}}}", str(value))
    assert correct(rf"\boxed{{{value:,}}}".replace(",", "{,}"), str(value))


@FAST
@given(integers, integers)
def test_distinct_integers_never_match(a: int, b: int) -> None:
    if a != b:
        assert not correct(rf"\boxed{{{a}}}", str(b))


@FAST
@given(st.lists(st.integers(min_value=-9, max_value=9), min_size=2, max_size=5, unique=True))
def test_a_list_never_matches_one_of_its_members(values: list[int]) -> None:
    answer = r"\boxed{" + ", ".join(map(str, values)) + "}"
    for value in values:
        assert not correct(answer, str(value))


@FAST
@given(
    st.integers(min_value=1, max_value=9),
    st.integers(min_value=1, max_value=9),
    st.integers(min_value=1, max_value=9),
)
def test_expanded_polynomial_matches_its_factored_form(a: int, b: int, c: int) -> None:
    expanded = f"{a}x^2 + {a * (b + c)}x + {a * b * c}"
    assert correct(rf"\boxed{{{expanded}}}", f"{a}(x+{b})(x+{c})")


LATEX_PIECES = st.sampled_from(
    [
        "\\frac",
        "{",
        "}",
        "\\sqrt",
        "[",
        "]",
        "(",
        ")",
        "1",
        "2",
        "x",
        "^",
        "_",
        "+",
        "-",
        "/",
        "=",
        "<",
        ",",
        "\\pi",
    ]
    + [
        "\\infty",
        "\\cup",
        "\\{",
        "\\}",
        "|",
        "!",
        "\\%",
        "$",
        "\\boxed{",
        "\\text{",
        " and ",
        "&",
        "\\\\",
        ".",
    ]
    + [
        "\\begin{pmatrix}",
        "\\end{pmatrix}",
        "\\pm",
        "\\left(",
        "\\right)",
        "\\in",
        "99999",
        "\\sin",
        "^{",
        "i",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(LATEX_PIECES, max_size=30).map("".join),
    st.sampled_from(["1", r"\frac12", "[0,1)", "(1,2)", "x=2"]),
)
def test_arbitrary_latex_gets_a_verdict_never_a_crash(response: str, reference: str) -> None:
    outcome = judge(response, reference)
    assert outcome.status in (pb.CORRECT, pb.INCORRECT, pb.ERROR)
    assert outcome.message
