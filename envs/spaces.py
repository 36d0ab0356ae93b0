"""Gymnasium spaces for model text: any Unicode string, and chat transcripts."""

from __future__ import annotations

import string
from typing import Any

from gymnasium import spaces

#: Characters `AnyText.sample()` draws from: printable ASCII plus a few non-ASCII letters and symbols, so
#: sampled actions exercise Unicode handling. Membership (`contains`) is not limited to them.
SAMPLE_CHARSET = string.printable + "éüßπ√≤≥→∑中文😀"

#: Roles a chat observation uses.
ROLES = ("system", "user", "assistant", "tool")


class AnyText(spaces.Text):
    """A `spaces.Text` holding any Unicode string of `min_length`..`max_length` characters.

    Gymnasium's `Text` admits only the characters of its charset (by default ASCII letters and
    digits), which rejects almost every model completion. `AnyText` keeps `Text`'s interface, samples
    from `SAMPLE_CHARSET`, and accepts every `str` whose length is within bounds.
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: Any = None):
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_CHARSET, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText({self.min_length}, {self.max_length})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AnyText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    __hash__ = None  # type: ignore[assignment]  # mutable rng state; like every gymnasium space


def chat_space(max_length: int) -> spaces.Sequence:
    """Space of chat transcripts: a tuple of `{"role": ..., "content": ...}` dicts (`stack=False`).

    The tuple can be passed as it is to a tokenizer's `apply_chat_template` (after `list(...)`).
    """
    message = spaces.Dict({"role": AnyText(16, min_length=1), "content": AnyText(max_length)})
    return spaces.Sequence(message, stack=False)
