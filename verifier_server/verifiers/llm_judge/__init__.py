"""The `llm_judge` verifier: an LLM behind an OpenAI-compatible chat endpoint scores completions (RLAIF)."""

from __future__ import annotations

from collections.abc import Sequence

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import Outcome
from rlvr.verifier_server.engine.registry import BatchVerifier, Options, register
from rlvr.verifier_server.verifiers.llm_judge.endpoint import runner
from rlvr.verifier_server.verifiers.llm_judge.judgements import Judgement, plan
from rlvr.verifier_server.verifiers.llm_judge.options import JudgeOptions


@register
class LLMJudge(BatchVerifier):
    """Asks a chat model to judge each completion against a rubric, a reference, or principles.

    Options (request or reward term): `endpoint` (base URL, e.g. http://127.0.0.1:8000/v1) and
    `model` are required; `mode` is "pointwise" (a rubric score on [`min_score`, `max_score`]),
    "pairwise" (better than the reference: `ground_truth` or `reference`) or "constitution" (each of
    `principles` scored, reward their mean). Reward in [0, 1]. A reply without a readable verdict is
    ERROR, an endpoint error is ERROR with its HTTP status, no verdict within the deadline is
    TIMEOUT: never a 0 the judge did not give. Every call of one batch is sent concurrently (at most
    `concurrency` in flight per endpoint); identical judge requests are answered from a cache.
    """

    name = "llm_judge"
    version = "1"
    description = (
        "LLM judge on an OpenAI-compatible endpoint: rubric score, pairwise vs reference, constitution"
    )
    lane = "model"
    default_timeout = 60.0

    def check_batch(self, requests: Sequence[pb.VerifyRequest], options: Sequence[Options]) -> list[Outcome]:
        judgements: list[Judgement | Outcome] = []
        for request, opts in zip(requests, options):
            try:
                judge_options = JudgeOptions.read(opts, request.ground_truth)
                judgements.append(plan(request, judge_options, self._deadline(request, judge_options)))
            except InvalidRequest as exc:
                judgements.append(Outcome.invalid(str(exc)))
        calls = [call for j in judgements if isinstance(j, Judgement) for call in j.calls]
        results = iter(runner().run(calls))
        return [
            j if isinstance(j, Outcome) else j.outcome([next(results) for _ in j.calls]) for j in judgements
        ]

    def _deadline(self, request: pb.VerifyRequest, options: JudgeOptions) -> float:
        """Seconds for the whole judgement: the request's `timeout_seconds`, else option `timeout`, else 60."""
        if request.timeout_seconds > 0:
            return request.timeout_seconds
        return options.timeout or self.default_timeout
