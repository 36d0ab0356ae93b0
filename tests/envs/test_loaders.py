"""Dataset loaders: the ground truth each public schema holds, files and `datasets` objects, clear errors."""

from __future__ import annotations

import json

import gymnasium
import pytest

from rlvr.envs.loaders import (
    DatasetFormatError,
    gsm8k_answer,
    last_boxed,
    load_code_contests,
    load_gsm8k,
    load_math,
    load_mbpp,
    read_rows,
)

from .helpers import DATA


def test_gsm8k_ground_truth_is_the_number_after_the_hashes_without_separators():
    tasks = load_gsm8k(DATA / "gsm8k.jsonl")
    assert [t.ground_truth for t in tasks] == ["16", "1125", "14", "15", "7"]
    assert gsm8k_answer("so\n#### -3.5 ") == "-3.5"
    with pytest.raises(DatasetFormatError, match="####"):
        gsm8k_answer("no final line")


def test_math_ground_truth_is_the_last_boxed_answer_and_levels_are_difficulties():
    tasks = load_math(DATA / "math.jsonl")
    assert [t.ground_truth for t in tasks] == ["\\frac{5}{6}", "6", "9", "6\\sqrt{2}", "24", "13"]
    assert [t.difficulty for t in tasks] == [1, 1, 2, 3, 4, 5]
    assert [t.ground_truth for t in load_math(DATA / "math.jsonl", levels=(4, 5))] == ["24", "13"]
    assert last_boxed("a \\boxed{1} then \\boxed{\\frac{a}{\\sqrt{b}}} end") == "\\frac{a}{\\sqrt{b}}"
    assert last_boxed("\\boxed{unclosed") is None and last_boxed("none") is None


def test_math500_rows_use_their_answer_field_and_id():
    tasks = load_math(DATA / "math500.jsonl")
    assert [(t.id, t.ground_truth, t.difficulty) for t in tasks] == [
        ("test/counting_and_probability/1.json", "15", 2),
        ("test/prealgebra/2.json", "\\frac{1}{3}", 3),
    ]


def test_mbpp_asserts_become_script_tests_after_the_setup_code():
    tasks = load_mbpp(DATA / "mbpp.jsonl")
    assert [t.id for t in tasks] == ["mbpp-2", "mbpp-3", "mbpp-17", "mbpp-901"]
    last = tasks[-1]
    assert [t.script.code for t in last.tests] == [
        "DATA = [1, 2, 3]\nassert add_all(DATA) == 6",
        "DATA = [1, 2, 3]\nassert add_all([]) == 0",
    ]
    assert "assert add_all(DATA) == 6" in last.prompt and last.language == "python"
    assert len(load_mbpp(DATA / "mbpp.jsonl", with_challenge_tests=True)[-1].tests) == 3


def test_apps_stdio_rows_load_and_call_based_rows_are_skipped():
    tasks = load_code_contests(DATA / "apps.jsonl")
    assert [t.id for t in tasks] == ["apps-4001", "apps-4002"]
    assert [(t.stdio.input, t.stdio.output) for t in tasks[0].tests][0] == ("1 2\n", "3\n")
    assert [t.difficulty for t in tasks] == [1, 2]


def test_code_contests_rows_merge_public_private_and_generated_tests():
    tasks = load_code_contests(DATA / "code_contests.jsonl")
    assert [len(t.tests) for t in tasks] == [3, 3]
    assert tasks[0].metadata["solution"].startswith("print(' '.join(")  # the Python 3 solution
    assert [len(t.tests) for t in load_code_contests(DATA / "code_contests.jsonl", max_tests=1)] == [1, 1]


def test_parquet_files_load_like_jsonl(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow

    rows = read_rows(DATA / "gsm8k.jsonl")
    path = tmp_path / "gsm8k.parquet"
    pq.write_table(pyarrow.Table.from_pylist(rows), path)
    assert [t.ground_truth for t in load_gsm8k(path)] == [
        t.ground_truth for t in load_gsm8k(DATA / "gsm8k.jsonl")
    ]


def test_a_hugging_face_dataset_object_is_accepted():
    datasets = pytest.importorskip("datasets")
    rows = read_rows(DATA / "math.jsonl")
    split = datasets.Dataset.from_list(rows)
    env = gymnasium.make("rlvr/MATH-v0", dataset=split).unwrapped
    assert env.source.size == len(rows)
    with pytest.raises(DatasetFormatError, match="one split"):
        load_math(datasets.DatasetDict({"test": split}))


def test_json_array_files_and_limits(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(read_rows(DATA / "gsm8k.jsonl")))
    assert len(load_gsm8k(path, limit=2)) == 2


@pytest.mark.parametrize(
    ("content", "suffix", "match"),
    [
        ('{"question": "q"}\n', ".jsonl", "missing field 'answer'"),
        ("not json\n", ".jsonl", ":1: not a JSON object"),
        ("[1, 2]", ".json", "row 0 is not a JSON object"),
        ("a,b\n", ".csv", "unknown file type"),
    ],
)
def test_bad_files_are_refused_with_where_and_why(tmp_path, content, suffix, match):
    path = tmp_path / f"rows{suffix}"
    path.write_text(content)
    with pytest.raises(DatasetFormatError, match=match):
        load_gsm8k(path)


def test_a_missing_file_and_an_empty_dataset_are_refused():
    with pytest.raises(DatasetFormatError, match="no such file"):
        load_gsm8k("/nonexistent/gsm8k.jsonl")
    with pytest.raises(Exception, match="no tasks"):
        gymnasium.make("rlvr/GSM8K-v0", dataset=[])
