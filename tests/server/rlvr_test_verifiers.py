"""Verifiers used only by the server tests, loaded as a plugin (`--plugin rlvr_test_verifiers`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.outcome import Outcome
from rlvr.verifier_server.engine.registry import Options, Verifier, register


@register
class Echo(Verifier):
    """Inline: CORRECT when the response equals the ground truth; no ground truth is INVALID_REQUEST."""

    name = "srv_echo"
    description = "test: response == ground_truth"

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        if not request.ground_truth:
            raise InvalidRequest("srv_echo needs a ground_truth")
        if request.response == request.ground_truth:
            return Outcome.correct("equal")
        return Outcome.incorrect("different")


@register
class Sleep(Verifier):
    """Isolated: writes its worker pid to options.pid_file (if given), sleeps options.seconds, CORRECT."""

    name = "srv_sleep"
    description = "test: sleeps in a worker"
    isolated = True
    default_timeout = 30.0

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        if "pid_file" in options:
            Path(options["pid_file"]).write_text(str(os.getpid()))
        time.sleep(float(options.get("seconds", 0.0)))
        return Outcome.correct(f"slept in {os.getpid()}")


@register
class Spin(Verifier):
    """Isolated: a hung check (busy loop forever), as sympy on `10^10^10^10`."""

    name = "srv_spin"
    description = "test: never returns"
    isolated = True
    default_timeout = 1.0

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        while True:
            pass


@register
class ModelSleep(Verifier):
    """Model lane: sleeps options.seconds in the server's thread, as a reward model's forward pass would."""

    name = "srv_model"
    description = "test: a slow model-backed verifier"
    lane = "model"

    def check(self, request: pb.VerifyRequest, options: Options) -> Outcome:
        time.sleep(float(options.get("seconds", 0.0)))
        return Outcome.correct("judged")
