"""Rejection sampling to SFT and preference data: R1 (verified, clean, deduplicated), Kimi (shortest
correct) and DPO pairs, written in the conversational formats TRL's SFT and DPO trainers read.

Checks that need a verifier (format, language consistency) go through `rlvr.verify_batch`, so they are
the same checks the reward specs use.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rlvr.agents.evaluation import is_correct, prompt_key

Style = Literal["r1", "kimi", "dpo"]
_CODE_BLOCK = re.compile(r"```")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FilterConfig:
    """What the filters keep.

    R1: correct, not truncated, passing the format check (`format`: "auto" uses a stored `format`
    component when there is one, "none" skips it, else a `format` verifier template name such as
    "think_answer"), chain of thought at least `min_language` in `language` (the
    `language_consistency` verifier; 0 skips it), no code blocks unless the task is code, no
    paragraph over `max_paragraph_chars`, duplicates dropped, at most `max_per_prompt` per prompt.
    DPO: chosen = the shortest correct sample; rejected = a wrong one, else a correct one at least
    `length_ratio` times longer; `pairs_per_prompt` pairs at most.
    """

    max_per_prompt: int = 4
    format: str = "auto"
    language: str = "en"
    min_language: float = 0.95
    max_paragraph_chars: int = 2000
    drop_code_blocks: bool = True
    length_ratio: float = 1.5
    pairs_per_prompt: int = 1
    with_metadata: bool = False


def _length(record: dict[str, Any]) -> tuple[int, int]:
    tokens = record.get("completion_tokens")
    chars = len(record.get("completion", ""))
    return (int(tokens) if tokens is not None else chars, chars)


def _normalised(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _is_code_task(record: dict[str, Any]) -> bool:
    return bool((record.get("request") or {}).get("tests"))


def _messages(prompt: Any) -> list[dict[str, str]] | None:
    return [dict(m) for m in prompt] if isinstance(prompt, list) else None


def sft_row(record: dict[str, Any], config: FilterConfig) -> dict[str, Any]:
    """A TRL SFT row: conversational prompt-completion for chat prompts, plain text otherwise."""
    messages = _messages(record["prompt"])
    if messages is not None:
        row: dict[str, Any] = {
            "prompt": messages,
            "completion": [{"role": "assistant", "content": record["completion"]}],
        }
    else:
        row = {"prompt": record["prompt"], "completion": record["completion"]}
    return _with_metadata(row, [record], config)


def dpo_row(chosen: dict[str, Any], rejected: dict[str, Any], config: FilterConfig) -> dict[str, Any]:
    """A TRL DPO row: prompt, chosen, rejected (conversational for chat prompts)."""
    messages = _messages(chosen["prompt"])
    if messages is not None:
        row: dict[str, Any] = {
            "prompt": messages,
            "chosen": [{"role": "assistant", "content": chosen["completion"]}],
            "rejected": [{"role": "assistant", "content": rejected["completion"]}],
        }
    else:
        row = {"prompt": chosen["prompt"], "chosen": chosen["completion"], "rejected": rejected["completion"]}
    return _with_metadata(row, [chosen, rejected], config)


def _with_metadata(
    row: dict[str, Any], records: Sequence[dict[str, Any]], config: FilterConfig
) -> dict[str, Any]:
    if config.with_metadata:
        row["metadata"] = {
            "task_id": records[0].get("task_id"),
            "source": records[0].get("source"),
            "samples": [r.get("sample_index") for r in records],
            "rewards": [r.get("reward") for r in records],
        }
    return row


@dataclass
class FilterReport:
    """Rows written and, per reason, how many samples were dropped."""

    prompts: int = 0
    rows: int = 0
    dropped: dict[str, int] | None = None

    def drop(self, reason: str, count: int = 1) -> None:
        if not count:
            return
        self.dropped = self.dropped or {}
        self.dropped[reason] = self.dropped.get(reason, 0) + count


def _verifier_scores(
    records: Sequence[dict[str, Any]], verifier: str, options: dict[str, Any], verify_batch: Callable
) -> list[float]:
    requests = [
        {"id": str(i), "verifier": verifier, "response": r["completion"], "options": options}
        for i, r in enumerate(records)
    ]
    return [float(response.reward) for response in verify_batch(requests)]


def r1_filter(
    records: Sequence[dict[str, Any]], config: FilterConfig, report: FilterReport, verify_batch: Callable
) -> list[dict[str, Any]]:
    """The records R1-style rejection sampling keeps, in prompt then sample order."""
    kept = []
    for record in records:
        if is_correct(record) is not True:
            report.drop("not correct")
        elif record.get("finish_reason") == "length":
            report.drop("truncated")
        elif (
            config.drop_code_blocks and not _is_code_task(record) and _CODE_BLOCK.search(record["completion"])
        ):
            report.drop("code block")
        elif any(len(p) > config.max_paragraph_chars for p in record["completion"].split("\n\n")):
            report.drop("long paragraph")
        else:
            kept.append(record)
    if config.format == "auto":
        checked = []
        for record in kept:
            value = (record.get("components") or {}).get("format")
            if value is not None and float(value) < 1.0:
                report.drop("format")
            else:
                checked.append(record)
        kept = checked
    elif config.format != "none" and kept:
        scores = _verifier_scores(kept, "format", {"template": config.format}, verify_batch)
        report.drop("format", sum(s < 1.0 for s in scores))
        kept = [r for r, s in zip(kept, scores) if s >= 1.0]
    if config.min_language > 0 and kept:
        options = {"language": config.language}
        think = [r for r in kept if "</think>" in r["completion"]]
        plain = [r for r in kept if "</think>" not in r["completion"]]
        language = dict(
            zip(map(id, think), _verifier_scores(think, "language_consistency", options, verify_batch))
        )
        language.update(
            zip(
                map(id, plain),
                _verifier_scores(
                    plain, "language_consistency", {**options, "source": "response"}, verify_batch
                ),
            )
        )
        report.drop("mixed language", sum(language[id(r)] < config.min_language for r in kept))
        kept = [r for r in kept if language[id(r)] >= config.min_language]
    out: list[dict[str, Any]] = []
    by_prompt: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for record in kept:
        by_prompt[prompt_key(record)].append(record)
    for key in sorted(by_prompt, key=_order):
        group = by_prompt[key]
        seen: set[str] = set()
        taken = 0
        for record in sorted(group, key=lambda r: r.get("sample_index", 0)):
            text = _normalised(record["completion"])
            if text in seen:
                report.drop("duplicate")
                continue
            if taken >= config.max_per_prompt:
                report.drop("over max per prompt")
                continue
            seen.add(text)
            taken += 1
            out.append(record)
    return out


def kimi_filter(records: Sequence[dict[str, Any]], report: FilterReport) -> list[dict[str, Any]]:
    """Per prompt, the shortest correct, untruncated sample (Kimi k1.5's shortest rejection sampling)."""
    out = []
    for group in _by_prompt(records):
        correct = [r for r in group if is_correct(r) is True and r.get("finish_reason") != "length"]
        if correct:
            out.append(min(correct, key=_length))
            report.drop("longer correct", len(correct) - 1)
        report.drop("not correct", len(group) - len(correct))
    return out


def dpo_pairs(
    records: Sequence[dict[str, Any]], config: FilterConfig, report: FilterReport
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Per prompt: (chosen, rejected) pairs; chosen the shortest correct sample, rejected a wrong one
    (longest first: the most to unlearn) or else a correct one `length_ratio` times longer."""
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for group in _by_prompt(records):
        correct = sorted(
            (r for r in group if is_correct(r) is True and r.get("finish_reason") != "length"), key=_length
        )
        if not correct:
            report.drop("no correct sample", len(group))
            continue
        chosen = correct[0]
        wrong = sorted((r for r in group if is_correct(r) is False), key=_length, reverse=True)
        long = [r for r in reversed(correct) if _length(r)[0] >= config.length_ratio * _length(chosen)[0]]
        rejected = (wrong + long)[: config.pairs_per_prompt]
        if not rejected:
            report.drop("no rejected candidate", len(group))
        pairs.extend((chosen, r) for r in rejected)
    return pairs


def _by_prompt(records: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[prompt_key(record)].append(record)
    for key in sorted(groups, key=_order):
        yield sorted(groups[key], key=lambda r: r.get("sample_index", 0))


def _order(key: tuple) -> tuple:
    """Prompts in run order (a file holds them in arrival order)."""
    source, index, task = key
    return (source, index if isinstance(index, int) else -1, task)


def filter_records(
    records: Sequence[dict[str, Any]],
    style: Style,
    config: FilterConfig,
    verify_batch: Callable | None = None,
) -> tuple[list[dict[str, Any]], FilterReport]:
    """The training rows of `style` built from sample `records`, and what was dropped and why."""
    from rlvr import verify_batch as local_verify_batch

    check = verify_batch or local_verify_batch
    report = FilterReport(prompts=len({prompt_key(r) for r in records}))
    if style == "r1":
        rows = [sft_row(r, config) for r in r1_filter(records, config, report, check)]
    elif style == "kimi":
        rows = [sft_row(r, config) for r in kimi_filter(records, report)]
    elif style == "dpo":
        rows = [dpo_row(c, r, config) for c, r in dpo_pairs(records, config, report)]
    else:
        raise ValueError(f"filter style {style!r}: pass r1, kimi or dpo")
    report.rows = len(rows)
    return rows, report
