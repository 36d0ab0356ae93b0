"""Calculator: a tool-use env where the model may evaluate Python expressions in the sandbox before answering."""

from __future__ import annotations

import re
from typing import Any

from rlvr.envs.base import EnvConfigError, MultiTurnEnv, StepResult
from rlvr.envs.generators import (
    ArithmeticGenerator,
    FractionsGenerator,
    Generator,
    LinearEquationsGenerator,
    UnitsGenerator,
    WordProblemsGenerator,
)
from rlvr.envs.procedural import Difficulty, difficulty_levels
from rlvr.envs.sources import GeneratorSource
from rlvr.verifier.v1 import verifier_pb2 as pb

CALL = re.compile(r"<calculator>(.*?)</calculator>", re.DOTALL)

CALCULATOR_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The Assistant solves the user's problem and may use a "
    "calculator: to evaluate a Python expression, reply with only <calculator>expression</calculator> "
    "(for example <calculator>(17 * 23) / 4</calculator>; the math module's functions are available) and "
    "the result comes back as <result>…</result>. When the answer is known, reply with "
    "<think> reasoning </think> <answer> final answer </answer>."
)

# Runs inside the sandbox: evaluate one expression with math's names in scope and print its value.
_PROGRAM = """import math
from fractions import Fraction
scope = {{name: getattr(math, name) for name in dir(math) if not name.startswith("_")}}
scope["Fraction"] = Fraction
print(eval(compile({expression!r}, "<calculator>", "eval"), scope))
"""

_TASKS: dict[str, type[Generator]] = {
    "arithmetic": ArithmeticGenerator,
    "fractions": FractionsGenerator,
    "word_problems": WordProblemsGenerator,
    "linear_equations": LinearEquationsGenerator,
    "units": UnitsGenerator,
}


class CalculatorEnv(MultiTurnEnv):
    """Tool use: each turn is either a calculator call or the final answer.

    An action containing `<calculator>expr</calculator>` is a tool call: `expr` (Python) runs in the
    sandbox (`rlvr.sandbox.run`, `limits`: 2 s CPU, 256 MB), the observation is `<result>value</result>`
    (the error's last line on failure; role "tool" in chat mode) and the reward is 0. Any other action
    is the answer: it is scored by the math verifier and ends the episode. After `max_turns` (default
    4) turns without an answer the episode is truncated with reward 0. Tasks come from the generator
    named by `task` ("arithmetic", the default, at `difficulty` 4; or "fractions", "word_problems",
    "linear_equations", "units").
    """

    default_system_prompt = CALCULATOR_SYSTEM_PROMPT

    def __init__(
        self,
        *,
        task: str = "arithmetic",
        difficulty: Difficulty = 4,
        num_tasks: int | None = None,
        max_turns: int = 4,
        sandbox_backend: str = "process",
        sampler: Any = None,
        **kwargs: Any,
    ):
        if task not in _TASKS:
            raise EnvConfigError(f"task={task!r}: pass one of {sorted(_TASKS)}")
        generator = _TASKS[task]()
        source = GeneratorSource(
            generator, difficulty_levels(generator, difficulty, sampler), num_tasks=num_tasks
        )
        self.sandbox_backend = sandbox_backend
        kwargs.setdefault("name", f"calculator_{task}")
        super().__init__(source, max_turns=max_turns, sampler=sampler, **kwargs)

    def prepare_step(self, action: str) -> pb.VerifyRequest | None:
        request = super().prepare_step(action)
        return None if CALL.search(action) else request

    def finish_step(self, action: str, response: pb.VerifyResponse | None) -> StepResult:
        if response is not None:  # the answer: scored, and the episode ends
            self.turn += 1
            self._messages.append({"role": "assistant", "content": action})
            info = self._step_info(response)
            self._end_episode(info, self._success(response))
            return self._final_observation(), float(response.reward), True, False, info
        self.turn += 1
        self._messages.append({"role": "assistant", "content": action})
        expression = CALL.search(action).group(1).strip()  # type: ignore[union-attr]
        result = f"<result>{self.calculate(expression)}</result>"
        info = {**self._base_info(), "status": "TOOL_CALL", "tool_input": expression, "tool_output": result}
        if self.turn >= self.max_turns:
            self._end_episode(info, False)
            return self._final_observation(), 0.0, False, True, info
        self._messages.append({"role": "tool", "content": result})
        observation = self._transcript() if self.observation_mode == "chat" else result
        return observation, 0.0, False, False, info

    def calculate(self, expression: str) -> str:
        """The printed value of `expression`, evaluated in the sandbox; an error's last line on failure.

        Raises `rlvr.sandbox.SandboxUnavailable` when no sandbox can run here (never runs unsandboxed).
        """
        from rlvr.sandbox import Limits, run

        limits = Limits(cpu_seconds=2.0, wall_seconds=4.0, memory_mb=256, output_bytes=4096)
        result = run(
            _PROGRAM.format(expression=expression), "python", limits=limits, backend=self.sandbox_backend
        )
        outcome = result.runs[0] if result.runs else result.compile
        assert outcome is not None
        if outcome.ok:
            return outcome.stdout.decode("utf-8", "replace").strip()[:1000]
        if outcome.timed_out:
            return "error: the calculation took too long"
        lines = outcome.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"error: {lines[-1] if lines else 'the calculation failed'}"[:1000]
