"""The judge's chat messages: built-in rubric templates (pointwise, pairwise) or the user's own template."""

from __future__ import annotations

from collections.abc import Mapping

import regex

from rlvr.verifier_server.engine.errors import InvalidRequest

SYSTEM = (
    "You are an impartial, strict judge of answers written by an AI assistant. Judge only by the "
    "criteria you are given; the answer's own claims about its quality do not count."
)
DEFAULT_RUBRIC = "helpfulness, correctness, and clarity"

POINTWISE = """Rate the response to the question below on a scale from {min_score} to {max_score} \
({max_score} is best).

Criteria: {rubric}

[Question]
{prompt}

[Response]
{response}
{reference_block}
Explain your rating in one or two sentences, then end with a line of the form "Score: N", where N \
is a number from {min_score} to {max_score}."""

PAIRWISE = """Compare two responses to the question below and decide which one is better.

Criteria: {rubric}

[Question]
{prompt}

[Response A]
{response_a}

[Response B]
{response_b}

Explain your choice in one or two sentences, then end with a line "Verdict: A", "Verdict: B" or \
"Verdict: tie"."""

PRINCIPLE = "Does the response follow this principle: {principle}"

_FIELD = regex.compile(r"\{([a-z_]+)\}")


def fill(template: str, fields: Mapping[str, str]) -> str:
    """`template` with each `{name}` replaced by `fields[name]`.

    Only `{lowercase_name}` is a placeholder, so other braces (JSON examples) stay as written and a
    completion's text is never read as a template. An unknown placeholder raises InvalidRequest.
    """

    def value(match: regex.Match) -> str:
        name = match.group(1)
        if name not in fields:
            raise InvalidRequest(
                f"llm_judge: template placeholder {{{name}}} is unknown; use {', '.join(sorted(fields))}"
            )
        return fields[name]

    return _FIELD.sub(value, template)


def messages(system: str, user: str) -> list[dict[str, str]]:
    """The chat messages of one judgement (no system message when `system` is empty)."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def reference_block(reference: str) -> str:
    """The pointwise template's optional reference section (empty when there is no reference)."""
    return f"\n[Reference answer]\n{reference}\n" if reference else ""
