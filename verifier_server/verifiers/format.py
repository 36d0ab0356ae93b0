"""Format reward: does the completion follow a template (`<think>…</think><answer>…</answer>` by default)?"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import regex

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import PARTIAL, Outcome, quote
from rlvr.verifier_server.engine.registry import Options, Verifier, register
from rlvr.verifier_server.engine.specs import get_option

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
# One token at a time: an escaped character (so \{ and \} do not count) or a brace.
_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.DOTALL)
_BOXED = "\\boxed{"
_MAX_PATTERN_CHARS = 2000
_MAX_PATTERN_SECONDS = 5.0  # the check runs inline, on the caller's thread


@dataclass(frozen=True)
class Template:
    """A structured template: `tags` must each appear once, in order, non-empty, with only whitespace
    around them; `boxed` asks for a closed, non-empty last `\\boxed{}` (inside the last tag if any)."""

    tags: tuple[str, ...] = ()
    boxed: bool = False


TEMPLATES: dict[str, Template] = {
    "think_answer": Template(tags=("think", "answer")),
    "answer_only": Template(tags=("answer",)),
    "boxed": Template(boxed=True),
}


@dataclass(frozen=True)
class Criterion:
    """One requirement of a template and whether the completion meets it (`problem` says why not)."""

    name: str
    met: bool
    problem: str = ""


def check_template(text: str, template: Template) -> list[Criterion]:
    """Evaluate every criterion of `template` on `text`; linear time, no regular-expression backtracking.

    Criteria: per tag "one <t>…</t> block" and "<t> non-empty"; with several tags "tags in order";
    with tags "nothing outside the tags"; with `boxed` "closed \\boxed{}" and "\\boxed{} non-empty".
    """
    criteria: list[Criterion] = []
    blocks: list[tuple[int, int, str]] = []  # start, end, content of each tag found exactly once
    for tag in template.tags:
        block, problem = _find_block(text, tag)
        criteria.append(Criterion(f"one <{tag}>…</{tag}> block", block is not None, problem))
        content = block[2] if block else ""
        criteria.append(
            Criterion(f"<{tag}> non-empty", bool(content.strip()), "" if block is None else "empty")
        )
        if block:
            blocks.append(block)
    by_position = sorted(blocks)
    disjoint = all(a[1] <= b[0] for a, b in zip(by_position, by_position[1:]))
    complete = len(blocks) == len(template.tags)
    if len(template.tags) > 1:
        ordered = disjoint and complete and blocks == by_position
        criteria.append(
            Criterion("tags in order", ordered, "" if ordered else "tags missing, nested or out of order")
        )
    if template.tags:
        outside = _outside_text(text, by_position) if disjoint else None
        clean = outside is not None and not outside.strip()
        problem = "tags overlap" if outside is None else f"text outside the tags: {_excerpt(outside.strip())}"
        criteria.append(Criterion("nothing outside the tags", clean, "" if clean else problem))
    if template.boxed:
        region = (blocks[-1][2] if template.tags else text) if complete else None
        box = last_boxed(region) if region is not None else None
        where = f" in <{template.tags[-1]}>" if template.tags else ""
        criteria.append(Criterion(f"closed \\boxed{{}}{where}", box is not None, "none found or unclosed"))
        criteria.append(Criterion("\\boxed{} non-empty", bool(box and box.strip()), "empty"))
    return criteria


def _find_block(text: str, tag: str) -> tuple[tuple[int, int, str] | None, str]:
    opening, closing = f"<{tag}>", f"</{tag}>"
    opens, closes = text.count(opening), text.count(closing)
    if opens != 1 or closes != 1:
        return None, f"{opening} ×{opens}, {closing} ×{closes} (want 1 each)"
    start, end = text.find(opening), text.find(closing)
    if end < start:
        return None, f"{closing} before {opening}"
    return (start, end + len(closing), text[start + len(opening) : end]), ""


def _outside_text(text: str, blocks: Sequence[tuple[int, int, str]]) -> str:
    pieces, cursor = [], 0
    for start, end, _ in blocks:
        pieces.append(text[cursor:start])
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{…}` with balanced braces (escaped braces ignored); None if absent
    or unclosed. Scans once from the last occurrence, so it is linear in the text."""
    start = text.rfind(_BOXED)
    if start < 0:
        return None
    open_brace = start + len(_BOXED) - 1
    depth = 0
    for token in _BRACE_TOKEN.finditer(text, open_brace):
        if token.group() == "{":
            depth += 1
        elif token.group() == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace + 1 : token.start()]
    return None


def _excerpt(text: str, limit: int = 40) -> str:
    return quote(text, limit)


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> regex.Pattern:
    """Compile a user template regex (DOTALL: `.` spans lines); raise InvalidRequest if it is invalid."""
    if len(pattern) > _MAX_PATTERN_CHARS:
        raise InvalidRequest(f"format: pattern is {len(pattern)} chars; the limit is {_MAX_PATTERN_CHARS}")
    try:
        return regex.compile(pattern, regex.DOTALL)
    except regex.error as exc:
        raise InvalidRequest(f"format: pattern {_excerpt(pattern, 80)} is not a valid regex: {exc}") from None


@register
class Format(Verifier):
    """Template check, DeepSeek-R1's `<think>…</think><answer>…</answer>` by default. Inline and bounded.

    Options:
    - `template`: "think_answer" (default) | "answer_only" | "boxed" | "custom" (with `tags`/`pattern`).
    - `tags`: list of tag names, in order (a structured template); `boxed`: also ask for a `\\boxed{}`.
    - `pattern`: a regex the whole response must match (all or nothing), run by the `regex` module
      under `pattern_timeout` seconds (default 0.2, at most 5): catastrophic backtracking answers TIMEOUT.
    - `strict` (default true): reward 1 when every criterion holds, else 0. false: reward = the
      fraction of criteria met, status PARTIAL when some but not all hold.
    - `response_prefix`: text the prompt already holds before the response (e.g. "<think>\\n" when
      the chat template opens the think block), checked as part of it.
    - `max_chars` (default 1,000,000): longer responses are INCORRECT without being scanned.
    """

    name = "format"
    description = "template check: <think>...</think><answer>...</answer> by default, or tags/regex"

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        prefix = get_option(options, "response_prefix", str, "", owner=self.name)
        max_chars = get_option(options, "max_chars", int, 1_000_000, owner=self.name)
        if max_chars < 1:
            raise InvalidRequest(f"format: option 'max_chars' must be ≥ 1, got {max_chars}")
        strict = get_option(options, "strict", bool, True, owner=self.name)
        text = prefix + request.response
        pattern, template = self._template(options)
        if len(text) > max_chars:
            return Outcome.incorrect(
                f"response has {len(text)} chars, over max_chars={max_chars}; not checked"
            )
        if pattern is not None:
            if not strict:
                raise InvalidRequest("format: a pattern is all or nothing; use tags for strict=false")
            return self._check_pattern(text, pattern, options)
        return self._score(check_template(text, template), strict)

    def _template(self, options: Options) -> tuple[str | None, Template]:
        custom = any(key in options for key in ("pattern", "tags", "boxed"))
        choices = [*TEMPLATES, "custom"]
        chosen = get_option(
            options, "template", str, "custom" if custom else "think_answer", owner=self.name, choices=choices
        )
        if chosen != "custom":
            if custom:
                raise InvalidRequest(
                    f"format: template {chosen!r} conflicts with 'pattern'/'tags'/'boxed'; give one of them"
                )
            return None, TEMPLATES[chosen]
        if "pattern" in options:
            if "tags" in options or "boxed" in options:
                raise InvalidRequest("format: give either 'pattern' or 'tags'/'boxed', not both")
            return get_option(options, "pattern", str, owner=self.name), Template()
        tags = get_option(options, "tags", list, [], owner=self.name)
        boxed = get_option(options, "boxed", bool, False, owner=self.name)
        bad = [t for t in tags if not isinstance(t, str) or not _TAG_NAME.fullmatch(t)]
        if bad or len(set(tags)) != len(tags) or not (tags or boxed):
            raise InvalidRequest(
                f"format: 'tags' must be distinct tag names like 'think' (letters, digits, _.:-), got {tags!r}"
                + ("" if tags or boxed else "; or set boxed: true")
            )
        return None, Template(tuple(tags), boxed)

    def _check_pattern(self, text: str, pattern: str, options: Options) -> Outcome:
        timeout = get_option(options, "pattern_timeout", float, 0.2, owner=self.name)
        if not 0 < timeout <= _MAX_PATTERN_SECONDS:
            raise InvalidRequest(
                f"format: option 'pattern_timeout' must be in (0, {_MAX_PATTERN_SECONDS:g}] seconds, got {timeout:g}"
            )
        compiled = compile_pattern(pattern)
        try:
            matched = compiled.fullmatch(text, timeout=timeout)
        except TimeoutError:
            return Outcome.timeout(f"format: pattern ran over {timeout:g} s (catastrophic backtracking?)")
        if matched:
            return Outcome.correct("matches the pattern")
        return Outcome.incorrect(f"does not match the pattern {_excerpt(pattern, 80)}")

    @staticmethod
    def _score(criteria: Sequence[Criterion], strict: bool) -> Outcome:
        failed = [c for c in criteria if not c.met]
        met = len(criteria) - len(failed)
        if not failed:
            return Outcome.correct(f"follows the template ({met}/{met} criteria)")
        missing = "; ".join(f"{c.name}: {c.problem}" if c.problem else c.name for c in failed)
        message = f"{met}/{len(criteria)} criteria met; missing: {missing}"
        if strict or met == 0:
            return Outcome.incorrect(message)
        return Outcome(met / len(criteria), PARTIAL, message)
