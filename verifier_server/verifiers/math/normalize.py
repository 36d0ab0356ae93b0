"""Answer text -> normalised text: notation without meaning removed, and what was stripped recorded."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlvr.verifier_server.verifiers.math.units import UNIT_ALIASES

_UNICODE = {
    "−": "-",
    "–": "-",
    "—": "-",
    "×": r"\times ",
    "÷": "/",
    "·": r"\cdot ",
    "⋅": r"\cdot ",
    "≤": r"\le ",
    "≥": r"\ge ",
    "≠": r"\ne ",
    "≈": r"\approx ",
    "π": r"\pi ",
    "∞": r"\infty ",
    "√": r"\sqrt ",
    "°": r"^\circ ",
    "²": "^2",
    "³": "^3",
    "∪": r"\cup ",
    "∩": r"\cap ",
    "±": r"\pm ",
    "∈": r"\in ",
    "∅": r"\emptyset ",
    "θ": r"\theta ",
    "α": r"\alpha ",
    "β": r"\beta ",
    "或": " or ",
    "和": " and ",
    "且": " and ",
    "，": ", ",
    "、": ", ",
    "；": "; ",
    "（": "(",
    "）": ")",
    "：": ":",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))

_SPACING_RE = re.compile(
    r"(?<!\\)\\(?:[,;:! ]|q?quad|displaystyle(?![A-Za-z])|textstyle(?![A-Za-z])|limits(?![A-Za-z])|nolimits(?![A-Za-z])|big[lr]?\b|Big[lr]?\b|bigg[lr]?\b|Bigg[lr]?\b)|~"
)
_LEFT_RIGHT_RE = re.compile(
    r"\\(?:left|right)\s*(\\[{}|]|\\[lr]?(?:vert|brace|angle|floor|ceil)\b|[()\[\]|.]|)"
)
_DOUBLE_BACKSLASH_CMD_RE = re.compile(
    r"\\\\(?=(?:frac|dfrac|tfrac|sqrt|left|right|cdot|times|pi|infty|text|mathrm|le|ge|in|cup|pm)\b)"
)
_THOUSANDS_BRACE_RE = re.compile(r"(\d)\s*\{,\s*\}\s*(?=\d{3}(?!\d))")
_DECIMAL_BRACE_RE = re.compile(r"(\d)\{,\}(?=\d)")  # "2{,}5": the decimal comma of French LaTeX
_THOUSANDS_BANG_RE = re.compile(r"(\d),\s*\\!\s*(?=\d{3})")
_THOUSANDS_THIN_RE = re.compile(r"(\d)\\[,;: ]\s*(?=\d{3}(?!\d))")
_THOUSANDS_COMMA_RE = re.compile(r"(?<![\d.])[1-9]\d{0,2}(?:,\d{3})+(?![\d,])")
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ\b|\\degree\b|\^\s*\{\s*\\text\{\s*o\s*\}\s*\}")

# Sentence punctuation, spacing, and a stray line break `\\` or lone backslash left at the end.
_TRAILING_RE = re.compile(r"(?:\s|[.,;:?]|\\[.,;!]|\\\\|\\)+$")
DECIMAL_COMMA_RE = re.compile(r"^-?\d+,(?!\d{3}$)\d+$|^-?0,\d+$")
_SPACE_THOUSANDS_RE = re.compile(r"^-?\d{1,3}(?: \d{3})+(?:\.\d+)?$")
_TIMES_TEN_RE = re.compile(r"(\d)\s*[xX]\s*(?=10\s*\^)")  # plain-text "3 x 10^5"
_SCALES = {"thousand": 3, "million": 6, "billion": 9, "trillion": 12}
_SCALE_WORDS_RE = re.compile(r"(\d)\s*(thousand|million|billion|trillion)\b", re.IGNORECASE)
_PERCENT_WORDS_RE = re.compile(r"\s*(?:\\%|%|\bpercent(?:age)?\b|\bpct\b)\s*$", re.IGNORECASE)
_CURRENCY_RE = re.compile(r"^\s*(?:\\\$|\$|€|£|USD\b)\s*|\s*(?:\\\$|\$|€|£)\s*$")


_CJK = r"[\u3000-\u303f\u3400-\u9fff\u3040-\u30ff\uff01-\uff0f\uff1a-\uff20]"
_CJK_EDGES_RE = re.compile(rf"^\s*{_CJK}+|{_CJK}+\s*$")
_TRUNCATED_RE = re.compile(r"^(-?\d*\.\d{2,})\s*(?:\.\.\.|\\[lc]?dots\b|…)$")
_REPEATING_RE = re.compile(r"(\d*)\.(\d*)\\overline\{(\d+)\}")


def _repeating_fraction(match: re.Match) -> str:
    """`0.1\\overline{6}` -> `\\frac{1}{6}`: a repeating decimal as the exact fraction it denotes."""
    whole, fixed, period = match.group(1) or "0", match.group(2), match.group(3)
    denominator = (10 ** len(period) - 1) * 10 ** len(fixed)
    numerator = int(whole + fixed + period) - int(whole + fixed or "0")
    return f"\\frac{{{numerator}}}{{{denominator}}}"


@dataclass(frozen=True)
class Normalized:
    """Normalised answer text; `percent`: a trailing % / "percent" was removed; `unit`: a currency sign
    was removed ("usd", "eur", "gbp"); `decimals`: digits after the point when the text is one decimal
    literal (a reference written as 7.78 was rounded to 2 places)."""

    text: str
    percent: bool = False
    unit: str | None = None
    decimals: int | None = None
    truncated: bool = False


def normalize_answer(text: str, decimal_comma: bool = False) -> Normalized:
    """Normalise one extracted answer for the parser. `decimal_comma` reads `2,74` as 2.74."""
    text = _CJK_EDGES_RE.sub("", text)  # "约12个" -> "12": counter words and units glued to a number
    text = _SCALE_WORDS_RE.sub(
        lambda m: f"{m.group(1)} \\times 10^{{{_SCALES[m.group(2).lower()]}}}", clean(text)
    )
    text = _REPEATING_RE.sub(_repeating_fraction, text)
    text = _TIMES_TEN_RE.sub(r"\1 \\times ", strip_trailing(text)).lstrip("=:").strip()
    percent = bool(_PERCENT_WORDS_RE.search(text))
    if percent:
        text = _PERCENT_WORDS_RE.sub("", text).strip()
    unit = None
    if _CURRENCY_RE.search(text):
        unit = "usd" if "€" not in text and "£" not in text else UNIT_ALIASES[text.strip()[0]]
        text = _CURRENCY_RE.sub("", text).strip()
    if decimal_comma and DECIMAL_COMMA_RE.match(text):
        text = text.replace(",", ".")
    if _SPACE_THOUSANDS_RE.match(text):
        text = text.replace(" ", "")
    truncated = _TRUNCATED_RE.match(text)
    if truncated:
        text = truncated.group(1)  # "0.333..." / "3.14159\\ldots": digits go on; those shown are exact
    plain = re.fullmatch(r"-?\d*\.(\d+)", text)
    return Normalized(text, percent, unit, len(plain.group(1)) if plain else None, bool(truncated))


def clean(text: str) -> str:
    """Normalise notation that carries no meaning: unicode symbols, spacing commands, \\left/\\right,
    thousands separators, degree signs (kept as the word "degree")."""
    text = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], text)
    if r"\begin" not in text:
        text = _DOUBLE_BACKSLASH_CMD_RE.sub(r"\\", text)
    text = _LEFT_RIGHT_RE.sub(lambda m: "" if m.group(1) in (".", "") else m.group(1), text)
    text = _THOUSANDS_BRACE_RE.sub(r"\1", text)
    text = _DECIMAL_BRACE_RE.sub(r"\1.", text)
    text = _THOUSANDS_BANG_RE.sub(r"\1", text)
    text = _THOUSANDS_THIN_RE.sub(r"\1", text)
    text = _SPACING_RE.sub(" ", text)
    text = _THOUSANDS_COMMA_RE.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _DEGREE_RE.sub(r" \\text{degree}", text)
    return text.strip()


def strip_trailing(text: str) -> str:
    """Drop sentence punctuation after an answer ("$\\frac13.$"), but keep a trailing ellipsis."""
    if text.rstrip().endswith("..."):
        return text.rstrip()
    return _TRAILING_RE.sub("", text)
