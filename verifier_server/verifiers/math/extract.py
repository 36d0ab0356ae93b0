"""Locate the final answer in free-form model output (or in a reference written in many styles)."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import NamedTuple

from rlvr.verifier_server.verifiers.math.lexer import PLAIN_NAMES, words


@dataclass(frozen=True)
class ExtractConfig:
    """Where to look for the final answer, in priority order.

    answer_tags: `<answer>…</answer>`. boxed: `\\boxed{}` / `\\fbox{}` (last one; adjacent boxes join into
    a list). gsm8k: `#### 42`. phrases: "final answer is …", "Answer: …", "the answer is …".
    last_expression: fall back to the last `$…$` / `\\(…\\)` / `\\[…\\]` span, else the last number.
    after_think: look after `</think>` first (the whole text only if nothing is found there).
    """

    answer_tags: bool = True
    boxed: bool = True
    gsm8k: bool = True
    phrases: bool = True
    last_expression: bool = True
    after_think: bool = True


@dataclass(frozen=True)
class Extraction:
    """The located answer text and how it was found ("boxed", "answer tag", "phrase", ...)."""

    text: str
    method: str


_BOX_RE = re.compile(r"\\(?:boxed|fbox|framebox)\s*(\{|\s+(?=[^\s{]))")
_BARE_BOX_ARGUMENT_RE = re.compile(r"[^\s$]+")
_BOX_GAP_RE = re.compile(
    r"^(?:\s|\$|\\\(|\\\)|\\\[|\\\]|[,;&]|and|or|\\quad|\\qquad|\\text\{[^{}]*\}|\\[,;!:]|\.|"
    r"[A-Za-z](?:_\{?\w{1,3}\}?)?\s*=)*$"  # a label: "\( y_2 = \boxed{B} \)"
)
# In a reference, boxes a few words apart form one answer when a separator or only symbols join
# them ("\boxed{1} papers and \boxed{2} bins", "\boxed{35 cm} ++ \boxed{4}"); "\boxed{1} no no \boxed{2}"
# or a sentence between them does not.
_REFERENCE_GAP_RE = re.compile(
    r"^(?=[^.\n]{0,40}$)(?:[^A-Za-z]*|.*(?:[,;&]|\band\b|\bor\b|\\q?quad|\\text).*)$", re.DOTALL
)
_GAP_WORD_RE = re.compile(r"(?<![\\A-Za-z])(?!(?:and|or)\b)[A-Za-z]{2,}")
_BOX_SEPARATOR_RE = re.compile(r"[,;&]|\band\b|\bor\b|\\q?quad|\\text")
_PERCENT_AFTER_RE = re.compile(r"\$?\s*(?:\\%|%|percent\b)", re.IGNORECASE)
_GSM8K_RE = re.compile(r"####\s*([^\n]+)")
_PHRASE_RE = re.compile(
    r"(?:final\s+answer\s*(?:is|:)?|(?:the|my)\s+answer\s+is|answer\s*:|answer\s+is|"
    r"the\s+(?:result|solution|value)\s+is|therefore,?\s+the\s+answer\s+is|"
    # Chinese: 答案是 / 答案为 / 最终答案： / 答： ; French: la réponse (finale) est, réponse :
    r"(?:最终|最后)?答案(?:应该|应|就)?(?:是|为|：|:)|(?<![\u4e00-\u9fff])答\s*[：:]|"
    r"(?:la\s+)?r[ée]ponse\s+(?:finale\s+)?(?:est|:)|r[ée]ponse\s+finale\s*:|r[ée]ponse\s*:|"
    r"ответ\s*:|antwort\s*:)"
    r"\s*[:：]?\s*",
    re.IGNORECASE,
)
_FINAL_PHRASE_RE = re.compile(r"final\s+answer\s*(?:is|:)|最终答案|r[ée]ponse\s+finale", re.IGNORECASE)
_DELIMITER_RE = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\\$|\$")
_CLOSERS = {"$$": "$$", "\\(": "\\)", "\\[": "\\]", "$": "$"}
_INLINE = frozenset({"$", "\\("})
_SENTENCE_END_RE = re.compile(r"(?<!\.)\.(?:\s|$)|\.(?=\s+[A-Z])|\n\s*\n|\bI hope\b|<\||[。！？；]")
_NUMBER_RE = re.compile(
    r"(?<![A-Za-z0-9_.])-?(?:\d+\s+\d+\s*/\s*\d+(?![\d/])|\d{1,3}(?: \d{3})+(?![\d,])(?:\.\d+)?|\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?(?:\s*%|\s+(?:million|billion|trillion)\b)?(?![\w.]*[A-Za-z]\d)"
)
_REASON_RE = re.compile(r",?\s+(?:because|since|which|as|so|when|given|where|for)\b", re.IGNORECASE)
_SPAN_GAP_RE = re.compile(r"^(?:\s|,|and|or)*$", re.IGNORECASE)
_LAST_IS_RE = re.compile(r".*\b(?:is|are|equals|was|be)\b\s*:?\s*", re.DOTALL | re.IGNORECASE)
_MATH_WORDS = (
    words(
        "sqrt sin cos tan sec csc cot log exp abs pi infinity inf infty percent pct and or "
        "pmatrix bmatrix vmatrix matrix array cup cap"
    )
    | PLAIN_NAMES
)
#: a prose word: 4+ Latin letters (shorter ones may be variables or units), or a run of CJK characters
# A response of one to three words and nothing else ("odd", "\text{Evelyn}") is its own answer.
_WORD_ANSWER_RE = re.compile(r"\\text\{[A-Za-z][A-Za-z '-]{0,30}\}|[A-Za-z][A-Za-z '-]{0,30}")
_PROSE_WORD_RE = re.compile(r"[A-Za-z]{4,}|[\u3400-\u9fff\u3040-\u30ff\uac00-\ud7af]+")
_CJK_RE = re.compile(r"[\u3400-\u9fff\u3040-\u30ff\uac00-\ud7af]")
_CJK_TAIL_RE = re.compile(
    r"([^\u3400-\u9fff\u3040-\u30ff\uac00-\ud7af\n]+)[\u3400-\u9fff\u3040-\u30ff\uac00-\ud7af。！？\s]*$"
)
_FORMULA_CHARS_RE = re.compile(r"[()\[\]{}\\_^=]")


def extract_answer(text: str, config: ExtractConfig = ExtractConfig()) -> Extraction | None:
    """The final answer of a model response, or None when none can be located.

    Never returns a number picked out of an answer that was found but looks unparsable: the located
    span is returned whole and the parser decides.
    """
    regions = [text.rsplit("</think>", 1)[1], text] if config.after_think and "</think>" in text else [text]
    for region in regions:  # a stated answer anywhere beats a number guessed from the final part
        found = _stated_answer(region, config)
        if found is not None:
            return found
    if config.last_expression:
        for region in regions:
            found = _last_expression(region)
            if found is not None:
                return found
        short = text.strip()
        if _WORD_ANSWER_RE.fullmatch(short) and len(short.split()) <= 3:
            return Extraction(_unwrap(short), "whole response")  # "odd", "\\text{Evelyn}"
    return None


def reference_text(text: str) -> str:
    """The answer inside a ground truth: its box if it has one, after `####`, else the whole text
    without `$` delimiters ("$125$ miles" -> "125 miles")."""
    boxes = find_boxes(text)
    if boxes:
        percent = "%" if _PERCENT_AFTER_RE.match(text, boxes[-1][1]) else ""
        joined = _join_adjacent(text, boxes, _REFERENCE_GAP_RE, max_words=1)
        return joined + percent  # "$\\boxed{20}$ percent" is 20%
    match = _GSM8K_RE.search(text)
    if match:
        return match.group(1).strip()
    stripped = text.strip()
    for opener, closer in (("\\[", "\\]"), ("\\(", "\\)")):
        if stripped.startswith(opener) and stripped.endswith(closer):
            stripped = stripped[len(opener) : -len(closer)]
    return re.sub(r"(?<!\\)\$", "", stripped).strip()


def find_boxes(text: str) -> list[tuple[int, int, str]]:
    """Every top-level `\\boxed{...}` (nested braces allowed) or `\\boxed 5` as (start, end, content).

    Boxes inside a box belong to its content; skipping them keeps the scan linear.
    """
    boxes: list[tuple[int, int, str]] = []
    covered = 0
    for match in _BOX_RE.finditer(text):
        if match.start() < covered:
            continue
        if match.group(1) == "{":
            end = matching_brace(text, match.end() - 1)
            if end is None:  # an unclosed box is still the located answer; the parser will refuse it
                boxes.append((match.start(), len(text), text[match.end() :].strip()))
                break
            boxes.append((match.start(), end + 1, text[match.end() : end].strip()))
            covered = end + 1
        else:
            word = _BARE_BOX_ARGUMENT_RE.match(text, match.end())
            if word:
                boxes.append((match.start(), word.end(), word.group(0)))
                covered = word.end()
    return boxes


def matching_brace(text: str, start: int) -> int | None:
    """Index of the `}` closing the `{` at `start` (backslash escapes skipped), or None if unclosed."""
    depth = 0
    index = start
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return None


def _join_adjacent(
    text: str,
    boxes: list[tuple[int, int, str]],
    gap_re: re.Pattern[str] = _BOX_GAP_RE,
    max_words: int | None = None,
) -> str:
    """The last box, joined with the boxes right before it (`\\boxed{1} and \\boxed{2}` -> "1, 2")
    when the text between them matches `gap_re` and has at most `max_words` words besides "and" / "or"
    (`\\boxed{1} papers and \\boxed{2}` joins; `... or thus but \\boxed{2}` is prose, and does not)."""
    chosen = [boxes[-1]]
    for box in reversed(boxes[:-1]):
        gap = text[box[1] : chosen[-1][0]]
        if not gap_re.match(gap):
            break
        if max_words is not None and len(_GAP_WORD_RE.findall(gap)) > max_words:
            break
        if re.search(r"\$|\\[()\[\]]", gap) and not _BOX_SEPARATOR_RE.search(gap):
            break  # "$$\boxed{20}$$ \boxed{143}": a new formula, not a list
        chosen.append(box)
    return ", ".join(content for _, _, content in reversed(chosen))


def _stated_answer(text: str, config: ExtractConfig) -> Extraction | None:
    """An answer the text marks as such: tag, box, `####` or a final-answer phrase."""
    if config.answer_tags:
        inner = _last_answer_tag(text)
        if inner is not None:
            boxes = find_boxes(inner)
            if boxes:
                return Extraction(_join_adjacent(inner, boxes), "boxed inside <answer>")
            phrase = _from_phrase(inner) if _PHRASE_RE.search(inner) else None
            return Extraction(phrase or _unwrap(inner), "answer tag")
    if config.boxed:
        boxes = find_boxes(text)
        if boxes:
            later = _final_answer_after(text, boxes[-1][1]) if config.phrases else None
            if later is not None:  # "... \boxed{255} ... Final Answer: The final answer is $10,455$."
                return Extraction(later, "final-answer phrase after the boxes")
            return Extraction(_join_adjacent(text, boxes), "boxed")
    if config.gsm8k:
        matches = _GSM8K_RE.findall(text)
        if matches:
            return Extraction(_unwrap(matches[-1]), "gsm8k ####")
    if config.phrases:
        answer = _from_phrase(text)
        if answer is not None:
            return Extraction(answer, "final-answer phrase")
    return None


def _final_answer_after(text: str, start: int) -> str | None:
    """A "final answer is …" statement after `start` that states a math answer (not "see above"): it
    overrides boxes of intermediate results before it."""
    tail = text[start:]
    if not _FINAL_PHRASE_RE.search(tail):
        return None
    answer = _from_phrase(tail)
    return answer if answer and not _has_prose(answer) and re.search(r"[\d\\]", answer) else None


def _last_expression(text: str) -> Extraction | None:
    """The fallback: a short all-math text, else its last math span or number, whichever is later."""
    stripped = text.strip()
    whole = stripped and len(stripped) <= 200 and not _has_prose(stripped)
    if whole and not math_spans(stripped):
        return Extraction(_unwrap(stripped), "whole response")
    spans, broken = _scan_math(text)
    if not spans and _CJK_RE.search(text):
        tail = _CJK_TAIL_RE.search(text)
        if tail and re.search(r"\d", tail.group(1)) and not _has_prose(tail.group(1)):
            # "所以交点坐标为（1，2）。": the formula after the last Chinese words, not its last digit
            return Extraction(tail.group(1).strip(), "last math after CJK text")
    numbers = [n for n in _NUMBER_RE.finditer(text) if not _inside(n.start(), broken)]
    if spans and (not numbers or spans[-1].end >= numbers[-1].end()):
        return Extraction(spans[-1].inner.strip(), "last math expression")
    if numbers:
        return Extraction(numbers[-1].group(0).strip(), "last number")
    return None


def _has_prose(text: str) -> bool:
    """Whether text has words that are not math names or units ("sqrt(8)", "28 percent" have none)."""
    words = [
        w
        for w in re.findall(r"[A-Za-z]{3,}", re.sub(r"\\[A-Za-z]+", "", text))
        if w.lower() not in _MATH_WORDS
    ]
    return bool(words) or bool(_CJK_RE.search(text))


def _last_answer_tag(text: str) -> str | None:
    """The content of the last `<answer>…</answer>` (found with rfind: linear on hostile input)."""
    lowered = text.lower()
    end = lowered.rfind("</answer>")
    start = lowered.rfind("<answer>", 0, end) if end >= 0 else -1
    return text[start + len("<answer>") : end] if start >= 0 else None


def _from_phrase(text: str) -> str | None:
    matches = list(_PHRASE_RE.finditer(text))
    if not matches:
        return None
    segment = text[matches[-1].end() :]
    end = _SENTENCE_END_RE.search(segment)
    segment = segment[: end.start()] if end else segment
    reason = _REASON_RE.search(_blank_spans(segment, math_spans(segment), keep_width=True))
    segment = segment[: reason.start()] if reason else segment  # "7 because 3+4=7" -> "7"
    segment = segment.strip().strip("*").strip()
    if not segment:
        return None
    spans = math_spans(segment)
    if spans and not _PROSE_WORD_RE.search(_blank_spans(segment, spans, keep_width=False)):
        return _join_spans(segment, spans)
    tail_match = _LAST_IS_RE.match(segment)
    if tail_match and tail_match.end() < len(segment):
        tail = segment[tail_match.end() :]
        tail_spans = math_spans(tail)
        return _join_spans(tail, tail_spans) if tail_spans else _unwrap(tail)
    if spans:
        return _join_spans(segment, spans)
    prose = _PROSE_WORD_RE.findall(segment)
    numbers = _NUMBER_RE.findall(segment)
    if len(prose) >= 2 and len(numbers) == 1 and not _FORMULA_CHARS_RE.search(segment):
        # "Jane started growing Sphere 3 hours ago.": one number in a prose sentence is the answer;
        # never the 3 of "arcsinh(3) radians" (a formula, which the parser must read or refuse).
        return numbers[0].strip()
    return _unwrap(segment)


class Span(NamedTuple):
    """A math span `$…$`, `$$…$$`, `\\(…\\)` or `\\[…\\]`: outer start/end and the text inside."""

    start: int
    end: int
    inner: str


def math_spans(text: str) -> list[Span]:
    """Every math span in order, found in one linear pass (no regex backtracking on hostile input).

    Inline `$…$` and `\\(…\\)` never cross a line break; an escaped `\\$` is a dollar sign.
    """
    return _scan_math(text)[0]


def _scan_math(text: str) -> tuple[list[Span], list[tuple[int, int]]]:
    """Math spans, plus the regions of broken inline pairs (`$ ... newline ... $`), whose content is
    not a well-formed answer and must not feed the number fallback."""
    spans: list[Span] = []
    broken: list[tuple[int, int]] = []
    opener: tuple[str, int, int] | None = None
    for match in _DELIMITER_RE.finditer(text):
        token = match.group(0)
        if token == "\\$":
            continue
        if opener is None:
            if token in _CLOSERS:
                opener = (token, match.start(), match.end())
            continue
        delimiter, outer_start, inner_start = opener
        if token != _CLOSERS[delimiter]:
            continue
        inner = text[inner_start : match.start()]
        if delimiter in _INLINE and "\n" in inner:
            broken.append((outer_start, match.end()))
            # a currency "$5 ... $3" pair: this "$" may open the next real span
            opener = (token, match.start(), match.end()) if delimiter == "$" else None
            continue
        spans.append(Span(outer_start, match.end(), inner))
        opener = None
    return spans, broken


def _inside(position: int, regions: list[tuple[int, int]]) -> bool:
    """Whether `position` falls in one of the sorted, disjoint `regions` (binary search)."""
    index = bisect.bisect_right(regions, (position, float("inf"))) - 1
    return index >= 0 and regions[index][0] <= position < regions[index][1]


def _blank_spans(text: str, spans: list[Span], keep_width: bool) -> str:
    """The text with its math spans blanked out (same length when `keep_width`), to look at the prose."""
    pieces, last = [], 0
    for span in spans:
        pieces.append(text[last : span.start])
        pieces.append(" " * (span.end - span.start) if keep_width else " ")
        last = span.end
    pieces.append(text[last:])
    return "".join(pieces)


def _join_spans(text: str, spans: list[Span]) -> str:
    chosen = [spans[-1]]
    for span in reversed(spans[:-1]):
        if not _SPAN_GAP_RE.match(text[span.end : chosen[-1].start]):
            break
        chosen.append(span)
    return ", ".join(span.inner.strip() for span in reversed(chosen))


def _unwrap(text: str) -> str:
    text = text.strip().strip("*").strip()
    spans = math_spans(text)
    if len(spans) == 1 and spans[0].start == 0 and spans[0].end == len(text):
        return spans[0].inner.strip()
    return re.sub(r"(?<!\\)\$", "", text).strip()
