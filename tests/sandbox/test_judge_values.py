"""Host-side pieces of the judge without a sandbox: the value codec, comparisons, assert conversion."""

from __future__ import annotations

import math

import pytest

from rlvr.sandbox.drivers.pydriver import MAX_DEPTH, ValueCodecError, decode_value, encode_value
from rlvr.sandbox.judge.asserts import calls_from_script
from rlvr.sandbox.judge.outputs import compare_stdout, describe, normalise_stdout, values_equal


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -7, 2**100, 1.5, -0.0, math.inf, "", "é\u2603\ud800", [1, [2.0]], (1, "a"), (),
     {1, 2}, frozenset({3}), {"a": 1, 2: (3,), (1, 2): None}, [[[]]]],
)  # fmt: skip
def test_plain_values_round_trip_with_their_exact_types(value):
    back = decode_value(encode_value(value))
    assert back == value
    assert type(back) is (set if type(value) is frozenset else type(value))


def test_codec_keeps_ints_floats_and_bools_apart():
    assert [type(v) for v in decode_value(encode_value([3, 3.0, True]))] == [int, float, bool]
    assert math.isnan(decode_value(encode_value(float("nan"))))


class AlwaysEqual:
    def __eq__(self, other):
        return True


class SneakyInt(int):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize(
    "value",
    [
        AlwaysEqual(),
        SneakyInt(3),
        type("S", (str,), {})("x"),
        [1, SneakyInt(2)],
        b"bytes",
        1j,
        print,
        iter([1]),
    ],
)
def test_encoder_refuses_anything_but_exact_plain_data(value):
    with pytest.raises(ValueCodecError):
        encode_value(value)


def test_encoder_refuses_cycles_and_deep_nesting():
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(ValueCodecError):
        encode_value(cyclic)
    deep: list = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(ValueCodecError):
        encode_value(deep)


@pytest.mark.parametrize(
    "text",
    ['{"a": 1}', '{"tuple": 1}', '{"set": [[1]]}', '{"dict": [[1]]}', '{"dict": [[[1], 2]]}', "[1,", "nope",
     "[" * 5000 + "]" * 5000],
)  # fmt: skip
def test_decoder_refuses_malformed_wire_values(text):
    with pytest.raises(ValueCodecError):
        decode_value(text)


def test_bools_never_equal_numbers():
    assert not values_equal(True, 1, json_mode=False)
    assert not values_equal(1, True, json_mode=True)
    assert not values_equal(0, False, json_mode=False)
    assert values_equal(False, False, json_mode=False)


def test_ints_and_floats_compare_by_value_and_big_ints_exactly():
    assert values_equal(3.0, 3, json_mode=True)
    assert values_equal(3, 3.0, json_mode=False)
    assert not values_equal(2**60 + 1, 2**60, json_mode=False)
    assert not values_equal(float("nan"), float("nan"), json_mode=False)
    assert not values_equal("3", 3, json_mode=True)


def test_float_tolerance_is_absolute_below_one_and_relative_above():
    assert values_equal(0.1 + 0.2, 0.3, json_mode=True, float_tolerance=1e-9)
    assert not values_equal(0.1 + 0.2, 0.3, json_mode=True)
    assert values_equal(1e6 + 0.5, 1e6, json_mode=True, float_tolerance=1e-6)
    assert not values_equal(1e-3, 0.0, json_mode=True, float_tolerance=1e-6)


def test_tuples_equal_lists_only_in_json_mode():
    assert values_equal((1, 2), [1, 2], json_mode=True)
    assert not values_equal((1, 2), [1, 2], json_mode=False)
    assert not values_equal([1, 2], (1, 2), json_mode=False)
    assert values_equal((1, [2]), (1, [2]), json_mode=False)


def test_dicts_and_sets_compare_by_content_and_kind():
    assert values_equal({"a": [1, 2]}, {"a": [1, 2]}, json_mode=True)
    assert not values_equal({"a": [1, 2], "b": 1}, {"a": [1, 2]}, json_mode=True)
    assert not values_equal({1: "x"}, {"1": "x"}, json_mode=True)
    assert values_equal({1, 2}, {2, 1}, json_mode=False)
    assert not values_equal({1, 2}, {1, 2}, json_mode=True)
    assert not values_equal([1, 2], {1, 2}, json_mode=False)


def test_stdout_ignores_trailing_whitespace_and_blank_lines_only():
    assert normalise_stdout("a b \r\n c\t\n\n\n") == ["a b", " c"]
    assert compare_stdout("3", "3\n") is None
    assert compare_stdout("3  \n\n", "3\n") is None
    assert compare_stdout(" 3\n", "3\n") == "line 1: expected '3', got ' 3'"
    assert compare_stdout("3 4\n", "3  4\n") is not None
    assert compare_stdout("", "3\n") == "no output"
    assert compare_stdout("1\n2\n", "1\n") == "expected 1 lines, got 2"
    assert compare_stdout("", "") is None


def test_stdout_float_tolerance_compares_tokens():
    assert compare_stdout("0.3333333\n", "0.333333333\n", float_tolerance=1e-6) is None
    assert compare_stdout("0.3334\n", "0.333333333\n", float_tolerance=1e-6) is not None
    assert compare_stdout("1 2\n3", "1\n2 3\n", float_tolerance=1e-6) is None
    assert compare_stdout("nan", "nan", float_tolerance=1e-6) is None
    assert compare_stdout("yes", "no", float_tolerance=1e-6) == "token 1: expected 'no', got 'yes'"


HUMANEVAL_STYLE = '''
from typing import List

METADATA = {"author": "jt", "dataset": "test"}


def check(candidate):
    """doc"""
    assert candidate([1, 2], 0.5) == True
    assert candidate([], 0.5) is False, "empty"
    assert candidate(xs=(1, -2)) == {"a": (1, 2)}
    assert True

check(has_close)
'''


def test_humaneval_style_checks_become_calls_with_host_side_expectations():
    checks = calls_from_script(HUMANEVAL_STYLE)
    assert checks is not None
    assert [(c.function, c.args, c.kwargs, c.expected) for c in checks] == [
        ("has_close", [[1, 2], 0.5], {}, True),
        ("has_close", [[], 0.5], {}, False),
        ("has_close", [], {"xs": (1, -2)}, {"a": (1, 2)}),
    ]
    assert checks[0].source == "candidate([1, 2], 0.5) == True"


def test_mbpp_style_top_level_asserts_become_calls():
    checks = calls_from_script("import math\nassert add(1, 2) == 3\nassert 4 == add(2, 2)\n")
    assert checks is not None
    assert [(c.function, c.args, c.expected, c.line) for c in checks] == [
        ("add", [1, 2], 3, 2),
        ("add", [2, 2], 4, 3),
    ]


@pytest.mark.parametrize(
    "code",
    [
        "assert abs(add(1, 2) - 3) < 1e-6",  # a tolerance
        "assert add(1, 2) == 1 + 2",  # a computed expectation
        "x = 1\nassert add(x, 2) == 3",  # a non-literal argument
        "assert add(1, 2)",  # truthiness
        "assert add(*[1, 2]) == 3",
        "for i in range(3):\n    assert add(i, 0) == i",
        "def check(candidate):\n    assert candidate(1) == 1\n    print('x')\ncheck(f)",
        "def helper(x):\n    return x\nassert helper(1) == 1",
        "assert add(1, 2) == 3\nassert add(b'x', 2) == 3",  # bytes are not plain data
        "assert True",  # nothing to call
        "def check(c):\n  assert c(1) == 1\ncheck(check)",
        "this is not python",
    ],
)
def test_other_test_code_is_left_to_run_as_a_script(code):
    assert calls_from_script(code) is None


def test_ints_of_any_size_cross_the_codec():
    huge = 7**20000  # past Python's 4300-digit decimal conversion limit
    assert decode_value(encode_value([huge, -huge, 2**64, -(2**64), 2**63])) == [
        huge,
        -huge,
        2**64,
        -(2**64),
        2**63,
    ]
    with pytest.raises(ValueCodecError):
        decode_value('{"int": "12g"}')


def test_messages_describe_values_too_large_to_print():
    assert describe(7**20000) == "<int too large to show>"
    assert describe([1, "a"]) == "[1, 'a']"
