"""`parse_answer(text, ParseConfig)` -> `Answer`: normalise, tokenize, parse, keep units and percent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rlvr.verifier_server.verifiers.math.lexer import tokenize
from rlvr.verifier_server.verifiers.math.normalize import normalize_answer
from rlvr.verifier_server.verifiers.math.parse.build import mixed
from rlvr.verifier_server.verifiers.math.parse.parser import Parser
from rlvr.verifier_server.verifiers.math.values import Answer, ParseError, Text


@dataclass(frozen=True)
class ParseConfig:
    """How answer text is read.

    imaginary_unit: read a lone `i` as sqrt(-1). mixed_numbers: read `4 4/9` and `4\\frac{4}{9}` as
    4 + 4/9. decimal_comma: read `1000,99` (one comma, no space, not a thousands group) as 1000.99.
    log_base: what `\\log x` without a base means, "e" (analysis) or "10" (school, competitions).
    max_chars / max_depth / max_bits: refuse longer answers, deeper nesting, and numbers with more
    binary digits (`10^{10^{10}}`) with a ParseError instead of evaluating them.
    """

    imaginary_unit: bool = True
    mixed_numbers: bool = True
    decimal_comma: bool = False
    log_base: str = "e"
    max_chars: int = 2000
    max_depth: int = 60
    max_bits: int = 200_000


# `1 234 5/6`: a plain-text mixed number whose whole part may have space-separated thousands
_PLAIN_MIXED_RE = re.compile(r"^([-+]?)(\d{1,3}(?: \d{3})+|\d+)[ \t]+(\d+)[ \t]*/[ \t]*(\d+)$")


def parse_answer(text: str, config: ParseConfig = ParseConfig()) -> Answer:
    """Parse one extracted answer (no surrounding prose) into an Answer; raise ParseError if unparsable."""
    if len(text) > config.max_chars:
        raise ParseError(f"answer is {len(text)} characters long (limit {config.max_chars})", text[:80])
    source = text
    normalized = normalize_answer(text, config.decimal_comma)
    text, percent, unit, decimals = normalized.text, normalized.percent, normalized.unit, normalized.decimals
    truncated = normalized.truncated
    if not text:
        raise ParseError("empty answer", source)
    plain_mixed = _PLAIN_MIXED_RE.match(text) if config.mixed_numbers else None
    if plain_mixed:
        sign, whole, num, den = plain_mixed.groups()
        value = mixed(int(whole.replace(" ", "")), int(num), int(den))
        if value is not None:
            return Answer(-value if sign == "-" else value, text, unit, percent, decimals, truncated)
    parser = Parser(tokenize(text), config, text)
    try:
        value, units = parser.parse_top()
    except ParseError:
        raise
    except (TypeError, ValueError, NotImplementedError, ArithmeticError, AttributeError) as exc:
        raise ParseError(f"cannot evaluate: {type(exc).__name__}: {exc}", source) from None
    if units and unit is None:
        unit = units
    if isinstance(value, Text) and percent:
        raise ParseError("percent sign after text", source)
    return Answer(value, text, unit, percent, decimals, truncated)


@lru_cache(maxsize=8192)
def parse_reference(text: str, config: ParseConfig = ParseConfig()) -> Answer:
    """`parse_answer` for ground truths, cached: a GRPO group parses its reference once per worker."""
    return parse_answer(text, config)
