"""Math answer verification: locate the final answer, parse LaTeX / plain text into sympy, compare.

Importing this package registers the `math` verifier. The steps are separate pure functions:
`extract_answer` (extract.py), `normalize_answer` (normalize.py), `parse_answer` (parse.py) and
`compare_answers` (compare.py); `judge` runs them all.
"""

from rlvr.verifier_server.verifiers.math.compare import CompareConfig, Decision, compare_answers
from rlvr.verifier_server.verifiers.math.extract import (
    ExtractConfig,
    Extraction,
    extract_answer,
    reference_text,
)
from rlvr.verifier_server.verifiers.math.normalize import Normalized, normalize_answer
from rlvr.verifier_server.verifiers.math.parse import ParseConfig, parse_answer, parse_reference
from rlvr.verifier_server.verifiers.math.values import Answer, AnswerTooLarge, ParseError
from rlvr.verifier_server.verifiers.math.verifier import MathConfig, MathVerifier, judge

__all__ = [
    "Answer",
    "AnswerTooLarge",
    "CompareConfig",
    "Decision",
    "ExtractConfig",
    "Extraction",
    "MathConfig",
    "MathVerifier",
    "Normalized",
    "ParseConfig",
    "ParseError",
    "compare_answers",
    "extract_answer",
    "judge",
    "normalize_answer",
    "parse_answer",
    "parse_reference",
    "reference_text",
]
