"""`choice_letter`: the multiple-choice letter an answer names, read before any parsing."""

from __future__ import annotations

import re

from rlvr.verifier_server.verifiers.math.normalize import clean, strip_trailing

_CHOICE_RE = re.compile(r"^\(?([A-J])\)?$")
_LABELLED_CHOICE_RE = re.compile(r"^\(?([A-J])(?:\)|\.(?=\s))(?:\s|$)")
_TEXT_RE = re.compile(r"\\text(?:bf)?\{([^{}]*)\}")


def choice_letter(text: str) -> str | None:
    """The multiple-choice letter an answer names ("C", "(C)", "\\text{(C)}", "C) 42"), else None."""
    stripped = _TEXT_RE.sub(r"\1", clean(text)).strip().strip("$").strip()
    stripped = strip_trailing(stripped)
    match = _CHOICE_RE.match(stripped) or _LABELLED_CHOICE_RE.match(stripped)
    return match.group(1) if match else None
