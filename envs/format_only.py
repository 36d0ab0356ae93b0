"""FormatOnly: follow an output template (tags in order, optionally a \\boxed{} answer), scored by `format`."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlvr.envs.generators.base import Generator, Problem
from rlvr.envs.procedural import GeneratorEnv
from rlvr.verifier.v1 import verifier_pb2 as pb

_QUESTIONS = (
    "Name a prime number between 20 and 40.",
    "Give one word that rhymes with 'light'.",
    "What is the capital of France?",
    "Name a colour of the rainbow.",
    "Give an example of a mammal that lives in the sea.",
    "What is 7 times 8?",
    "Name a planet of the solar system.",
    "Give a synonym of 'happy'.",
    "What is the chemical symbol of gold?",
    "Name a programming language.",
)
# level -> candidate tag sequences; higher levels ask for more sections and a \boxed{} answer.
_TAGS = {
    1: (("answer",),),
    2: (("think", "answer"),),
    3: (("reasoning", "answer"), ("plan", "answer"), ("analysis", "result")),
    4: (("think", "summary", "answer"), ("plan", "steps", "answer"), ("observe", "reflect", "conclusion")),
    5: (("think", "draft", "check", "answer"), ("context", "plan", "work", "result")),
}
_ROLES = {
    "answer": "your final answer",
    "result": "your final answer",
    "conclusion": "your final answer",
    "think": "your reasoning",
    "reasoning": "your reasoning",
    "analysis": "your analysis",
    "plan": "a short plan",
    "summary": "a one-sentence summary",
    "steps": "the steps you took",
    "observe": "what you notice",
    "reflect": "a reflection",
    "draft": "a first draft of the answer",
    "check": "a check of the draft",
    "context": "the context of the question",
    "work": "your working",
}


class FormatOnlyGenerator(Generator):
    """A simple question plus a template in words: which sections, in which order, wrapped in which tags.

    The template is described, never shown filled in, so copying the prompt cannot satisfy it. The
    task's verifier options name the tags (and `boxed` at level 5) for the `format` verifier.
    """

    name = "format_only"

    def make(self, rng: np.random.Generator, level: int) -> Problem:
        question = _QUESTIONS[int(rng.integers(len(_QUESTIONS)))]
        choices = _TAGS[level]
        tags = choices[int(rng.integers(len(choices)))]
        parts = [f"{_ROLES[tag]} between <{tag}> and </{tag}>" for tag in tags]
        sections = parts[0] if len(parts) == 1 else ", then ".join(parts)
        boxed = level == 5
        extra = f" Inside <{tags[-1]}>, put the final answer in \\boxed{{}}." if boxed else ""
        prompt = (
            f"{question}\nReply with exactly these sections and nothing outside them: {sections}.{extra} "
            "Every section must be non-empty."
        )
        options: dict[str, Any] = {"template": "custom", "tags": list(tags)}
        if boxed:
            options["boxed"] = True
        return Problem(
            prompt=prompt, answer="", metadata={"tags": list(tags), "boxed": boxed}, options=options
        )


class FormatOnlyEnv(GeneratorEnv):
    """Template following: reward 1 when the completion has exactly the asked sections, else 0."""

    generator_class = FormatOnlyGenerator
    accuracy_verifier = "format"
    default_system_prompt = ""

    def default_reward_spec(self, format_weight: float) -> pb.RewardSpec:
        spec = pb.RewardSpec(name=self.name)
        spec.terms.add(name="format", verifier="format", weight=1.0)
        return spec
