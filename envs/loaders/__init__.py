"""Dataset loaders: rows in the public datasets' schemas (JSONL / Parquet files or `datasets` objects) as tasks."""

from rlvr.envs.loaders.code_sets import load_code_contests, load_humaneval_tasks, load_mbpp
from rlvr.envs.loaders.math_sets import gsm8k_answer, last_boxed, load_gsm8k, load_math
from rlvr.envs.loaders.rows import DatasetFormatError, read_rows

__all__ = [
    "DatasetFormatError",
    "gsm8k_answer",
    "last_boxed",
    "load_code_contests",
    "load_gsm8k",
    "load_humaneval_tasks",
    "load_math",
    "load_mbpp",
    "read_rows",
]
