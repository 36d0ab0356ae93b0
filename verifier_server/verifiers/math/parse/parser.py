"""`Parser`: the grammar's rules assembled; `parse_primary` dispatches on the kind of the next token."""

from __future__ import annotations

from typing import Any

from rlvr.verifier_server.engine.outcome import quote
from rlvr.verifier_server.verifiers.math.parse.atoms import AtomRules
from rlvr.verifier_server.verifiers.math.parse.commands import CommandRules


class Parser(CommandRules, AtomRules):
    """A recursive-descent parser of one answer's tokens; `parse_top` reads the whole answer."""

    def parse_primary(self) -> Any:
        self.enter()
        try:
            token = self.next()
            if token.kind == "num":
                return self.parse_number(token.value)
            if token.kind == "sym":
                return self.parse_symbol(token.value)
            if token.kind == "cmd":
                return self.parse_command(token.value)
            if token.kind == "op":
                return self.parse_delimited(token.value)
            if token.kind == "end":
                raise self.fail("answer ends too early")
            raise self.fail(f"unexpected {quote(token.value)}")
        finally:
            self.depth -= 1
