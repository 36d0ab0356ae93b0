"""Comparison rules and their options, on parsed answers."""

from __future__ import annotations

import pytest

from rlvr.verifier_server.verifiers.math import CompareConfig, compare_answers, parse_answer, parse_reference

DEFAULT = CompareConfig()


def match(reference: str, candidate: str, config: CompareConfig = DEFAULT) -> bool:
    return compare_answers(parse_answer(reference), parse_answer(candidate), config).match


def test_exact_rationals_never_use_a_tolerance() -> None:
    assert not match(r"\frac{1}{2004!}", r"\frac{1}{2006!}")
    assert not match("10^{-30}", "0")


def test_decimal_answers_use_relative_tolerance_and_their_last_digit() -> None:
    assert match(r"\sqrt{2}", "1.41421356")
    assert not match(r"\sqrt{2}", "1.414")
    assert match(r"\sqrt{2}", "1.414", CompareConfig(rel_tol=1e-3))
    assert not match("1", "1.0000001")


def test_rounded_reference_accepts_exact_answer_that_rounds_to_it() -> None:
    assert match("7.78", r"\frac{70}{9}")
    assert not match("0.5", "0.47")
    assert not match("7.78", r"\frac{70}{9}", CompareConfig(rounded_reference=False))


def test_list_order_is_an_option_but_tuples_are_always_ordered() -> None:
    assert match("1, 2", "2, 1")
    assert not match("1, 2", "2, 1", CompareConfig(ordered=True))
    assert not match("(1, 2)", "(2, 1)")
    assert match(r"\{1, 2\}", r"\{2, 1\}", CompareConfig(ordered=True))


def test_a_list_never_shrinks_to_one_of_its_values() -> None:
    assert not match("3", "3, 4")
    assert not match("3, 4", "3")


def test_percent_modes() -> None:
    assert match(r"28\%", "0.28")
    assert match(r"28\%", "28")
    assert match("0.28", r"28\%")
    assert match("28", r"28\%")  # the default (flexible), as the major graders' suites expect
    assert not match("28", "0.28")  # without a % sign nothing is rescaled
    assert not match("28", r"28\%", CompareConfig(percent="fraction"))
    assert match("0.28", r"28\%", CompareConfig(percent="fraction"))
    assert match("28", r"28\%", CompareConfig(percent="lenient"))
    assert not match(r"28\%", "0.28", CompareConfig(percent="strict"))
    assert not match("28", r"28\%", CompareConfig(percent="strict"))


def test_inequality_answers_an_interval_only_when_allowed() -> None:
    assert match(r"-2 \le x \le 7", "[-2, 7]")
    assert not match("[-2, 7]", r"-2 \le x \le 7")
    assert match("[-2, 7]", r"-2 \le x \le 7", CompareConfig(inequality_for_interval=True))
    assert not match("[-2, 7]", r"-2 < x \le 7", CompareConfig(inequality_for_interval=True))


def test_unit_modes() -> None:
    assert not match(r"5\text{ cm}", r"5\text{ m}")
    assert match(r"5\text{ cm}", r"5\text{ m}", CompareConfig(units="ignore"))
    assert match(r"5\text{ cm}", "5")


@pytest.mark.parametrize(
    ("reference", "candidate", "how"),
    [
        ("[0, 1)", "[0, 1)", "interval match"),
        (r"(0, 1) \cup (1, 2)", r"(1, 2) \cup (0, 1)", "set"),
        ("x^2 - 1", "(x-1)(x+1)", "rational functions (exact"),
        (r"\sin^2 x + \cos^2 x", "1", "equality"),
        ("2x + 4y = 6", "x + 2y = 3", "equivalent equations"),
        ("x < 1", "-x > -1", "equivalent inequalities"),
        (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", "(1, 2)", "matrix"),
    ],
)
def test_decision_records_how_it_was_made(reference: str, candidate: str, how: str) -> None:
    decision = compare_answers(parse_answer(reference), parse_answer(candidate))
    assert decision.match
    assert how in decision.how


def test_unordered_answer_listing_a_solution_twice_counts_it_once() -> None:
    assert match("(1,2),(2,1)", "(2,1),(1,2),(2,1)")
    assert match(r"\{4, 9\}", r"\{9, 4, 9\}")
    assert not match("(1,2),(2,1)", "(2,1),(1,2),(1,3)")
    assert not match("4, 4, 9", "4, 9, 9")  # the reference counts multiplicity, so the answer must too
    assert not match("4", "4, 4")  # one value is not a solution set
    assert not match("(4, 9)", "(4, 9, 9)")  # tuples are ordered: every position counts


def test_decimal_entries_match_exact_entries_when_correctly_rounded() -> None:
    assert match(
        r"\begin{pmatrix}\frac{1}{3}\\ \frac{1}{5}\end{pmatrix}", r"\begin{pmatrix}0.33\\0.2\end{pmatrix}"
    )
    assert match(r"(\frac{3}{5}, \frac{8}{3}]", "(0.6, 2.6667]")
    assert match(r"(\sqrt{2}, 1)", "(1.41, 1)")
    assert not match(r"(\frac{1}{3}, 1)", "(0.3, 1)")  # one significant digit is not an answer
    assert not match(r"(\frac{2}{3}, 1)", "(0.66, 1)")  # truncated, not rounded
    assert not match("(0.47, 1)", "(0.5, 1)")  # a terminating entry is exact: no rounding allowed
    assert not match(r"(\frac{3}{8}, 1)", "(0.38, 1)")
    assert not match(r"\frac{1}{3}", "0.33")  # a scalar keeps the scalar rules


def test_named_set_reference_needs_the_option_and_an_inequality_in_the_same_variable() -> None:
    def matches(reference: str, candidate: str, config: CompareConfig = DEFAULT) -> bool:
        return compare_answers(parse_reference(reference), parse_answer(candidate), config).match

    allowed = CompareConfig(inequality_for_interval=True)
    assert not matches(r"x \in [-2, 7]", r"-2 \le x \le 7")  # the default asks for the set
    assert matches(r"x \in [-2, 7]", r"-2 \le x \le 7", allowed)
    assert not matches(r"x \in [-2, 7]", r"-2 \le y \le 7", allowed)  # another variable
    assert not matches(r"x \in [-2, 7]", r"-2 < x \le 7", allowed)


def test_equation_naming_a_length_states_its_value_but_a_relation_does_not() -> None:
    def matches(reference: str, candidate: str) -> bool:
        return compare_answers(parse_reference(reference), parse_answer(candidate)).match

    assert matches("|AB| = 1", "1")
    assert matches("A:B = 3", "3")
    assert not matches("|AB| = 1", "2")
    assert not matches("x + y = 1", "1")
    assert not matches("|x - y| = 1", "1")


def test_rational_functions_are_decided_exactly_however_high_the_powers() -> None:
    decision = compare_answers(parse_answer("(a+b+c+d+1)^{60}"), parse_answer("(a+b+c+d+2)^{60}"))
    assert not decision.match and "exact" in decision.how
    assert match("(x+1)^{45}", "(x+1)^{44}x + (x+1)^{44}")
    assert not match("(x+1)^{20}", "(x+1)^{21}")
    assert not match("x^{40}+1", "x^{40}+1+10^{-30}x")  # no tolerance: the difference is exact


def test_rational_identity_refuses_what_is_not_a_rational_function() -> None:
    from rlvr.verifier_server.verifiers.math.numeric import rational_identity

    x = parse_answer("x").value
    assert rational_identity(x**2 - 1, (x - 1) * (x + 1)) is True
    assert rational_identity(x**2, x**3) is False
    assert rational_identity(parse_answer(r"\sqrt{x}").value, x) is None


def test_numeric_points_reject_an_answer_equal_only_on_part_of_the_domain() -> None:
    assert not match("x", r"\sqrt{x^2}")
    assert match("|x|", r"\sqrt{x^2}")
    assert not match(r"\sqrt{x^2+2x+1}", "x+1")
    assert match(r"\sqrt[3]{x^2}", "x^{2/3}")  # differ only off the real branch: checked where x > 0


def test_numeric_points_refuse_rather_than_accept_when_values_are_too_small_to_compare() -> None:
    from rlvr.verifier_server.verifiers.math.numeric import agree_at_random_points

    x = parse_answer("x").value
    tiny = parse_answer("10^{-40}").value
    assert agree_at_random_points(tiny * x, 2 * tiny * x, 6, 1e-20) is None


def test_percent_on_one_side_reads_as_written_or_as_a_fraction_by_default() -> None:
    assert match("10", r"10\%") and match("0.1", r"10\%") and match(r"10\%", "10")
    assert not match("10", r"11\%")
