"""The `reasoning_gym` verifier: a reasoning-gym task's own `score_answer` on the `<answer>` of a response."""

from __future__ import annotations

import importlib.metadata
import json
from functools import lru_cache
from typing import Any

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import CORRECT, INCORRECT, PARTIAL, Outcome, quote
from rlvr.verifier_server.engine.registry import Options, Verifier, register

INSTALL_HINT = "pip install reasoning-gym (or, in the rlvr checkout, pip install -e '.[reasoning-gym]')"


def _package_version() -> str:
    try:
        return importlib.metadata.version("reasoning-gym")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


@lru_cache(maxsize=32)
def _dataset(task: str, config_json: str, seed: int, size: int) -> Any:
    """The dataset whose `score_answer` judges `task` (built once per worker; some scorers read its config)."""
    import reasoning_gym

    return reasoning_gym.create_dataset(task, size=size, seed=seed, **json.loads(config_json))


def task_options(
    task: str, entry: dict[str, Any], config: dict[str, Any], seed: int, size: int
) -> dict[str, Any]:
    """The request options that let this verifier score an answer to `entry` of dataset `task`.

    The entry travels as JSON text: a protobuf Struct would widen its integers to doubles.
    """
    return {
        "task": task,
        "entry_json": json.dumps(entry, default=_jsonable),
        "config_json": json.dumps(config, sort_keys=True),
        "dataset_seed": seed,
        "dataset_size": size,
    }


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, (set, frozenset)) else str(value)


@register
class ReasoningGymVerifier(Verifier):
    """Scores the last `<answer>…</answer>` of the response with reasoning-gym's `score_answer`.

    Options: `task` (a reasoning-gym dataset name, required), `entry_json` (the dataset entry, as
    JSON; without it the entry is `{"question": prompt, "answer": ground_truth, "metadata": {}}`),
    `config_json`, `dataset_seed`, `dataset_size` (how the dataset was made; its scorer may read them).
    Reward: the score in [0, 1]; CORRECT at 1, PARTIAL between, INCORRECT at 0 (and with no
    `<answer>` tag). ERROR when reasoning-gym is not installed where the check runs.
    """

    name = "reasoning_gym"
    version = f"1+reasoning-gym-{_package_version()}"
    description = "a reasoning-gym task's own score_answer on the <answer> (needs reasoning-gym)"
    isolated = True  # some scorers parse with sympy or run searches

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        task = options.get("task")
        if not isinstance(task, str) or not task:
            raise InvalidRequest(
                "reasoning_gym needs option 'task', a reasoning-gym dataset name such as 'leg_counting'"
            )
        entry = _entry(request, options)
        try:
            from reasoning_gym.utils import extract_answer
        except ImportError:
            return Outcome.error(
                f"reasoning_gym: the reasoning-gym package is not installed here: {INSTALL_HINT}"
            )
        config = options.get("config_json", "{}")
        seed, size = options.get("dataset_seed", 0), options.get("dataset_size", 1)
        if not isinstance(config, str) or not isinstance(seed, int) or not isinstance(size, int) or size < 1:
            raise InvalidRequest(
                "reasoning_gym options: config_json must be JSON text, dataset_seed an integer and "
                f"dataset_size a positive integer; got {config!r}, {seed!r}, {size!r}"
            )
        try:
            dataset = _dataset(task, config, seed, size)
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidRequest(f"reasoning_gym: task {task!r} with config {config}: {exc}") from None
        answer = extract_answer(request.response)
        reward = float(dataset.score_answer(answer, entry))
        found = "no <answer> tag" if answer is None else f"answer {quote(answer, 80)}"
        message = f"reasoning-gym {task} score {reward:g} for {found}"
        status = CORRECT if reward >= 1.0 else PARTIAL if reward > 0 else INCORRECT
        return Outcome(min(max(reward, 0.0), 1.0), status, message)


def _entry(request: pb.VerifyRequest, options: Options) -> dict[str, Any]:
    raw = options.get("entry_json")
    if raw is None:
        return {"question": request.prompt, "answer": request.ground_truth, "metadata": {}}
    try:
        entry = json.loads(raw) if isinstance(raw, str) else None
    except ValueError as exc:
        raise InvalidRequest(f"reasoning_gym option entry_json is not JSON: {exc}") from None
    if not isinstance(entry, dict) or "answer" not in entry:
        raise InvalidRequest("reasoning_gym option entry_json must be a JSON object with an 'answer'")
    return entry
