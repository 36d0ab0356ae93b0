"""The judge's options (request options or a reward term's), read and checked once per request."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.specs import get_option
from rlvr.verifier_server.verifiers.llm_judge import prompts

MODES = ("pointwise", "pairwise", "constitution")
OWNER = "llm_judge"


@dataclass(frozen=True)
class JudgeOptions:
    """Where and how to ask the judge; see docs/llm_judge.md for each option."""

    url: str
    model: str
    mode: str
    rubric: str
    principles: tuple[str, ...]
    min_score: float
    max_score: float
    pass_score: float
    reference: str
    both_orders: bool
    template: str
    system: str
    temperature: float
    max_tokens: int
    api_key: str | None
    retries: int
    concurrency: int
    cache: bool
    timeout: float | None

    @classmethod
    def read(cls, options: dict[str, Any], ground_truth: str) -> JudgeOptions:
        """Check `options`; raises InvalidRequest naming the option, the bad value and the fix."""
        endpoint = get_option(options, "endpoint", str, owner=OWNER)
        if not endpoint.startswith(("http://", "https://")):
            raise InvalidRequest(
                f"{OWNER}: option 'endpoint' must be an http(s) URL such as http://127.0.0.1:8000/v1, "
                f"got {endpoint!r}"
            )
        url = endpoint.rstrip("/")
        if not url.endswith("/chat/completions"):
            url += "/chat/completions"
        mode = get_option(options, "mode", str, "pointwise", owner=OWNER, choices=MODES)
        low = get_option(options, "min_score", float, 1.0, owner=OWNER)
        high = get_option(options, "max_score", float, 10.0, owner=OWNER)
        if not low < high:
            raise InvalidRequest(f"{OWNER}: min_score {low:g} must be below max_score {high:g}")
        pass_score = get_option(options, "pass_score", float, high, owner=OWNER)
        principles = get_option(options, "principles", list, [], owner=OWNER)
        if mode == "constitution" and (
            not principles or not all(isinstance(p, str) and p for p in principles)
        ):
            raise InvalidRequest(
                f"{OWNER}: mode 'constitution' needs option 'principles', a non-empty list of texts, "
                f"got {principles!r}"
            )
        reference = get_option(options, "reference", str, ground_truth, owner=OWNER)
        if mode == "pairwise" and not reference:
            raise InvalidRequest(
                f"{OWNER}: mode 'pairwise' compares against a reference answer: set the request's "
                "ground_truth or option 'reference'"
            )
        key_env = get_option(options, "api_key_env", str, "", owner=OWNER)
        api_key = os.environ.get(key_env) if key_env else None
        if key_env and not api_key:
            raise InvalidRequest(f"{OWNER}: option 'api_key_env' names {key_env!r}, which is not set")
        timeout = get_option(options, "timeout", float, None, owner=OWNER)
        retries = get_option(options, "retries", int, 3, owner=OWNER)
        concurrency = get_option(options, "concurrency", int, 8, owner=OWNER)
        max_tokens = get_option(options, "max_tokens", int, 256, owner=OWNER)
        for name, value, least in (
            ("retries", retries, 0),
            ("concurrency", concurrency, 1),
            ("max_tokens", max_tokens, 1),
        ):
            if value < least:
                raise InvalidRequest(f"{OWNER}: option {name!r} must be at least {least}, got {value}")
        if timeout is not None and timeout <= 0:
            raise InvalidRequest(f"{OWNER}: option 'timeout' must be positive seconds, got {timeout:g}")
        return cls(
            url=url,
            model=get_option(options, "model", str, owner=OWNER),
            mode=mode,
            rubric=get_option(options, "rubric", str, prompts.DEFAULT_RUBRIC, owner=OWNER),
            principles=tuple(principles),
            min_score=low,
            max_score=high,
            pass_score=pass_score,
            reference=reference,
            both_orders=get_option(options, "both_orders", bool, False, owner=OWNER),
            template=get_option(options, "template", str, "", owner=OWNER),
            system=get_option(options, "system", str, prompts.SYSTEM, owner=OWNER),
            temperature=get_option(options, "temperature", float, 0.0, owner=OWNER),
            max_tokens=max_tokens,
            api_key=api_key,
            retries=retries,
            concurrency=concurrency,
            cache=get_option(options, "cache", bool, True, owner=OWNER),
            timeout=timeout,
        )
