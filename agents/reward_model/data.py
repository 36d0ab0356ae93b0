"""Preference pairs for reward-model training: prompt/chosen/rejected JSONL, or pairs made from `rlvr sample` output.

A line with `chosen` and `rejected` is one pair (plain strings, or TRL's conversational form that
`rlvr filter --style dpo` writes). A line with `completion` is a scored sample: per prompt, every
correct completion is paired with every incorrect one (at most `pairs_per_prompt` pairs); samples
whose correctness is unknown (TIMEOUT, ERROR) pair with nothing. The prompt of a pair is the text the
`reward_model` verifier will see as `VerifyRequest.prompt`: a sample's `request.prompt` when it has
one, else its prompt (a chat prompt's last user message).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

from rlvr.agents.evaluation import is_correct, prompt_key
from rlvr.errors import RlvrError


class PreferenceDataError(RlvrError, ValueError):
    """The preference file cannot be used; the message names the file, the line and what to fix."""


@dataclass(frozen=True)
class PreferencePair:
    """One preference: `chosen` is the better completion of `prompt`; `group` names the prompt (for splits)."""

    prompt: str
    chosen: str
    rejected: str
    group: str


def read_pairs(path: str | Path, *, pairs_per_prompt: int = 4) -> list[PreferencePair]:
    """Every preference pair in the JSONL file `path`, in file order (sample pairs at their prompt's first line)."""
    path = Path(path)
    pairs: list[PreferencePair] = []
    samples: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for number, row in _rows(path):
        where = f"{path}:{number}"
        if "chosen" in row and "rejected" in row:
            prompt = _text(row.get("prompt", ""), where, "prompt", role="user")
            chosen = _text(row["chosen"], where, "chosen", role="assistant")
            rejected = _text(row["rejected"], where, "rejected", role="assistant")
            pairs.append(PreferencePair(prompt, chosen, rejected, prompt))
        elif "completion" in row:
            _text(row["completion"], where, "completion")
            sample_prompt(row, where)
            samples[prompt_key(row)].append(row)
        else:
            raise PreferenceDataError(
                f"{where}: a line needs prompt + chosen + rejected (a preference pair) or completion + "
                f"correct/status (an `rlvr sample` record); it has {', '.join(sorted(row)) or 'no fields'}"
            )
    for group in samples.values():
        pairs.extend(sample_pairs(group, pairs_per_prompt))
    if not pairs:
        hint = (
            f"none of its {len(samples)} prompts has both a correct and an incorrect completion"
            if samples
            else "it holds no lines"
        )
        raise PreferenceDataError(f"no preference pairs in {path}: {hint}")
    return pairs


def sample_pairs(records: list[dict[str, Any]], pairs_per_prompt: int) -> list[PreferencePair]:
    """(correct, incorrect) pairs of one prompt's samples, spread over both sides before repeating either."""
    correct = [r for r in records if is_correct(r) is True]
    wrong = [r for r in records if is_correct(r) is False]
    if not correct or not wrong:
        return []
    order = sorted(product(range(len(correct)), range(len(wrong))), key=lambda ij: (max(ij), ij))
    prompt = sample_prompt(records[0])
    return [
        PreferencePair(prompt, correct[i]["completion"], wrong[j]["completion"], prompt)
        for i, j in order[:pairs_per_prompt]
    ]


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PreferenceDataError(f"cannot read {path}: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise PreferenceDataError(f"{path}:{number}: not a JSON line ({exc})") from None
        if not isinstance(row, dict):
            raise PreferenceDataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        yield number, row


def sample_prompt(record: dict[str, Any], where: str = "sample") -> str:
    """The prompt the verifier sees for a sample record: its `request.prompt`, else its prompt's text."""
    request_prompt = (record.get("request") or {}).get("prompt")
    if isinstance(request_prompt, str) and request_prompt:
        return request_prompt
    return _text(record.get("prompt", ""), where, "prompt", role="user")


def _text(value: Any, where: str, field: str, *, role: str = "assistant") -> str:
    """A string field, or the last `role` message's content of a conversational (list of messages) field."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        contents = [m.get("content") for m in value if m.get("role") == role] or [
            m.get("content") for m in value
        ]
        if contents and isinstance(contents[-1], str):
            return contents[-1]
    raise PreferenceDataError(
        f"{where}: field {field!r} must be a string or a list of chat messages with string content, got {value!r:.80}"
    )
