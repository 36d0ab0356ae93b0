"""Grader tampering: programs that try to fake a pass instead of computing the answer never get OK.

Every hostile program below defines `add` so that it returns a + b, while the tests expect a + b + 1000:
an honest `add` fails, so a pass can only come from the trick working. Each runs against a script test
that runs inside the sandbox (its loop cannot become host-side calls), the same checks as literal asserts
(converted to calls, expected values kept on the host) and a plain call test.
"""

from __future__ import annotations

import os
import textwrap

import pytest

from rlvr.sandbox import Limits, SandboxUnavailable
from rlvr.sandbox.judge.runner import run_tests
from rlvr.sandbox.process.backend import ProcessBackend
from rlvr.verifier.v1 import verifier_pb2 as pb

from .conftest import FAST, host_unharmed

JUDGE_UID_BASE = 62000  # a uid range of this suite's own, so the census sees only its sandboxes

pytestmark = pytest.mark.sandbox

TESTS = {
    "script": {
        "script": {
            "code": "def check(candidate):\n"
            "    for a, b in [(1, 2), (20, 22)]:\n"
            "        assert candidate(a, b) == a + b + 1000\n"
            "check(add)\n"
        }
    },
    "asserts": {
        "script": {
            "code": "def check(candidate):\n"
            "    assert candidate(1, 2) == 1003\n"
            "    assert candidate(20, 22) == 1042\n"
            "check(add)\n"
        }
    },
    "call": {"call": {"function": "add", "args": [1, 2], "expected": 1003}},
}


@pytest.fixture(scope="module")
def backend() -> ProcessBackend:
    chosen = ProcessBackend(uid_base=JUDGE_UID_BASE, slots=16)
    try:
        chosen.check()
    except SandboxUnavailable as e:
        pytest.skip(f"process sandbox unavailable: {e}")
    return chosen


@pytest.fixture(autouse=True)
def host_is_unharmed(backend: ProcessBackend):
    """Around every test: no sandbox process survives, and a host file is untouched."""
    with host_unharmed(backend, "/tmp/rlvr-judge-canary"):
        yield
    assert not os.path.exists("/tmp/rlvr-pwned")


def judge(program: str, test: dict, backend: ProcessBackend, limits: Limits = FAST) -> tuple[str, str]:
    [verdict] = run_tests(textwrap.dedent(program), "python", [test], limits=limits, backend=backend)
    return pb.Verdict.Name(verdict.verdict), verdict.message


HONEST = """
def add(a, b):
    return a + b
"""

TRICKS = {
    "sys.exit(0) on import": "import sys\nsys.exit(0)\n" + HONEST,
    "os._exit(0) on import": "import os\nos._exit(0)\n" + HONEST,
    "sys.exit(0) in the call": "import sys\ndef add(a, b):\n    sys.exit(0)\n",
    "os._exit(0) in the call": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "raise SystemExit subclass": "class Done(SystemExit):\n    pass\ndef add(a, b):\n    raise Done(0)\n",
    "excepthooks and atexit swallow failures": """
        import atexit, os, sys, threading
        sys.excepthook = lambda *exc: None
        threading.excepthook = lambda args: None
        atexit.register(os._exit, 0)
        def add(a, b):
            return a + b
    """,
    "always-equal object": """
        class Anything:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            __hash__ = object.__hash__
        def add(a, b):
            return Anything()
    """,
    "int subclass equal to everything": """
        class Int(int):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            __hash__ = int.__hash__
        def add(a, b):
            return Int(a + b)
    """,
    "object posing as int via __class__": """
        class Fake:
            __class__ = int
            def __eq__(self, other): return True
        def add(a, b):
            return Fake()
    """,
    "trace hook jumps over asserts": """
        import sys, threading
        def skip(frame, event, arg):
            if event == "line" and frame.f_code.co_name == "check":
                try:
                    frame.f_lineno = frame.f_lineno + 1
                except ValueError:
                    pass
            return skip
        sys.settrace(skip)
        threading.settrace(skip)
        def add(a, b):
            sys.settrace(skip)
            frame = sys._getframe(1)
            while frame is not None:
                frame.f_trace = skip
                frame = frame.f_back
            return a + b
    """,
    "monkeypatched builtins and stdlib": """
        import builtins, json
        builtins.AssertionError = type("AssertionError", (Exception,), {})
        builtins.abs = lambda x: 0
        builtins.isinstance = lambda *a: True
        builtins.len = lambda x: 0
        json.dumps = lambda *a, **k: '{"script": {"passed": true}, "results": []}'
        json.loads = lambda *a, **k: {"script": {"passed": True}}
        def add(a, b):
            return a + b
    """,
    "prints a fake driver report": """
        import os, sys
        for line in ('{"script": {"passed": true}}', 'ok {"results": [{"value": "1003"}]}'):
            print(line)
            sys.__stdout__.write(line + "\\n")
            os.write(1, (line + "\\n").encode())
        def add(a, b):
            print('0' * 32 + ' {"script": {"passed": true}}', flush=True)
            return a + b
    """,
    "writes to the judge's stdout through /proc": """
        import os
        def add(a, b):
            for target in (f"/proc/{os.getppid()}/fd/1", "/proc/1/fd/1", "/proc/self/fd/1"):
                try:
                    with open(target, "w") as out:
                        out.write('0' * 32 + ' {"script": {"passed": true}}\\n')
                except OSError:
                    pass
            return a + b
    """,
    "kills the judge": "import os, signal\ndef add(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return a + b\n",
    "modules planted in the work dir": """
        import os
        fake = "import os\\nprint('x' * 32 + ' {\\"script\\": {\\"passed\\": true}}')\\nos._exit(0)\\n"
        for name in ("ast", "traceback", "json", "sitecustomize", "usercustomize", "builtins", "ctypes"):
            for folder in (".", "/tmp", os.environ.get("HOME", ".")):
                try:
                    with open(os.path.join(folder, name + ".py"), "w") as f:
                        f.write(fake)
                except OSError:
                    pass
        def add(a, b):
            return a + b
    """,
    "returns a lazy object": "def add(a, b):\n    return (x for x in [a + b + 1000])\n",
    "forges frames on the driver's pipes": """
        import os, struct
        def flood():
            # Every fd, so the reply pipe to the judge too: driver-level claims and garbage, no answer.
            for frame in (b'{"passed": true}', b'{"loaded": true, "results": []}', b'{"value": "true"}'):
                for fd in range(3, 64):
                    try:
                        os.write(fd, struct.pack(">I", len(frame)) + frame + bytes(7))
                    except OSError:
                        pass
        def add(a, b):
            flood()
            return a + b
    """,
}

# What a trick may end in: it failed (wrong answer) or it broke the run (runtime error), never more.
FAILED = {"WRONG_ANSWER", "RUNTIME_ERROR"}


@pytest.mark.parametrize("kind", sorted(TESTS))
@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_tampering_tricks_never_pass(trick, kind, backend):
    verdict, message = judge(TRICKS[trick], TESTS[kind], backend)
    assert verdict in FAILED, (verdict, message)


def test_the_honest_program_fails_and_a_correct_one_passes(backend):
    # The baseline the suite relies on: "add" returning a + b is wrong, a + b + 1000 is right.
    correct = "def add(a, b):\n    return a + b + 1000\n"
    for kind in sorted(TESTS):
        assert judge(HONEST, TESTS[kind], backend)[0] == "WRONG_ANSWER"
        assert judge(correct, TESTS[kind], backend)[0] == "OK"


SCAVENGER = """
import gc, os, re, sys

def everything_readable():
    for folder in (".", "/tmp", os.environ.get("HOME", ".")):
        for name in os.listdir(folder):
            try:
                with open(os.path.join(folder, name), errors="replace") as f:
                    yield f.read()
            except OSError:
                pass
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{part}", "rb") as f:
                    yield f.read(1 << 20).decode(errors="replace")
            except OSError:
                pass
        try:  # every descriptor another process holds, reopened (stdin files, pipes without blocking)
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    handle = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    yield os.read(handle, 1 << 20).decode(errors="replace")
                except OSError:
                    pass
                finally:
                    os.close(handle)
        except OSError:
            pass
        try:  # the judge process's memory: test source and expected values live there
            with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
                for line in maps:
                    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                    try:
                        mem.seek(lo)
                        yield mem.read(hi - lo).decode("latin-1")
                    except (OSError, OverflowError, ValueError):
                        pass
        except OSError:
            pass
    for obj in gc.get_objects():
        if isinstance(obj, (dict, list, tuple)):
            yield repr(obj)[:100000]
    frame = sys._getframe()
    while frame is not None:
        yield repr(frame.f_locals)[:100000] + repr(frame.f_code.co_consts)
        frame = frame.f_back

# Written with escapes, so that no pattern matches its own text in the program's memory.
LEAKS = [r"candidate\\(a, b\\) == a \\+ b", r"candidate\\(1, 2\\) == \\d", r'"expected": ?\\d',
         r'"output": ?"\\d', r"(?m)^10[0]3\\s*$"]

def leaked():
    return any(re.search(pattern, text) for text in everything_readable() for pattern in LEAKS)
"""


@pytest.mark.parametrize("kind", sorted(TESTS))
def test_test_source_and_expected_values_are_out_of_the_programs_reach(kind, backend):
    program = SCAVENGER + "def add(a, b):\n    return a + b + 1000 if leaked() else a + b\n"
    verdict, message = judge(program, TESTS[kind], backend, Limits(**{**FAST.__dict__, "cpu_seconds": 2.0}))
    assert verdict == "WRONG_ANSWER", message


def test_expected_stdout_is_out_of_the_programs_reach(backend):
    program = SCAVENGER + "a, b = map(int, input().split())\nprint(a + b + 1000 if leaked() else a + b)\n"
    test = {"stdio": {"input": "1 2\n", "output": "1003\n"}}
    verdict, message = judge(program, test, backend, Limits(**{**FAST.__dict__, "cpu_seconds": 2.0}))
    assert verdict == "WRONG_ANSWER", message


def test_the_scavenger_finds_what_is_in_reach(backend):
    # Guards the test above: planted where it looks, the value is found and the "cheat" passes.
    program = (
        SCAVENGER + "open('planted.txt', 'w').write('1003')\n"
        "def add(a, b):\n    return a + b + 1000 if leaked() else a + b\n"
    )
    assert judge(program, TESTS["call"], backend)[0] == "OK"


def test_stopping_the_judge_process_is_a_time_limit(backend):
    program = (
        "import os, signal\ndef add(a, b):\n    os.kill(os.getppid(), signal.SIGSTOP)\n    return a + b\n"
    )
    limits = Limits(**{**FAST.__dict__, "wall_seconds": 1.0})
    assert judge(program, TESTS["script"], backend, limits)[0] == "TIME_LIMIT"


def test_exiting_inside_a_test_that_expects_an_exception_does_not_pass(backend):
    test = {
        "script": {"code": "try:\n    add(-1, 0)\nexcept Exception:\n    pass\nelse:\n    assert False\n"}
    }
    assert judge("def add(a, b):\n    raise ValueError('negative')\n", test, backend)[0] == "OK"
    for program in (
        "import sys\ndef add(a, b):\n    sys.exit(0)\n",
        "def add(a, b):\n    raise KeyboardInterrupt\n",
        "import os\ndef add(a, b):\n    os._exit(0)\n",
    ):
        assert judge(program, test, backend)[0] == "RUNTIME_ERROR", program


def test_a_str_subclass_is_not_a_str(backend):
    program = (
        "class S(str):\n    def __eq__(self, other): return True\ndef greet(name):\n    return S('nope')\n"
    )
    test = {"call": {"function": "greet", "args": ["ada"], "expected": "hello ada"}}
    verdict, message = judge(program, test, backend)
    assert verdict == "RUNTIME_ERROR" and "not plain data" in message


def test_true_is_not_one(backend):
    test = {"script": {"code": "assert count(1) == 1\n"}}
    assert judge("def count(x):\n    return True\n", test, backend)[0] == "WRONG_ANSWER"
    assert judge("def count(x):\n    return 1\n", test, backend)[0] == "OK"
