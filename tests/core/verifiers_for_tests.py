"""Verifiers used only by the core tests: each misbehaves in one precise way."""

from __future__ import annotations

import os
import time

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import Outcome
from rlvr.verifier_server.engine.registry import GroupVerifier, Options, Verifier, register

CALLS: list[str] = []


@register
class EchoLength(Verifier):
    """Inline: reward = len(response) / 10, CORRECT when the response equals the ground truth."""

    name = "test_echo"

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        CALLS.append(request.response)
        if request.response == "invalid":
            raise InvalidRequest("the response may not be 'invalid'")
        if request.response == "boom":
            raise ZeroDivisionError("boom")
        status = pb.CORRECT if request.response == request.ground_truth else pb.INCORRECT
        return Outcome(len(request.response) / 10, status, f"scale={options.get('scale', 1)}")


@register
class Sleeper(Verifier):
    """Isolated: sleeps `response` seconds (forever for "forever"), exits the worker for "exit"."""

    name = "test_sleep"
    isolated = True
    default_timeout = 1.0

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        if request.response == "exit":
            os._exit(3)
        if request.response == "forever":
            while True:
                pass
        time.sleep(float(request.response))
        return Outcome.correct(f"slept in {os.getpid()}")


@register
class GroupRank(GroupVerifier):
    """Group: reward = rank of the response length within its group; records what it was given."""

    name = "test_group"
    seen: list[tuple[list[str], list[bool | None]]] = []

    def check_group(self, requests, options, correct):
        GroupRank.seen.append(([r.response for r in requests], list(correct)))
        lengths = sorted(len(r.response) for r in requests)
        return [Outcome(float(lengths.index(len(r.response))), pb.CORRECT) for r in requests]
