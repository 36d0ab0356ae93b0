"""The judge on the docker backend: the same verdicts, and the same tampering tricks fail."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator

import pytest

from rlvr.sandbox import Limits, SandboxUnavailable
from rlvr.sandbox.docker.backend import DockerBackend
from rlvr.sandbox.judge.runner import run_tests
from rlvr.verifier.v1 import verifier_pb2 as pb

from .test_judge_tampering import FAILED, SCAVENGER, TESTS, TRICKS

pytestmark = pytest.mark.docker

LIMITS = Limits(cpu_seconds=2.0, wall_seconds=10.0, memory_mb=256, processes=16, open_files=32, workdir_mb=8)


@pytest.fixture(scope="module")
def docker() -> Iterator[DockerBackend]:
    backend = DockerBackend(max_containers=2)
    try:
        backend.check()
    except SandboxUnavailable as e:
        if os.environ.get("RLVR_REQUIRE_DOCKER") == "1":
            pytest.fail(f"RLVR_REQUIRE_DOCKER=1 but the docker backend is unavailable: {e}")
        pytest.skip(f"docker backend unavailable: {e}")
    yield backend
    backend.close()


def judge(program: str, test: dict, docker: DockerBackend, language: str = "python") -> str:
    [verdict] = run_tests(textwrap.dedent(program), language, [test], limits=LIMITS, backend=docker)
    return pb.Verdict.Name(verdict.verdict)


def test_every_test_kind_is_judged_in_docker(docker):
    stdio = {"stdio": {"input": "1 2\n", "output": "3\n"}}
    assert judge("print(sum(map(int, input().split())))", stdio, docker) == "OK"
    assert judge('#include <stdio.h>\nint main(){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);}', stdio,
                 docker, "c") == "OK"  # fmt: skip
    correct = "def add(a, b):\n    return a + b + 1000\n"
    assert [judge(correct, TESTS[kind], docker) for kind in sorted(TESTS)] == ["OK"] * 3


@pytest.mark.parametrize("kind", sorted(TESTS))
@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_tampering_tricks_never_pass_in_docker(trick, kind, docker):
    assert judge(TRICKS[trick], TESTS[kind], docker) in FAILED


@pytest.mark.parametrize("kind", sorted(TESTS))
def test_tests_and_expected_values_are_out_of_reach_in_docker(kind, docker):
    program = SCAVENGER + "def add(a, b):\n    return a + b + 1000 if leaked() else a + b\n"
    assert judge(program, TESTS[kind], docker) == "WRONG_ANSWER"
