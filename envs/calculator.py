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
from rlvr.errors import RlvrError
from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.outcome import UNKNOWN_STATUSES

CALL = re.compile(r"<calculator>(.*?)</calculator>", re.DOTALL)

CALCULATOR_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The Assistant solves the user's problem and may use a "
    "calculator: to evaluate a Python expression, reply with only <calculator>expression</calculator> "
    "(for example <calculator>(17 * 23) / 4</calculator>; the math module's functions are available) and "
    "the result comes back as <result>…</result>. When the answer is known, reply with "
    "<think> reasoning </think> <answer> final answer </answer>."
)

_TASKS: dict[str, type[Generator]] = {
    "arithmetic": ArithmeticGenerator,
    "fractions": FractionsGenerator,
    "word_problems": WordProblemsGenerator,
    "linear_equations": LinearEquationsGenerator,
    "units": UnitsGenerator,
}


class CalculatorUnavailable(RlvrError, RuntimeError):
    """The env's verifier could not run a calculator call (no sandbox there, or no `calculator` verifier)."""


class CalculatorEnv(MultiTurnEnv):
    """Tool use: each turn is either a calculator call or the final answer.

    An action containing `<calculator>expr</calculator>` is a tool call: `expr` (Python) is sent as a
    request to the `calculator` verifier through the env's `verifier`, like any answer: in process
    it runs in this machine's sandbox (`sandbox_backend`, under the worker pool's deadline); with a
    remote verifier it runs on the service, so no local sandbox is needed; in a `TextVectorEnv` the
    tool calls of a step go in the same `verify_batch` as its answers. The observation is
    `<result>value</result>` (the error's last line on failure; role "tool" in chat mode) and the
    reward is 0 (a known 0: `reward_known` stays True). Any other action is the answer: it is
    scored by the env's reward spec (math by default) and ends the episode. The registered turn limit
    (`max_episode_steps`, 4) truncates an episode of only tool calls; it then counts as failed.
    Tasks come from the generator named by `task` ("arithmetic", the default, at `difficulty` 4; or
    "fractions", "word_problems", "linear_equations", "units"). A tool call the verifier cannot run
    (ERROR or INVALID_REQUEST: no sandbox there, or a server without the `calculator` verifier)
    raises `CalculatorUnavailable`: the model is never told the calculator failed when it did not.
    """

    default_system_prompt = CALCULATOR_SYSTEM_PROMPT

    def __init__(
        self,
        *,
        task: str = "arithmetic",
        difficulty: Difficulty = 4,
        num_tasks: int | None = None,
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
        super().__init__(source, sampler=sampler, **kwargs)

    def prepare_step(self, action: str) -> pb.VerifyRequest | None:
        request = super().prepare_step(action)
        call = CALL.search(action)
        if call is None or request is None:
            return request
        return self.tool_request(call.group(1).strip(), request.id)

    def tool_request(self, expression: str, request_id: str = "calculator") -> pb.VerifyRequest:
        """The request that evaluates `expression` with the `calculator` verifier (no reward spec, no group)."""
        request = pb.VerifyRequest(id=request_id, verifier="calculator", response=expression)
        request.options.update({"backend": self.sandbox_backend})
        return request

    def finish_step(self, action: str, response: pb.VerifyResponse | None) -> StepResult:
        assert response is not None, "every turn of a calculator episode goes to the verifier"
        self.turn += 1
        self._messages.append({"role": "assistant", "content": action})
        call = CALL.search(action)
        if call is None:  # the answer: scored, and the episode ends
            info = self._step_info(response)
            self._verdict = self._success(response)
            self.end_episode(info)
            return self._final_observation(), float(response.reward), True, False, info
        expression = call.group(1).strip()
        result = f"<result>{self._tool_output(expression, response)}</result>"
        info = {**self._base_info(), "status": "TOOL_CALL", "tool_input": expression, "tool_output": result}
        self._verdict = False  # cut off now, the episode has no answer: failed
        return self._next_turn(result, "tool"), 0.0, False, False, info

    def calculate(self, expression: str) -> str:
        """The printed value of `expression`, evaluated by the env's verifier in a sandbox; an error's
        last line on failure. Raises `CalculatorUnavailable` when the verifier cannot run it."""
        return self._tool_output(expression, self.verifier.verify_batch([self.tool_request(expression)])[0])

    @staticmethod
    def _tool_output(expression: str, response: pb.VerifyResponse) -> str:
        if response.status == pb.TIMEOUT:
            return "error: the calculation took too long"
        if response.status in UNKNOWN_STATUSES:
            raise CalculatorUnavailable(
                f"the calculator could not evaluate {expression[:80]!r}: "
                f"{pb.Status.Name(response.status)}: {response.message}"
            )
        return response.message
