"""LaTeX / plain-text math -> `Answer`: a small recursive-descent parser building sympy values.

Fast and predictable by design: no antlr, no `eval`, no sympy `parse_expr`; every construct it knows is
listed in docs/math.md and anything else raises `ParseError` (an unparsable answer is never guessed at).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sympy

from rlvr.verifier_server.engine.outcome import quote
from rlvr.verifier_server.verifiers.math.deadlines import StepTimeout, time_limit
from rlvr.verifier_server.verifiers.math.lexer import STYLE_COMMANDS, Token, tokenize, words
from rlvr.verifier_server.verifiers.math.normalize import clean, normalize_answer, strip_trailing
from rlvr.verifier_server.verifiers.math.relations import is_name
from rlvr.verifier_server.verifiers.math.units import canonical_unit
from rlvr.verifier_server.verifiers.math.values import (
    Answer,
    AnswerTooLarge,
    IntervalValue,
    ParseError,
    Relation,
    Seq,
    SetOp,
    Text,
)


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


_FUNCTIONS: dict[str, Any] = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "sec": sympy.sec,
    "csc": sympy.csc,
    "cot": sympy.cot,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "arcsec": sympy.asec,
    "arccsc": sympy.acsc,
    "arccot": sympy.acot,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "coth": sympy.coth,
    "sech": sympy.sech,
    "csch": sympy.csch,
    "arcsinh": sympy.asinh,
    "arccosh": sympy.acosh,
    "arctanh": sympy.atanh,
    "arccoth": sympy.acoth,
    "arcsech": sympy.asech,
    "arccsch": sympy.acsch,
    "ln": sympy.log,
    "log": sympy.log,  # no base: natural, or 10 when the comparison retries (MathConfig)
    "lg": lambda x: sympy.log(x, 10),
    "exp": sympy.exp,
    "abs": sympy.Abs,
    "max": sympy.Max,
    "min": sympy.Min,
    "gcd": sympy.gcd,
    "lcm": sympy.lcm,
    "sgn": sympy.sign,
}
#: other spellings of the functions above: ISO (arsinh), programming (asinh), Russian and French (tg)
_FUNCTION_ALIASES = {
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "arctg": "arctan",
    "tg": "tan",
    "ctg": "cot",
    "cotg": "cot",
    "cotan": "cot",
    "arcctg": "arccot",
    "cosec": "csc",
    "asinh": "arcsinh",
    "arsinh": "arcsinh",
    "arsh": "arcsinh",
    "acosh": "arccosh",
    "arcosh": "arccosh",
    "arch": "arccosh",
    "atanh": "arctanh",
    "artanh": "arctanh",
    "arth": "arctanh",
    "acoth": "arccoth",
    "arcoth": "arccoth",
    "asech": "arcsech",
    "arsech": "arcsech",
    "acsch": "arccsch",
    "arcsch": "arccsch",
    "sh": "sinh",
    "ch": "cosh",
    "th": "tanh",
    "cth": "coth",
}
_INVERSE = {
    "sin": "arcsin",
    "cos": "arccos",
    "tan": "arctan",
    "sec": "arcsec",
    "csc": "arccsc",
    "cot": "arccot",
    "sinh": "arcsinh",
    "cosh": "arccosh",
    "tanh": "arctanh",
    "coth": "arccoth",
    "sech": "arcsech",
    "csch": "arccsch",
}
_GREEK = words(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi rho "
    "sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi Omega ell"
)
_MATRIX_ENVS = words("pmatrix bmatrix Bmatrix matrix vmatrix smallmatrix array")
_RELATIONS = {
    "=": "=",
    "<": "<",
    ">": ">",
    "<=": "<=",
    ">=": ">=",
    "!=": "!=",
    "approx": "approx",
    "in": "in",
}
_SET_OPS = {"cup": "union", "cap": "intersection", "minus": "minus"}
_PM = sympy.Symbol("_pm_")
_ELLIPSIS = sympy.Symbol("...")
_STRUCTURAL_COMMANDS = words(
    "int iint oint lim limsup liminf partial nabla pmod bmod mod over choose end hline cline "
    "multicolumn label tag nonumber notag newline hfill vspace hspace phantom underbrace overbrace"
)
_ARGUMENT_CMDS = frozenset({"pi", "frac", "sqrt"})
_FUNCTION_LETTERS = frozenset("fghpqPQFGH")
_CHOICE_RE = re.compile(r"^\(?([A-J])\)?$")
_PLAIN_MIXED_RE = re.compile(r"^([-+]?)(\d{1,3}(?: \d{3})+|\d+)[ \t]+(\d+)[ \t]*/[ \t]*(\d+)$")
_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NAMED_SETS = {
    "all real numbers": sympy.Reals,
    "all reals": sympy.Reals,
    "real numbers": sympy.Reals,
    "no solution": sympy.EmptySet,
    "no solutions": sympy.EmptySet,
    "no real solutions": sympy.EmptySet,
    "empty set": sympy.EmptySet,
}


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
    mixed = _PLAIN_MIXED_RE.match(text) if config.mixed_numbers else None
    if mixed:
        sign, whole, num, den = mixed.groups()
        value = _mixed(int(whole.replace(" ", "")), int(num), int(den))
        if value is not None:
            return Answer(-value if sign == "-" else value, text, unit, percent, decimals, truncated)
    tokens = tokenize(text)
    parser = _Parser(tokens, config, text)
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


def _mixed(whole: int, num: int, den: int) -> sympy.Rational | None:
    if den == 0 or num >= den:
        return None
    return sympy.Integer(whole) + sympy.Rational(num, den)


class _Parser:
    def __init__(self, tokens: list[Token], config: ParseConfig, text: str):
        self.tokens = tokens + [Token("end", "")]
        self.pos = 0
        self.config = config
        self.text = text
        self.depth = 0
        self.body_depth = 0  # inside the body of a \sum or \prod
        self.bound: set[str] = set()  # the index names of the sums being read

    # -- token helpers -------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def at(self, kind: str, value: str | None = None, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind == kind and (value is None or token.value == value)

    def at_op(self, *values: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.value in values

    def expect_op(self, value: str) -> None:
        token = self.next()
        if token.kind != "op" or token.value != value:
            raise ParseError(
                f"expected {quote(value)}, found {quote(token.value) if token.value else 'end of answer'}",
                self.text,
            )

    def fail(self, message: str) -> ParseError:
        return ParseError(message, self.text)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.config.max_depth:
            raise self.fail(f"answer is nested more than {self.config.max_depth} levels deep")

    # -- top level -----------------------------------------------------------------------------------
    def parse_top(self) -> tuple[Any, str | None]:
        if all(t.kind in ("word", "op") for t in self.tokens[:-1]) and any(
            t.kind == "word" for t in self.tokens
        ):
            text = " ".join(t.value.lower() for t in self.tokens if t.kind == "word")
            if text in _NUMBER_WORDS:
                return sympy.Integer(_NUMBER_WORDS[text]), None
            return _NAMED_SETS.get(text, Text(text)), None
        self._drop_implications()
        items, units = self.parse_items(("end",))
        if not self.at("end"):
            raise self.fail(f"unexpected {quote(self.peek().value)}")
        unit_names = {u for u in units if u}
        unit = unit_names.pop() if len(unit_names) == 1 else None
        if len(items) == 1:
            return _finish(items[0]), unit
        return _finish(Seq(tuple(items), "list")), unit

    def _drop_implications(self) -> None:
        """`a = 1 \\Rightarrow b = 2`: the answer is what the last implication arrives at."""
        cuts = [i for i, t in enumerate(self.tokens) if t.kind == "op" and t.value == "=>"]
        if cuts:
            self.tokens = self.tokens[cuts[-1] + 1 :]

    def parse_items(self, closers: tuple[str, ...]) -> tuple[list[Any], list[str | None]]:
        """Comma/semicolon-separated items up to (not including) one of `closers`."""
        items: list[Any] = []
        units: list[str | None] = []
        while True:
            if self.at_op("..."):
                self.next()
                items.append(_ELLIPSIS)
                units.append(None)
            else:
                items.append(self.parse_relation())
                units.append(self.parse_units())
            if self.at_op(",", ";"):
                while self.at_op(",", ";"):  # "19, 46, and 82" has two separators in a row
                    self.next()
                if self.peek().kind == "end" or self.at_op(*closers):
                    break  # a trailing comma
                continue
            return items, units
        return items, units

    def parse_units(self) -> str | None:
        words: list[str] = []
        while self.at("word") or (words and self.at_op("^")):
            if self.at_op("^"):
                self.next()
                words.append("^" + self.next().value)
            else:
                words.append(self.next().value)
        if not words:
            return None
        unit = canonical_unit(words)
        return unit if unit is not None else "?" + " ".join(w.lower() for w in words)

    def parse_relation(self) -> Any:
        exprs = [self.parse_set_expr()]
        ops: list[str] = []
        while self.peek().kind == "op" and self.peek().value in _RELATIONS:
            ops.append(_RELATIONS[self.next().value])
            if self.at("word"):
                raise self.fail("text inside a relation")
            exprs.append(self.parse_set_expr())
        if not ops:
            return exprs[0]
        if "in" in ops:
            return exprs[-1]
        if ops[0] == "approx" and not is_name(exprs[0]):
            return exprs[0]  # `\\sqrt{2} \\approx 1.414`: the exact value, not its rounding
        return Relation(tuple(exprs), tuple(ops))

    def parse_set_expr(self) -> Any:
        parts = [self.parse_ratio()]
        op = None
        while self.peek().kind == "op" and self.peek().value in _SET_OPS:
            this = _SET_OPS[self.next().value]
            if op is not None and this != op:
                parts = [SetOp(op, tuple(parts))]
            op = this
            parts.append(self.parse_ratio())
        if op is None:
            return parts[0]
        return SetOp(op, tuple(parts))

    def parse_ratio(self) -> Any:
        """`3:4` is the ratio 3/4; `1:2:3` stays an ordered triple."""
        parts = [self.parse_additive()]
        while self.at_op(":"):
            self.next()
            parts.append(self.parse_additive())
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            return _divide(_expr(parts[0]), _expr(parts[1]), self)
        return Seq(tuple(parts), "tuple", "(", ")")

    # -- arithmetic ----------------------------------------------------------------------------------
    def parse_additive(self) -> Any:
        sign = None
        if self.at_op("-", "+", "pm", "mp"):
            sign = self.next().value
        value = self.parse_term()
        if sign == "-":
            value = _neg(value)
        elif sign in ("pm", "mp"):
            value = _PM * _expr(value)
        while self.at_op("+", "-", "pm", "mp"):
            op = self.next().value
            right = self.parse_term()
            if op == "+":
                value = _arithmetic(operator.add, value, right)
            elif op == "-":
                value = _arithmetic(operator.sub, value, right)
            else:
                value = _expr(value) + _PM * _expr(right)
        return value

    def parse_term(self) -> Any:
        value = self.parse_unary()
        while True:
            if self.at_op("*"):
                self.next()
                value = _arithmetic(operator.mul, value, self.parse_unary())
            elif self.at_op("/"):
                self.next()
                value = _divide(_expr(value), _expr(self.parse_unary()), self)
            elif self._starts_implicit_factor():
                value = _arithmetic(operator.mul, value, self.parse_unary())
            else:
                return value

    def _starts_implicit_factor(self) -> bool:
        token = self.peek()
        if token.kind in ("sym", "cmd"):
            return token.value not in ("end", "pmod", "bmod", "mod", "choose")
        if token.kind == "num":
            # "2 3" is not a product (mixed numbers are handled in parse_number), but inside a sum's
            # body "\\binom{n}{k} 2^{n-k}" is.
            return self.body_depth > 0 and self.peek(-1).kind != "num"
        return token.kind == "op" and token.value in ("(", "{", "lfloor", "lceil")

    def parse_unary(self) -> Any:
        if self.at_op("-"):
            self.next()
            return _neg(self.parse_unary())
        if self.at_op("+"):
            self.next()
            return self.parse_unary()
        return self.parse_power()

    def parse_power(self) -> Any:
        base = self.parse_postfix()
        if self.at_op("^"):
            self.next()
            exponent = self.parse_exponent()
            base = self._pow(_expr(base), _expr(exponent))
            base = self.parse_postfix_ops(base)
        return base

    def parse_exponent(self) -> Any:
        self.enter()
        try:
            if self.at_op("-"):
                self.next()
                return _neg(self.parse_exponent())
            if self.at_op("{"):
                return self.parse_group()
            value = self.parse_postfix()
            if self.at_op("^"):
                self.next()
                value = self._pow(_expr(value), _expr(self.parse_exponent()))
            return value
        finally:
            self.depth -= 1

    def _pow(self, base: sympy.Expr, exponent: sympy.Expr) -> sympy.Expr:
        if exponent.is_Integer and base.is_number:
            size = abs(int(exponent)) if abs(exponent) < 10**12 else 10**12
            if base.is_Rational and base not in (0, 1, -1):
                bits = size * max(abs(base.p), abs(base.q)).bit_length()
                if bits > self.config.max_bits:
                    raise AnswerTooLarge(f"number too large to evaluate ({base}^{exponent})", self.text)
        elif exponent.is_number and exponent.is_real and exponent.is_finite:
            if abs(exponent) > 10**6 and not (base.is_number and abs(base) in (0, 1)):
                raise AnswerTooLarge("exponent too large to evaluate", self.text)
        elif exponent.has(sympy.Pow) and any(a.is_Integer and abs(a) > 10**6 for a in exponent.atoms()):
            raise AnswerTooLarge("exponent too large to evaluate", self.text)
        return sympy.Pow(base, exponent)

    def parse_postfix(self) -> Any:
        return self.parse_postfix_ops(self.parse_primary())

    def parse_postfix_ops(self, value: Any) -> Any:
        while True:
            if self.at_op("!"):
                self.next()
                value = _expr(value)
                if value.is_Integer and value > 20000:
                    raise AnswerTooLarge(f"factorial of {value} is too large to evaluate", self.text)
                value = sympy.factorial(value)
            elif self.at_op("%"):
                self.next()
                value = _expr(value) / 100
            elif self.at_op("'"):
                self.next()
                value = sympy.Symbol(f"{_expr(value)}'")
            else:
                return value

    # -- primaries -----------------------------------------------------------------------------------
    def parse_primary(self) -> Any:
        self.enter()
        try:
            return self._primary()
        finally:
            self.depth -= 1

    def _primary(self) -> Any:
        token = self.next()
        kind, value = token.kind, token.value
        if kind == "num":
            return self.parse_number(value)
        if kind == "sym":
            return self.parse_symbol(value)
        if kind == "cmd":
            return self.parse_command(value)
        if kind == "op":
            if value == "(":
                return self.parse_bracketed("(")
            if value == "[":
                return self.parse_bracketed("[")
            if value == "{":
                self.pos -= 1
                return self.parse_group(allow_list=True)
            if value == "\\{":
                if self.at_op("\\}"):
                    self.next()
                    return sympy.EmptySet
                items, _ = self.parse_items(("\\}",))
                self.expect_op("\\}")
                return Seq(tuple(items), "set")
            if value == "|":
                inner = self.parse_additive()
                self.expect_op("|")
                return sympy.Abs(_expr(inner))
            if value in ("lfloor", "lceil"):
                inner = self.parse_additive()
                closer = "rfloor" if value == "lfloor" else "rceil"
                self.expect_op(closer)
                return (sympy.floor if value == "lfloor" else sympy.ceiling)(_expr(inner))
        if kind == "end":
            raise self.fail("answer ends too early")
        raise self.fail(f"unexpected {quote(value)}")

    def parse_number(self, text: str) -> sympy.Expr:
        if len(text) > 400:
            raise AnswerTooLarge(f"number with {len(text)} digits", self.text)
        value = sympy.Rational(text)
        if self.at_op("_") and "." not in text:
            base = self._subscript_base()
            if base is not None:
                return _from_base(text, base, self)
        if self.config.mixed_numbers and value.is_Integer and "." not in text:
            mixed = self._mixed_after(int(value))
            if mixed is not None:
                return mixed
        return value

    def _subscript_base(self) -> int | None:
        """`204_5` / `204_{5}`: the base, consuming the subscript; None (nothing consumed) otherwise."""
        save = self.pos
        self.next()
        braced = self.at_op("{")
        if braced:
            self.next()
        token = self.next()
        if token.kind == "num" and token.value.isdigit() and (not braced or self.at_op("}")):
            if braced:
                self.next()
            return int(token.value)
        self.pos = save
        return None

    def _mixed_after(self, whole: int) -> sympy.Expr | None:
        """`4\\frac{4}{9}` or `4 4/9` right after an integer: a mixed number (proper fraction only)."""
        save = self.pos
        if self.at("cmd", "frac"):
            self.next()
            num, den = self.parse_argument(), self.parse_argument()
            if isinstance(num, sympy.Integer) and isinstance(den, sympy.Integer):
                value = _mixed(whole, int(num), int(den))
                if value is not None:
                    return value
        elif self.at("num") and self.peek().space and self.at("op", "/", 1) and self.at("num", offset=2):
            num, den = int(sympy.Rational(self.next().value)), None
            self.next()
            den = int(sympy.Rational(self.next().value))
            value = _mixed(whole, num, den) if den else None
            if value is not None:
                return value
        self.pos = save
        return None

    def parse_symbol(self, name: str) -> Any:
        if name in self.bound:
            return sympy.Symbol(name)  # a sum's index, even when it is named i or e
        if name == "oo":
            return sympy.oo
        if name == "e" and not self.at_op("_"):
            return sympy.E
        if name == "i" and self.config.imaginary_unit and not self.at_op("_"):
            return sympy.I
        if name in ("C", "A") and self.at_op("_"):
            counted = self._counting_symbol(name)  # C_n^k (choose), A_n^k (arrangements)
            if counted is not None:
                return counted
        if self.at_op("_"):
            self.next()
            sub = self.parse_argument_text()
            name = f"{name}_{sub}"
        if name == "C" and self.at_op("(") and not self.peek().space:
            save = self.pos
            self.next()
            args, _ = self.parse_items((")",))
            if len(args) == 2 and self.at_op(")"):
                self.next()
                return self._binomial(_expr(args[0]), _expr(args[1]))  # C(n, k)
            self.pos = save
        if name in _FUNCTION_LETTERS and self.at_op("(") and not self.peek().space:
            self.next()
            args, _ = self.parse_items((")",))
            self.expect_op(")")
            return sympy.Function(name)(*[_expr(a) for a in args])
        return sympy.Symbol(name)

    def _counting_symbol(self, name: str) -> sympy.Expr | None:
        """`C_{10}^{3}` = binomial(10, 3) and `A_{10}^{3}` = 10!/7! (the notation of Chinese, Russian
        and French textbooks), when both indices are given; None (nothing consumed) otherwise."""
        save = self.pos
        try:
            self.next()
            n = _expr(self.parse_argument())
            if not self.at_op("^"):
                raise self.fail("no upper index")
            self.next()
            k = _expr(self.parse_argument())
        except ParseError:
            self.pos = save
            return None
        if name == "C":
            return self._binomial(n, k)
        if n.is_Integer and n > 20000:
            raise AnswerTooLarge(f"arrangements of {n} are too large to evaluate", self.text)
        return sympy.ff(n, k)

    def _binomial(self, top: sympy.Expr, bottom: sympy.Expr) -> sympy.Expr:
        if top.is_Integer and top > 20000:
            raise AnswerTooLarge(f"binomial coefficient of {top} is too large to evaluate", self.text)
        return sympy.binomial(top, bottom)

    def parse_argument_text(self) -> str:
        """A subscript as plain text: `_1`, `_{12}`, `_n`, `_{n+1}`."""
        if self.at_op("{"):
            content, _ = self._collect_group_tokens()
            return "".join(t.value for t in content)
        return self.next().value

    def _collect_group_tokens(self) -> tuple[list[Token], int]:
        self.expect_op("{")
        depth, collected = 1, list[Token]()
        while True:
            token = self.next()
            if token.kind == "end":
                raise self.fail("unbalanced braces")
            if token.kind == "op" and token.value == "{":
                depth += 1
            elif token.kind == "op" and token.value == "}":
                depth -= 1
                if depth == 0:
                    return collected, self.pos
            collected.append(token)

    def parse_group(self, allow_list: bool = False) -> Any:
        self.expect_op("{")
        if self.at_op("}"):
            raise self.fail("empty group {}")
        items, _ = self.parse_items(("}",))
        if len(items) == 1 and self.at("cmd", "choose"):  # {n \\choose k}
            self.next()
            bottom = self.parse_additive()
            self.expect_op("}")
            return self._binomial(_expr(items[0]), _expr(bottom))
        self.expect_op("}")
        if len(items) == 1:
            return items[0]
        if not allow_list:
            raise self.fail("a list where one value was expected")
        return Seq(tuple(items), "list")

    def parse_argument(self) -> Any:
        """One LaTeX macro argument: a {group}, one digit of a number (`\\frac12`), a letter or a command."""
        if self.at_op("{"):
            return self.parse_group()
        token = self.peek()
        if token.kind == "num":
            self.next()
            if len(token.value) > 1 and token.value.isdigit():
                self.tokens.insert(self.pos, Token("num", token.value[1:]))
                return sympy.Integer(token.value[0])
            return sympy.Rational(token.value)
        if token.kind in ("sym", "cmd"):
            return self.parse_primary()
        raise self.fail(f"missing argument before {quote(token.value) if token.value else 'end of answer'}")

    def parse_bracketed(self, opener: str) -> Any:
        items, _ = self.parse_items((")", "]"))
        closer = self.next()
        if closer.kind != "op" or closer.value not in (")", "]"):
            raise self.fail(f"unclosed {quote(opener)}")
        close = closer.value
        if len(items) == 1:
            if (opener, close) in (("(", ")"), ("[", "]")):
                return items[0]
            raise self.fail(f"one value inside {opener}{close}")
        if len(items) == 2 and (opener, close) != ("(", ")"):
            left, right = (_expr(v) for v in items)
            return IntervalValue(left, right, opener == "(", close == ")")
        return Seq(tuple(items), "tuple", opener, close)

    def parse_command(self, name: str) -> Any:
        if name == "frac":
            num, den = self.parse_argument(), self.parse_argument()
            return _divide(_expr(num), _expr(den), self)
        if name == "sqrt":
            index = None
            if self.at_op("["):
                self.next()
                index = self.parse_additive()
                self.expect_op("]")
            if self.at_op("("):
                self.next()
                radicand = _expr(self.parse_bracketed("("))
            else:
                radicand = _expr(self.parse_argument())
            return sympy.sqrt(radicand) if index is None else sympy.root(radicand, _expr(index))
        if name == "pi":
            return sympy.pi
        if name == "emptyset":
            return sympy.EmptySet
        if name in ("binom", "dbinom", "tbinom"):
            return self._binomial(_expr(self.parse_argument()), _expr(self.parse_argument()))
        if name in ("sum", "prod"):
            return self.parse_big_operator(name)
        name = _FUNCTION_ALIASES.get(name, name)
        if name in _FUNCTIONS:
            return self.parse_function(name)
        if name in _GREEK:
            return sympy.Symbol(name)
        if name in STYLE_COMMANDS:
            inner = self.parse_argument()
            return sympy.Symbol(f"{name}({inner})") if name in ("bar", "overline", "hat") else inner
        if name == "mathbb":
            letter = self.parse_argument_text()
            sets = {"R": sympy.Reals, "Z": sympy.Integers, "N": sympy.Naturals, "Q": sympy.Rationals}
            if letter not in sets:
                raise self.fail(f"unknown set \\mathbb{{{letter}}}")
            return sets[letter]
        if name == "begin":
            return self.parse_environment()
        if name == "boxed" or name == "fbox":
            return self.parse_group(allow_list=True)
        if name in _STRUCTURAL_COMMANDS:
            raise self.fail(f"\\{name} is not supported in an answer")
        if name not in _GREEK and self.at_op("(") and not self.peek().space:
            # `\\operatorname{Si}(2)`: a function we do not know, applied. It stays an unknown
            # function of its arguments (never equal to a number), not the product Si * 2.
            self.next()
            args, _ = self.parse_items((")",))
            self.expect_op(")")
            return sympy.Function(name)(*[_expr(a) for a in args])
        return sympy.Symbol(name)  # an unknown macro names something, like \\alpha does

    def parse_function(self, name: str) -> Any:
        function = _FUNCTIONS[name]
        power = None
        base = None
        if self.at_op("_") and name == "log":
            self.next()
            base = _expr(self.parse_argument())
        elif name == "log" and self.config.log_base != "e":
            base = sympy.Integer(10)
        if self.at_op("^"):
            self.next()
            power = _expr(self.parse_exponent())
            if power == -1 and name in _INVERSE:
                function, power = _FUNCTIONS[_INVERSE[name]], None
        if self.at_op("("):
            self.next()
            args, _ = self.parse_items((")",))
            self.expect_op(")")
            exprs = [_expr(a) for a in args]
        else:
            argument = _expr(self.parse_power())
            while self._continues_argument():  # sin 2x is sin(2x); sin b cos a stops at cos
                argument = argument * _expr(self.parse_power())
            if self.at("word", "degree"):  # sin 60^\circ
                self.next()
                argument = argument * sympy.pi / 180
            exprs = [argument]
        if base is not None:
            result = sympy.log(exprs[0], base)
        elif name in ("max", "min", "gcd", "lcm"):
            result = function(*exprs)
        elif len(exprs) != 1:
            raise self.fail(f"{name} takes one argument")
        else:
            result = function(exprs[0])
        return result if power is None else self._pow(result, power)

    def parse_big_operator(self, name: str) -> sympy.Expr:
        """`\\sum_{k=1}^{n} body` / `\\prod_{k=1}^{n} body`: the body is the product that follows
        (up to the next `+` or `-`), as written in the field. Evaluated to a closed form when sympy
        finds one within a second; otherwise kept as an unevaluated Sum / Product."""
        if not self.at_op("_"):
            raise self.fail(f"\\{name} needs bounds: \\{name}_{{k=1}}^{{n}}")
        self.next()
        braced = self.at_op("{")
        if braced:
            self.next()
        variable = self.next()
        if variable.kind != "sym" or not self.at_op("="):
            raise self.fail(f"\\{name} needs an index and a lower bound, as in _{{k=1}}")
        self.next()
        lower = _expr(self.parse_additive()) if braced else _expr(self.parse_primary())
        if braced:
            self.expect_op("}")
        if not self.at_op("^"):
            raise self.fail(f"\\{name} needs an upper bound, as in ^{{n}}")
        self.next()
        upper = _expr(self.parse_argument())
        index = sympy.Symbol(variable.value)
        self.body_depth += 1
        outer = set(self.bound)
        self.bound.add(variable.value)
        try:
            body = _expr(self.parse_term())
        finally:
            self.body_depth -= 1
            self.bound = outer
        if name == "prod" and lower.is_Integer and upper.is_Integer and upper - lower > 20_000:
            raise AnswerTooLarge("\\prod over more than 20000 factors", self.text)
        operator_class = sympy.Sum if name == "sum" else sympy.Product
        unevaluated = operator_class(body, (index, lower, upper))
        try:
            with time_limit(1.0):
                value = unevaluated.doit()
        except (StepTimeout, TypeError, ValueError, NotImplementedError, ArithmeticError, RecursionError):
            return unevaluated
        return value if isinstance(value, sympy.Expr) else unevaluated

    def _continues_argument(self) -> bool:
        token = self.peek()
        return token.kind == "sym" or (
            token.kind == "cmd" and (token.value in _GREEK or token.value in _ARGUMENT_CMDS)
        )

    def parse_environment(self) -> Any:
        env = self.parse_argument_text()
        if env not in _MATRIX_ENVS:
            raise self.fail(f"unsupported environment {quote(env)}")
        if env == "array" and self.at_op("{"):
            self._collect_group_tokens()
        rows: list[list[sympy.Expr]] = [[]]
        while True:
            if self.at("cmd", "end"):
                self.next()
                self.parse_argument_text()
                break
            if self.at_op("\\\\"):
                self.next()
                rows.append([])
                continue
            if self.at_op("&"):
                self.next()
                continue
            if self.at("end"):
                raise self.fail(f"unterminated {env}")
            rows[-1].append(_expr(self.parse_additive()))
        rows = [row for row in rows if row]
        if not rows or len({len(row) for row in rows}) != 1:
            raise self.fail("matrix rows have different lengths")
        matrix = sympy.ImmutableMatrix(rows)
        return sympy.det(matrix) if env == "vmatrix" else matrix


def _expr(value: Any) -> sympy.Expr:
    """The value as a scalar sympy expression, or ParseError when it is a container or a matrix."""
    if isinstance(value, sympy.Expr) and not isinstance(value, sympy.MatrixBase):
        return value
    if isinstance(value, (int, float)):
        return sympy.sympify(value)
    raise ParseError(f"expected a number or expression, found a {type(value).__name__}")


def _operand(value: Any) -> Any:
    """A scalar or a matrix: what `+ - *` accept (matrix sums and products are answers too)."""
    return value if isinstance(value, sympy.MatrixBase) else _expr(value)


def _arithmetic(operation: Any, *values: Any) -> Any:
    try:
        return operation(*[_operand(v) for v in values])
    except (TypeError, ValueError, NotImplementedError, ArithmeticError) as exc:  # e.g. matrix shapes
        raise ParseError(f"invalid arithmetic: {exc}") from None


def _neg(value: Any) -> Any:
    if isinstance(value, IntervalValue | Seq | SetOp | Relation | Text):
        raise ParseError("minus sign before a set or list")
    return -_operand(value)


def _divide(num: sympy.Expr, den: sympy.Expr, parser: _Parser) -> sympy.Expr:
    if den == 0:
        raise parser.fail("division by zero")
    return num / den


def _from_base(digits: str, base: int, parser: _Parser) -> sympy.Expr:
    """`204_5` as a numeral symbol: a careful grader wants the answer in that base, not its value."""
    if not 2 <= base <= 36:
        raise parser.fail(f"base {base} is not between 2 and 36")
    try:
        int(digits, base)
    except ValueError:
        raise parser.fail(f"{digits} is not a base-{base} number") from None
    return sympy.Symbol(f"{digits.lstrip('0') or '0'}_{base}")


def _finish(value: Any) -> Any:
    """Expand ± into the set of its two values; reject stray ellipses inside expressions."""
    if isinstance(value, sympy.Basic) and value.has(_PM):
        plus, minus = value.subs(_PM, 1), value.subs(_PM, -1)
        return Seq((plus, minus), "set") if plus != minus else plus
    if isinstance(value, Seq):
        items: list[Any] = []
        for item in value.items:
            done = _finish(item)
            if (
                isinstance(done, Seq)
                and done.kind == "set"
                and value.kind != "tuple"
                and isinstance(item, sympy.Basic)
            ):
                items.extend(done.items)
            else:
                items.append(done)
        return Seq(tuple(items), value.kind, value.opener, value.closer)
    return value


def choice_letter(text: str) -> str | None:
    """The multiple-choice letter an answer names ("C", "(C)", "\\text{(C)}", "C) 42"), else None."""
    stripped = re.sub(r"\\text(?:bf)?\{([^{}]*)\}", r"\1", clean(text)).strip().strip("$").strip()
    stripped = strip_trailing(stripped)
    match = _CHOICE_RE.match(stripped) or re.match(r"^\(?([A-J])(?:\)|\.(?=\s))(?:\s|$)", stripped)
    return match.group(1) if match else None
