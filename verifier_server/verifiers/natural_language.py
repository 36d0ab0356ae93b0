"""Language-consistency reward (DeepSeek-R1): the share of the chain of thought in the target language."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import CORRECT, INCORRECT, PARTIAL, Outcome
from rlvr.verifier_server.engine.registry import Options, Verifier, register
from rlvr.verifier_server.engine.specs import get_option

# Unicode blocks per script (letters and their combining marks). Scripts written without spaces
# between words (Han, kana) count one unit per character: a Chinese word is one or two characters.
_SCRIPT_CHARS: dict[str, str] = {
    "latin": "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0300-\u036f\u1e00-\u1eff",
    "greek": "\u0370-\u03ff\u1f00-\u1fff",
    "cyrillic": "\u0400-\u052f",
    "armenian": "\u0531-\u058a",
    "hebrew": "\u0591-\u05f4",
    "arabic": "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc",
    "devanagari": "\u0900-\u097f",
    "bengali": "\u0980-\u09ff",
    "tamil": "\u0b80-\u0bff",
    "telugu": "\u0c00-\u0c7f",
    "thai": "\u0e00-\u0e7f",
    "georgian": "\u10a0-\u10ff",
    "hangul": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
    "hiragana": "\u3040-\u309f",
    "katakana": "\u30a0-\u30ff\u31f0-\u31ff",
    "han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f",
}
_PER_CHARACTER = frozenset({"han", "hiragana", "katakana"})
_WORD = re.compile(
    "|".join(
        f"(?P<{script}>[{chars}]{'' if script in _PER_CHARACTER else '+'})"
        for script, chars in _SCRIPT_CHARS.items()
    )
)
# Code and math: inline code, $…$ / $$…$$ math, LaTeX command names. Negated classes keep each
# pattern linear (no backtracking across the text).
_CODE_AND_MATH = re.compile(r"`[^`\n]*`|\$\$[^$]*\$\$|\$[^$]*\$|\\[A-Za-z]+")
_MARKUP_TAG = re.compile(r"</?[A-Za-z][\w.:-]{0,63}>")
_SENTENCE_END = re.compile(r"[.!?;:\n。！？；]+")

_CJK = {"zh": ("han",), "ja": ("han", "hiragana", "katakana"), "ko": ("hangul",)}
_BY_SCRIPT = {
    "cyrillic": ("ru", "uk", "bg", "sr", "be", "kk", "mk"),
    "arabic": ("ar", "fa", "ur"),
    "hebrew": ("he",),
    "greek": ("el",),
    "devanagari": ("hi", "mr", "ne"),
    "bengali": ("bn",),
    "tamil": ("ta",),
    "telugu": ("te",),
    "thai": ("th",),
    "georgian": ("ka",),
    "armenian": ("hy",),
    "latin": (
        "en", "fr", "de", "es", "it", "pt", "nl", "vi", "tr", "pl", "id", "ms", "sv", "da", "no", "nb",
        "fi", "cs", "sk", "sl", "hr", "ro", "hu", "ca", "sw", "tl", "et", "lv", "lt",
    ),
}  # fmt: skip
#: Target language code -> the scripts whose words count as that language.
LANGUAGE_SCRIPTS: dict[str, tuple[str, ...]] = {
    **_CJK,
    **{code: (script,) for script, codes in _BY_SCRIPT.items() for code in codes},
}

# Frequent function words; a word listed for several languages is dropped below, so each remaining
# one points at a single language. They tell Latin-script languages apart, sentence by sentence.
_FUNCTION_WORDS = {
    "en": "the and of to is that it with for this are was we not be have from which by so then if can "
    "there what but or these they has an would should",
    "fr": "le la les des est et une pour que qui dans pas sur nous avec sont cette mais ou donc alors "
    "il elle au aux du",
    "de": "der die das und ist nicht ein eine zu mit von den dem wir auf für sich auch es sind dass "
    "wenn oder aber",
    "es": "el los las es y que en un una por para con se del al lo como pero más sus entonces esto este",
    "it": "il lo gli della di che è e un una con sono del alla questo questa quindi ma anche",
    "pt": "o os da das dos que é e uma para com não em por mas isso então este esta são",
    "nl": "de het een en van is dat niet op te zijn met voor er wij ook maar dan als dit deze",
}
_WORD_LISTS = {lang: set(words.split()) for lang, words in _FUNCTION_WORDS.items()}
_SHARED = {
    w for words in _WORD_LISTS.values() for w in words if sum(w in o for o in _WORD_LISTS.values()) > 1
}
DISTINCTIVE_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words - _SHARED) for lang, words in _WORD_LISTS.items()
}
# A sentence is taken for another Latin-script language when at least this many of its distinctive
# function words point there, and more than point at the target.
_MIN_VOTES = 2
_LANGUAGE_OF_WORD = {word: lang for lang, words in DISTINCTIVE_WORDS.items() for word in words}
# Scripts whose ranges above hold only letters (and Latin combining accents): no per-word check.
_ALL_LETTERS = frozenset({"latin", "han", "hangul"})


@dataclass
class LanguageShare:
    """Units (words; one per Han/kana character) counted in a text, by language or script."""

    target: str
    counts: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def share(self) -> float | None:
        """Fraction of units in the target language; None when there is nothing to count."""
        return self.counts[self.target] / self.total if self.total else None


def measure_language(text: str, target: str, *, skip_code_and_math: bool = True) -> LanguageShare:
    """Count the letter words of `text` by language: those of the target's scripts count as the
    target, except that Latin-script sentences whose function words point at another Latin-script
    language count as that language. One-letter Latin words (variables such as x) are ignored.
    Raises InvalidRequest for an unsupported target."""
    scripts = LANGUAGE_SCRIPTS.get(target)
    if scripts is None:
        raise InvalidRequest(
            f"language_consistency: unsupported language {target!r}; supported: {', '.join(sorted(LANGUAGE_SCRIPTS))}"
        )
    if skip_code_and_math:
        text = "".join(text.split("```")[::2])  # odd pieces are inside fenced code blocks
        text = _CODE_AND_MATH.sub(" ", text)
    text = _MARKUP_TAG.sub(" ", text)
    counts: Counter[str] = Counter()
    for sentence in _SENTENCE_END.split(text):
        words = list(_words(sentence))
        latin_as = _latin_language(words, target) if "latin" in scripts else None
        for script, word in words:
            if script != "latin":
                counts[target if script in scripts else script] += 1
            elif len(word) > 1:  # one letter is a variable (x, n), not a word
                counts[latin_as or (target if "latin" in scripts else "latin")] += 1
    return LanguageShare(target, counts)


def _words(text: str) -> Iterator[tuple[str, str]]:
    """(script, word) for each word of `text` (one-letter Latin words included)."""
    for match in _WORD.finditer(text):
        script, word = match.lastgroup or "", match.group()
        # Some blocks hold digits and punctuation of their script too (Arabic-Indic digits, dandas).
        if script in _ALL_LETTERS or any(unicodedata.category(c).startswith("L") for c in word):
            yield script, word


def _latin_language(words: Sequence[tuple[str, str]], target: str) -> str | None:
    """The other Latin-script language a sentence is written in, or None (the target's, or unsure)."""
    votes = Counter(_LANGUAGE_OF_WORD.get(word.lower()) for script, word in words if script == "latin")
    votes.pop(None, None)
    if not votes:
        return None
    best, count = votes.most_common(1)[0]
    if best != target and count >= _MIN_VOTES and count > votes[target]:
        return best
    return None


def chain_of_thought(text: str) -> str:
    """The `<think>` part of a response: between `<think>` and `</think>`, up to `</think>` when the
    prompt opened the block, from `<think>` on when it is unclosed; the whole text without tags."""
    close = text.find("</think>")
    if close < 0:
        opening = text.find("<think>")
        return text if opening < 0 else text[opening + len("<think>") :]
    opening = text.rfind("<think>", 0, close)
    return text[(opening + len("<think>") if opening >= 0 else 0) : close]


@register
class LanguageConsistency(Verifier):
    """DeepSeek-R1's language-consistency reward: the share of chain-of-thought words in `language`.

    Options: `language` (target code, default "en"), `source` ("think": the `<think>` part if any,
    else the whole response; "response": everything), `skip_code_and_math` (default true),
    `max_chars` (default 100,000: only that prefix is judged), `empty_reward` (default 0: a chain
    of thought without words earns it). Status CORRECT when every word is in the target (reward 1),
    PARTIAL for a mix, INCORRECT when none is (reward 0). A script-and-function-word heuristic: see docs/rewards.md.
    """

    name = "language_consistency"
    description = "DeepSeek-R1 language consistency: share of chain-of-thought words in the target language"

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        # Region and script subtags do not change the script: "zh-Hans", "en_US" -> "zh", "en".
        target = re.split(r"[-_]", get_option(options, "language", str, "en", owner=self.name))[0].lower()
        source = get_option(options, "source", str, "think", owner=self.name, choices=("think", "response"))
        skip = get_option(options, "skip_code_and_math", bool, True, owner=self.name)
        max_chars = get_option(options, "max_chars", int, 100_000, owner=self.name)
        if max_chars < 1:
            raise InvalidRequest(f"language_consistency: option 'max_chars' must be ≥ 1, got {max_chars}")
        empty_reward = get_option(options, "empty_reward", float, 0.0, owner=self.name)
        text = chain_of_thought(request.response) if source == "think" else request.response
        measured = measure_language(text[:max_chars], target, skip_code_and_math=skip)
        share = measured.share
        if share is None:
            return Outcome(empty_reward, _status(empty_reward), f"no words to judge in the {source}")
        others = ", ".join(f"{k} {v}" for k, v in measured.counts.most_common() if k != target)
        message = f"{share:.0%} of {measured.total} words in {target}" + (
            f" (others: {others})" if others else ""
        )
        if len(text) > max_chars:
            message += f"; judged the first {max_chars} of {len(text)} chars"
        return Outcome(share, _status(share), message)


def _status(share: float) -> int:
    return CORRECT if share >= 1.0 else INCORRECT if share <= 0.0 else PARTIAL
