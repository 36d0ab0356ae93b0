"""The three kinds of judgement: the chat calls each needs, and how their verdicts become one Outcome."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.outcome import CORRECT, INCORRECT, PARTIAL, Outcome
from rlvr.verifier_server.verifiers.llm_judge import prompts, verdict
from rlvr.verifier_server.verifiers.llm_judge.endpoint import ChatCall, ChatResult, EndpointTimeout
from rlvr.verifier_server.verifiers.llm_judge.options import JudgeOptions

#: Reward of the response for the judge's choice, with the response shown as A.
_PREFERENCE_REWARD = {"A": 1.0, "tie": 0.5, "B": 0.0}


@dataclass
class Judgement:
    """The calls one request needs (`calls`), and `outcome` to combine their results, in call order."""

    options: JudgeOptions
    calls: list[ChatCall]
    labels: list[str]

    def outcome(self, results: list[ChatResult]) -> Outcome:
        """ERROR or TIMEOUT when any call has no verdict (never a 0 the judge did not give), else the score."""
        for label, result in zip(self.labels, results):
            if result.error is not None:
                where = f"llm_judge ({label})" if len(self.labels) > 1 else "llm_judge"
                if isinstance(result.error, EndpointTimeout):
                    return Outcome.timeout(f"{where}: {result.error}")
                return Outcome.error(f"{where}: {result.error}")
        cached, note = sum(result.cached for result in results), ""
        if cached:
            note = " (cached)" if len(results) == 1 else f" ({cached} of {len(results)} cached)"
        return self.combine([result.verdict for result in results], note)

    def combine(self, verdicts: list, note: str) -> Outcome:
        raise NotImplementedError


class Pointwise(Judgement):
    def combine(self, verdicts: list, note: str) -> Outcome:
        [score] = verdicts
        return _scored(
            self.options,
            score.value,
            f"judge score {score.value:g}/{self.options.max_score:g}, read as a {score.how} score{note}",
        )


class Constitution(Judgement):
    def combine(self, verdicts: list, note: str) -> Outcome:
        values = [score.value for score in verdicts]
        mean = sum(values) / len(values)
        outcome = _scored(
            self.options,
            mean,
            f"mean principle score {mean:g}/{self.options.max_score:g} over {len(values)} principles{note}",
        )
        outcome.components |= {label: _normalised(self.options, v) for label, v in zip(self.labels, values)}
        return outcome


class Pairwise(Judgement):
    def combine(self, verdicts: list, note: str) -> Outcome:
        # the second call, when there is one, shows the response as B: flip its choice back
        rewards = [_PREFERENCE_REWARD[choice] for choice in verdicts[:1]]
        rewards += [1.0 - _PREFERENCE_REWARD[choice] for choice in verdicts[1:]]
        reward = sum(rewards) / len(rewards)
        status = CORRECT if reward == 1.0 else INCORRECT if reward == 0.0 else PARTIAL
        shown = ", ".join(f"{label}: {choice}" for label, choice in zip(self.labels, verdicts))
        word = "better than" if reward > 0.5 else "worse than" if reward < 0.5 else "as good as"
        return Outcome(reward, status, f"judge finds the response {word} the reference ({shown}){note}")


def plan(request: pb.VerifyRequest, options: JudgeOptions, deadline: float) -> Judgement:
    """The judgement of `request`: its messages filled in, one call per message set."""
    fields = {
        "prompt": request.prompt or "(no question given)",
        "response": request.response,
        "reference": options.reference,
        "reference_block": prompts.reference_block(options.reference),
        "rubric": options.rubric,
        "min_score": f"{options.min_score:g}",
        "max_score": f"{options.max_score:g}",
    }
    read_score = partial(verdict.read_score, low=options.min_score, high=options.max_score)
    if options.mode == "pairwise":
        orders = [("response", request.response, options.reference)]
        if options.both_orders:
            orders.append(("swapped", options.reference, request.response))
        users = [
            prompts.fill(options.template or prompts.PAIRWISE, fields | {"response_a": a, "response_b": b})
            for _, a, b in orders
        ]
        return Pairwise(
            options,
            [_call(options, user, verdict.read_choice, deadline) for user in users],
            [label for label, _, _ in orders],
        )
    if options.mode == "constitution":
        template = options.template or prompts.POINTWISE
        users = [
            prompts.fill(template, fields | {"rubric": prompts.PRINCIPLE.format(principle=p), "principle": p})
            for p in options.principles
        ]
        labels = [f"principle_{number}" for number in range(1, len(users) + 1)]
        return Constitution(options, [_call(options, user, read_score, deadline) for user in users], labels)
    user = prompts.fill(options.template or prompts.POINTWISE, fields)
    return Pointwise(options, [_call(options, user, read_score, deadline)], ["score"])


def _call(options: JudgeOptions, user: str, read, deadline: float) -> ChatCall:
    body = {
        "model": options.model,
        "messages": prompts.messages(options.system, user),
        "temperature": options.temperature,
        "max_tokens": options.max_tokens,
    }
    return ChatCall(
        url=options.url,
        body=body,
        read=read,
        api_key=options.api_key,
        deadline=deadline,
        retries=options.retries,
        concurrency=options.concurrency,
        cache=options.cache,
    )


def _normalised(options: JudgeOptions, score: float) -> float:
    return (score - options.min_score) / (options.max_score - options.min_score)


def _scored(options: JudgeOptions, score: float, message: str) -> Outcome:
    """Reward = the score mapped to [0, 1]; CORRECT from `pass_score` up, INCORRECT at the bottom."""
    status = CORRECT if score >= options.pass_score else INCORRECT if score <= options.min_score else PARTIAL
    return Outcome(_normalised(options, score), status, message, {"score": score})
