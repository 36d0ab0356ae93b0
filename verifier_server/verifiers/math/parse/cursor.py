"""`TokenCursor`: the parser's position in the token list, its error messages and its nesting guard."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rlvr.verifier_server.engine.outcome import quote
from rlvr.verifier_server.verifiers.math.lexer import Token
from rlvr.verifier_server.verifiers.math.values import ParseError

if TYPE_CHECKING:
    from rlvr.verifier_server.verifiers.math.parse.answer import ParseConfig


class TokenCursor:
    """Reads `tokens` (an `end` token is appended) of the answer `text`; every rule extends this."""

    tokens: list[Token]
    pos: int
    config: ParseConfig
    text: str
    depth: int
    body_depth: int  # inside the body of a \sum or \prod
    bound: set[str]  # the index names of the sums being read

    def __init__(self, tokens: list[Token], config: ParseConfig, text: str):
        self.tokens = tokens + [Token("end", "")]
        self.pos = 0
        self.config = config
        self.text = text
        self.depth = 0
        self.body_depth = 0
        self.bound = set()

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

    def rewind(self, pos: int) -> None:
        """Back to an earlier position (after a look-ahead that did not match)."""
        self.pos = pos

    @contextmanager
    def sum_body(self, index: str) -> Iterator[None]:
        """While reading a \\sum or \\prod body: `index` is its index (even when named i or e), and a
        number after a factor multiplies it (`\\binom{n}{k} 2^{n-k}`)."""
        self.body_depth += 1
        outer = set(self.bound)
        self.bound.add(index)
        try:
            yield
        finally:
            self.body_depth -= 1
            self.bound = outer

    def drop_through_last_op(self, value: str) -> None:
        """Forget every token up to and including the last `value` operator, if there is one."""
        cuts = [i for i, t in enumerate(self.tokens) if t.kind == "op" and t.value == value]
        if cuts:
            self.tokens = self.tokens[cuts[-1] + 1 :]

    def fail(self, message: str) -> ParseError:
        return ParseError(message, self.text)

    def enter(self) -> None:
        """One level deeper (leave with `self.depth -= 1`); ParseError past `max_depth`."""
        self.depth += 1
        if self.depth > self.config.max_depth:
            raise self.fail(f"answer is nested more than {self.config.max_depth} levels deep")
