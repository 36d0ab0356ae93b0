"""Normalised answer text -> tokens: splits mixed LaTeX / plain-text math into numbers, names, commands."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlvr.verifier_server.verifiers.math.values import ParseError


def words(text: str) -> frozenset[str]:
    """A vocabulary written as one space-separated string."""
    return frozenset(text.split())


@dataclass
class Token:
    """One token. kind: num, sym, cmd, op, word, end. `space` says whitespace preceded it."""

    kind: str
    value: str
    space: bool = False


TEXT_COMMANDS = words(
    "text textbf textit textnormal textrm textsf texttt textup mbox hbox mathrm mathit mathsf rm emph "
    "operatorname"
)
STYLE_COMMANDS = words("mathbf boldsymbol bm vec overline bar hat tilde widehat overrightarrow mathcal")
_ALIASES = {
    "dfrac": "frac",
    "tfrac": "frac",
    "cfrac": "frac",
    "le": "<=",
    "leq": "<=",
    "leqslant": "<=",
    "ge": ">=",
    "geq": ">=",
    "geqslant": ">=",
    "ne": "!=",
    "neq": "!=",
    "lt": "<",
    "gt": ">",
    "cdot": "*",
    "times": "*",
    "ast": "*",
    "div": "/",
    "approx": "approx",
    "simeq": "approx",
    "thickapprox": "approx",
    "cup": "cup",
    "cap": "cap",
    "setminus": "minus",
    "in": "in",
    "pm": "pm",
    "mp": "mp",
    "infty": "oo",
    "infin": "oo",
    "lvert": "|",
    "rvert": "|",
    "vert": "|",
    "lbrace": r"\{",
    "rbrace": r"\}",
    "langle": "(",
    "rangle": ")",
    "ldots": "...",
    "cdots": "...",
    "dots": "...",
    "dotsc": "...",
    "dotsb": "...",
    "Rightarrow": "=>",
    "implies": "=>",
    "Longrightarrow": "=>",
    "rightarrow": "=>",
    "therefore": "=>",
    "iff": "=>",
    "colon": ":",
    "lfloor": "lfloor",
    "rfloor": "rfloor",
    "lceil": "lceil",
    "rceil": "rceil",
    "percent": "%",
    "emptyset": "emptyset",
    "varnothing": "emptyset",
}
_OPERATOR_ALIASES = {"<=", ">=", "!=", "<", ">", "*", "/", "approx", "cup", "cap", "minus", "in", "pm", "mp"}
_OPERATOR_ALIASES |= {
    "|",
    r"\{",
    r"\}",
    "(",
    ")",
    "...",
    "=>",
    ":",
    "lfloor",
    "rfloor",
    "lceil",
    "rceil",
    "%",
}

#: plain-text names read as functions or constants rather than words
PLAIN_NAMES = words(
    "sqrt sin cos tan sec csc cot arcsin arccos arctan sinh cosh tanh log ln exp abs pi oo inf infty infinity "
    "asin acos atan arcsec arccsc arccot coth sech csch arcsinh arccosh arctanh asinh acosh atanh arsinh "
    "arcosh artanh arctg tg ctg lg"
)
_SEPARATOR_WORDS = frozenset({"and", "or"})
# Short letter runs that are words rather than products of variables (plain text only).
_SHORT_WORDS = words(
    "and or is the of are per cm km mm ft yd mi kg mg lb lbs oz hr hrs min sec mph deg rad sq yes no "
    "not to as at be by it so we"
)

_TEXT_UNIT_LETTERS = frozenset("msghlL")
_NUMBER_RE = re.compile(r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+(?![A-Za-z]))?")
_TWO_CHAR_OPS = {"<=": "<=", ">=": ">=", "!=": "!=", "=>": "=>", "**": "^", "==": "=", "=<": "<="}

MAX_TOKENS = 4000


def _read_group(text: str, start: int) -> tuple[str, int]:
    """Content of the brace group opening at `start` (which must be "{"), and the index after it."""
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char == "\\":
            continue
        if char == "{" and (index == 0 or text[index - 1] != "\\"):
            depth += 1
        elif char == "}" and text[index - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index], index + 1
    raise ParseError("unbalanced braces", text)


def tokenize(text: str, text_mode: bool = False) -> list[Token]:
    """Split cleaned answer text into tokens (see Token). Raises ParseError on unbalanced groups.

    In `text_mode` (the inside of \\text{...}) letter runs are words, never products of variables.
    """
    tokens: list[Token] = []
    index, length, space = 0, len(text), False

    def add(kind: str, value: str) -> None:
        nonlocal space
        tokens.append(Token(kind, value, space))
        space = False
        if len(tokens) > MAX_TOKENS:
            raise ParseError(f"answer has more than {MAX_TOKENS} tokens", text[:80])

    while index < length:
        char = text[index]
        if char.isspace():
            space, index = True, index + 1
            continue
        if char == "\\":
            nxt = text[index + 1 : index + 2]
            if nxt.isalpha():
                end = index + 1
                while end < length and text[end].isalpha():
                    end += 1
                name, index = text[index + 1 : end], end
                if name in TEXT_COMMANDS:
                    while index < length and text[index] == " ":
                        index += 1
                    if index < length and text[index] == "{":
                        content, index = _read_group(text, index)
                        inner = tokenize(content, text_mode=name != "operatorname")
                        if name == "operatorname" and inner:
                            add("cmd", "".join(t.value for t in inner))
                        else:
                            for token in inner:
                                token.space = token.space or space
                                tokens.append(token)
                            space = True
                    continue
                if name in _ALIASES:
                    alias = _ALIASES[name]
                    add("op" if alias in _OPERATOR_ALIASES else "cmd", alias)
                    if alias == "oo":
                        tokens[-1].kind = "sym"
                else:
                    add("cmd", name)
                continue
            if nxt == "\\":
                add("op", "\\\\")
            elif nxt in "{}":
                add("op", "\\" + nxt)
            elif nxt == "$":  # an escaped dollar is currency; the unit is read before tokenizing
                space = True
            elif nxt in "%|":
                add("op", nxt)
            elif nxt == "#":
                add("op", "#")
            else:
                add("op", "\\")
            index += 2
            continue
        if char.isdigit() or (char == "." and text[index + 1 : index + 2].isdigit()):
            match = _NUMBER_RE.match(text, index)
            assert match is not None
            add("num", match.group(0))
            index = match.end()
            continue
        if char.isalpha():
            end = index
            while end < length and text[end].isalpha() and text[end].isascii():
                end += 1
            if end == index:  # a non-ASCII letter we do not know
                add("op", char)
                index += 1
                continue
            run, index = text[index:end], end
            _add_letters(run, tokens, add, text_mode)
            continue
        two = text[index : index + 2]
        if char == "$":
            space, index = True, index + 1
        elif text[index : index + 3] == "...":
            add("op", "...")
            index += 3
        elif two in _TWO_CHAR_OPS:
            add("op", _TWO_CHAR_OPS[two])
            index += 2
        else:
            add("op", char)
            index += 1
    return tokens


def _add_letters(run: str, tokens: list[Token], add, text_mode: bool) -> None:
    low = run.lower()
    if low in _SEPARATOR_WORDS:
        add("op", ",")
    elif text_mode:  # \text{E} is a choice letter, \text{ m} a unit
        add("sym" if len(run) == 1 and run not in _TEXT_UNIT_LETTERS else "word", run)
    elif low in PLAIN_NAMES and len(run) > 1:
        add("cmd", "oo" if low in ("inf", "infty", "infinity", "oo") else low)
        if tokens[-1].value == "oo":
            tokens[-1].kind = "sym"
    elif low == "in" and not (tokens and tokens[-1].kind == "num"):
        add("op", "in")
    elif len(run) == 1 or (len(run) <= 3 and run not in _SHORT_WORDS):
        for letter in run:
            add("sym", letter)
    else:
        add("word", run)
