"""In-sandbox Python test driver for call and script tests, and the value codec it shares with the host.

This file is standard-library only: the judge passes its source to `python3 -I -c` inside the sandbox
(never as a file, so nothing a program writes to the work dir can replace it), and the host imports
only the value codec from it.

Two processes run inside the sandbox, split *before* any secret exists:

- the judge process J starts, forks the program process C, makes itself non-dumpable (so C, which
  has no CAP_SYS_PTRACE, cannot read its memory or open its `/proc/<pid>/fd`), and only then reads
  its job from stdin: a per-run random token, the program source and the tests;
- C points its stdin at /dev/null and its stdout at stderr, receives the program source over a pipe,
  runs it as module `solution`, then serves "call function F with these arguments" requests.

Everything crossing from C to J is untrusted bytes in the value codec below, which only ever builds
exact `None`, `bool`, `int`, `float`, `str`, `list`, `tuple`, `set` and `dict` values: objects whose
`__eq__` always answers True, int or str subclasses and the like cannot come back. Script tests run
in J against proxies of the program's functions, so the program cannot see the test source or the
expected values, patch J's builtins, install trace or exception hooks in J, or end J "successfully":
J writes `<token> <report>` as the only line of stdout once the checks are done, and C, whose own
stdout goes to stderr and who never saw the token, cannot forge it.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import sys
from typing import Any

MAX_DEPTH = 100  # nesting of a value; deeper values are refused (no recursion blow-ups)
MAX_MESSAGE = 300  # characters kept of an exception message


class ValueCodecError(ValueError):
    """A value is not plain data (or is malformed on the wire)."""


# ---------------------------------------------------------------------------------------- value codec
# JSON keeps None, bools, ints and floats (repr, so exact; NaN / Infinity allowed) apart by itself;
# lists are arrays. Everything else is a one-key object: {"tuple": [...]}, {"set": [...]},
# {"dict": [[key, value], ...]}, and {"int": "<hex>"} for ints past 64 bits (hex has no digit limit,
# unlike decimal: `sys.set_int_max_str_digits`). An object with any other shape is malformed.

_BIG_INT = 1 << 64


def _encode(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueCodecError(f"value nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if kind is int and not -_BIG_INT < value < _BIG_INT:
        return {"int": format(value, "x")}
    if value is None or kind is bool or kind is int or kind is float or kind is str:
        return value
    if kind is list:
        return [_encode(v, depth + 1) for v in value]
    if kind is tuple:
        return {"tuple": [_encode(v, depth + 1) for v in value]}
    if kind is set or kind is frozenset:
        return {"set": [_encode(v, depth + 1) for v in value]}
    if kind is dict:
        return {"dict": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()]}
    raise ValueCodecError(f"a value of type {kind.__name__} is not plain data")


def encode_value(value: Any) -> str:
    """`value` as codec JSON text; raise ValueCodecError unless it is exact plain data."""
    try:
        return json.dumps(_encode(value, 0), ensure_ascii=True, separators=(",", ":"))
    except (ValueError, RecursionError) as exc:  # e.g. an int past the str conversion limit
        if isinstance(exc, ValueCodecError):
            raise
        raise ValueCodecError(f"value cannot be encoded: {exc}") from None


def _decode(raw: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueCodecError(f"value nested deeper than {MAX_DEPTH} levels")
    kind = type(raw)
    if raw is None or kind is bool or kind is int or kind is float or kind is str:
        return raw
    if kind is list:
        return [_decode(v, depth + 1) for v in raw]
    if kind is dict and len(raw) == 1:
        (tag, body), *_ = raw.items()
        if tag == "int" and type(body) is str and body.lstrip("-").isalnum():
            try:
                return int(body, 16)
            except ValueError:
                pass
        if type(body) is list:
            if tag == "tuple":
                return tuple(_decode(v, depth + 1) for v in body)
            try:
                if tag == "set":
                    return {_decode(v, depth + 1) for v in body}
                if tag == "dict" and all(type(p) is list and len(p) == 2 for p in body):
                    return {_decode(k, depth + 1): _decode(v, depth + 1) for k, v in body}
            except TypeError as exc:  # an unhashable set element or key
                raise ValueCodecError(f"malformed {tag}: {exc}") from None
    raise ValueCodecError(f"malformed value of type {kind.__name__}")


def decode_value(text: str | bytes) -> Any:
    """Exact plain data from codec JSON text; raise ValueCodecError on anything else."""
    try:
        raw = json.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ValueCodecError(f"not codec JSON: {exc}") from None
    return _decode(raw, 0)


# ------------------------------------------------------------------------------------ framed pipes


class ChannelClosed(Exception):
    """The other end of a pipe went away."""


class ReplyTooLarge(ValueCodecError):
    """A reply longer than the run's output limit."""


def _send(fd: int, message: dict) -> None:
    data = json.dumps(message, ensure_ascii=True).encode()
    payload = struct.pack(">I", len(data)) + data
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _receive(fd: int, max_bytes: int) -> dict:
    (size,) = struct.unpack(">I", _read_exactly(fd, 4))
    if size > max_bytes:
        raise ReplyTooLarge(f"reply of {size} bytes exceeds the {max_bytes}-byte limit")
    message = json.loads(_read_exactly(fd, size))
    if type(message) is not dict:
        raise ValueCodecError("malformed reply")
    return message


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


# ------------------------------------------------------------------------------- program process C


def _program_process(requests: int, replies: int) -> None:
    """Load the program sent by J and serve its calls; never returns."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # the program's prints go to stderr: only J may write to stdout
    os.close(devnull)
    import types

    module = types.ModuleType("solution")
    module.__file__ = os.path.abspath("solution.py")
    sys.modules["solution"] = module
    try:
        message = _receive(requests, 1 << 30)
        code = compile(message["source"], "solution.py", "exec")
        exec(code, module.__dict__)
    except BaseException as exc:  # noqa: BLE001 - the program's failure is reported, not raised
        _flush_program_output()
        _send(replies, {"raised": [type(exc).__name__, _short(str(exc))]})
        os._exit(1)
    _flush_program_output()
    _send(replies, {"loaded": True})
    namespace = module.__dict__
    while True:
        try:
            message = _receive(requests, 1 << 30)
        except ChannelClosed:
            os._exit(0)
        reply: dict
        try:
            target = _resolve(namespace, message["name"])
            if message["op"] == "lookup":
                reply = {"callable": True} if callable(target) else {"value": encode_value(target)}
            else:
                args = decode_value(message["args"])
                kwargs = decode_value(message["kwargs"])
                reply = {"value": encode_value(target(*args, **kwargs))}
        except KeyError as exc:
            reply = {"missing": str(exc)} if message.get("op") == "lookup" else _raised(exc)
        except BaseException as exc:  # noqa: BLE001
            reply = _raised(exc)
        _flush_program_output()
        _send(replies, reply)


def _resolve(namespace: dict, name: str) -> Any:
    """`f`, or `Solution.method` (LeetCode style: the class is instantiated without arguments)."""
    first, *rest = name.split(".")
    target = namespace[first]
    for part in rest:
        target = getattr(target() if isinstance(target, type) else target, part)
    return target


def _flush_program_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):  # the program may have replaced or closed them
            stream.flush()


def _raised(exc: BaseException) -> dict:
    if isinstance(exc, ValueCodecError):
        return {"unjudgeable": _short(str(exc))}
    return {"raised": [type(exc).__name__, _short(str(exc))]}


# --------------------------------------------------------------------------------- judge process J


class ProgramException(Exception):
    """Base of every exception J raises on the program's behalf (its class name mirrors the program's)."""


class ProgramGone(BaseException):
    """The program process exited, aborted (SystemExit...), was killed, or sent something unreadable or
    too large (`kind` "output"). A BaseException, so that test code's `except Exception` cannot swallow it."""

    def __init__(self, message: str, kind: str = "exited"):
        super().__init__(message)
        self.kind = kind


def _program_exception(name: str, message: str) -> ProgramException:
    import builtins

    base = getattr(builtins, name, None)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    # A subclass of the builtin so that `except ValueError` in test code works, yet J can tell it apart.
    bases = (ProgramException,) if base is Exception else (base, ProgramException)
    try:
        return type(_short(name), bases, {})(message)
    except (TypeError, ValueError):  # a builtin wanting more than a message, or an impossible name
        return ProgramException(f"{_short(name)}: {message}")


# Raised by the program, these end the test as if it had exited: test code may not catch them.
_ABORTS = frozenset({"SystemExit", "KeyboardInterrupt", "GeneratorExit"})


class _Program:
    """J's side of the pipe to C."""

    def __init__(self, pid: int, requests: int, replies: int, max_reply_bytes: int):
        self.pid, self.requests, self.replies, self.max_reply_bytes = pid, requests, replies, max_reply_bytes
        # Once set, every later request fails with it: a test cannot carry on past a broken program.
        self.broken: ProgramGone | None = None

    def _fail(self, message: str, kind: str = "exited") -> ProgramGone:
        self.broken = ProgramGone(message, kind)
        return self.broken

    def ask(self, message: dict) -> dict:
        if self.broken is not None:
            raise self.broken
        try:
            _send(self.requests, message)
            return _receive(self.replies, self.max_reply_bytes)
        except (ChannelClosed, BrokenPipeError):
            raise self._fail(self.exit_status()) from None
        except ReplyTooLarge as exc:
            raise self._fail(str(exc), "output") from None
        except (ValueError, KeyError, struct.error) as exc:
            raise self._fail(f"sent an unreadable reply ({_short(str(exc))})") from None

    def exit_status(self) -> str:
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return "the program process vanished"
        if os.WIFSIGNALED(status):
            return f"the program process was killed by signal {os.WTERMSIG(status)}"
        return f"the program process exited with code {os.waitstatus_to_exitcode(status)}"

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        """`name(*args, **kwargs)` in C: its exact plain result, or the program's exception."""
        reply = self.ask(
            {"op": "call", "name": name, "args": encode_value(list(args)), "kwargs": encode_value(kwargs)}
        )
        if "value" in reply and type(reply["value"]) is str:
            try:
                return decode_value(reply["value"])
            except ValueCodecError as exc:
                raise self._fail(f"sent a malformed value ({exc})") from None
        if "unjudgeable" in reply:
            raise _program_exception("TypeError", f"{name} returned {reply['unjudgeable']}")
        raised = reply.get("raised")
        if type(raised) is list and len(raised) == 2 and all(type(x) is str for x in raised):
            if raised[0] in _ABORTS:
                raise self._fail(_short(f"the program raised {raised[0]}({raised[1]})"))
            raise _program_exception(raised[0], _short(raised[1]))
        raise self._fail("sent an unreadable reply")


class _Proxy:
    """Stands in J for one function of the program: calls go to C, plain values come back."""

    def __init__(self, program: _Program, name: str):
        self._program, self._name = program, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._program.call(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<program function {self._name}>"


def _global_names(code: Any) -> set[str]:
    """Every global (and attribute) name the compiled test code may read, builtins left out.

    A superset of what the program must provide: names the test binds itself are rebound when it runs.
    (Code objects, not `ast`, whose import would cost every run several milliseconds.)
    """
    import builtins

    names, stack = set(), [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(c for c in current.co_consts if type(c) is type(code))
    return names - set(dir(builtins))


def _error(kind: str, exc: BaseException | str, line: int | None = None) -> dict:
    if isinstance(exc, BaseException):
        name, text = type(exc).__name__, str(exc)
    else:
        name, text = "", exc
    return {"kind": kind, "type": name, "message": _short(text), "line": line}


def _run_calls(program: _Program, calls: list) -> list:
    results: list[dict[str, Any]] = []
    for call in calls:
        try:
            value = program.call(call["function"], decode_value(call["args"]), decode_value(call["kwargs"]))
            results.append({"value": encode_value(value)})
        except ProgramException as exc:
            results.append({"error": _error("raised", exc)})
            break
        except ProgramGone as exc:
            results.append({"error": _error(exc.kind, str(exc))})
            break
    return results


def _test_line(exc: BaseException) -> int | None:
    """The line of the test code where `exc` passed last."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<test>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _run_script(program: _Program, source: str) -> dict:
    import importlib

    namespace: dict[str, Any] = {"__name__": "__test__"}
    try:
        code = compile(source, "<test>", "exec")
        for name in sorted(_global_names(code)):
            reply = program.ask({"op": "lookup", "name": name})
            if reply.get("callable") is True:
                namespace[name] = _Proxy(program, name)
            elif type(reply.get("value")) is str:
                try:
                    namespace[name] = decode_value(reply["value"])
                except ValueCodecError as exc:
                    raise program._fail(f"sent a malformed value ({exc})") from None
            elif name in sys.stdlib_module_names:  # e.g. `math`, imported by the program, used by the test
                namespace[name] = importlib.import_module(name)
        exec(code, namespace)
    except BaseException as exc:  # noqa: BLE001 - any way out but the normal one is a failure
        if program.broken is not None:
            return {"passed": False, "error": _error(program.broken.kind, str(program.broken))}
        line = _test_line(exc)
        if isinstance(exc, ProgramException):
            return {"passed": False, "error": _error("raised", exc, line)}
        if isinstance(exc, AssertionError):
            return {"passed": False, "error": _error("assertion", exc, line)}
        return {"passed": False, "error": _error("test", exc, line)}
    if program.broken is not None:  # the test code caught it, but a broken program never passes
        return {"passed": False, "error": _error(program.broken.kind, str(program.broken))}
    return {"passed": True}


_REFUSED = 3  # J's exit code when it cannot keep the job from the program (the host: SANDBOX_ERROR)


def _wipe_stdin() -> None:
    """Leave nothing of the job behind stdin, which other processes may hold and C could reopen.

    A pipe or socket is drained by the read; a memfd (the process backend's stdin, also held by the
    sandbox's pid 1, whose /proc/1/fd/0 C can open) is truncated; any other file is refused.
    """
    import stat

    mode = os.fstat(0).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode):
        return
    if stat.S_ISREG(mode) and os.readlink("/proc/self/fd/0").startswith("/memfd:"):
        os.ftruncate(0, 0)
        if os.fstat(0).st_size == 0:
            return
    raise OSError(f"stdin is {os.readlink('/proc/self/fd/0')!r}, which the program could reopen")


def _make_undumpable() -> None:
    import ctypes

    pr_set_dumpable = 4
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def main() -> None:
    """J: fork C, hide, read the job from stdin, run it, print `<token> <report>` on stdout."""
    # Nothing J imports may come from the writable work dir.
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if os.path.isabs(p) and p != cwd and not p.startswith(cwd + os.sep)]
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.close(requests_w)
        os.close(replies_r)
        try:
            _program_process(requests_r, replies_w)
        finally:
            os._exit(1)
    os.close(requests_r)
    os.close(replies_w)
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)  # J only, after the fork: test code may hold huge int literals
    try:
        _make_undumpable()
    except OSError as exc:
        os.kill(pid, 9)
        sys.stderr.write(f"rlvr driver: cannot protect the judge process: {exc}\n")
        sys.exit(_REFUSED)
    job = json.loads(sys.stdin.buffer.read())
    try:
        _wipe_stdin()
    except OSError as exc:
        os.kill(pid, 9)
        sys.stderr.write(f"rlvr driver: cannot hide the job from the program: {exc}\n")
        sys.exit(_REFUSED)
    token = job["token"]
    program = _Program(pid, requests_w, replies_r, job["max_reply_bytes"])
    report: dict[str, Any]
    try:
        loaded = program.ask({"op": "load", "source": job["program"]})
    except ProgramGone as exc:
        loaded = {"exited": str(exc)}
    if loaded.get("loaded") is not True:
        raised = loaded.get("raised")
        if type(raised) is list and len(raised) == 2 and all(type(x) is str for x in raised):
            report = {"load_error": {"kind": "raised", "type": raised[0], "message": _short(raised[1])}}
        else:
            report = {"load_error": _error("exited", str(loaded.get("exited", "sent an unreadable reply")))}
    elif job["mode"] == "calls":
        report = {"results": _run_calls(program, job["calls"])}
    else:
        report = {"script": _run_script(program, job["script"])}
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)  # the program's threads must not outlive the verdict
    line = f"{token} {json.dumps(report, ensure_ascii=True)}\n".encode()
    view = memoryview(line)
    while view:
        view = view[os.write(1, view) :]
    os._exit(0)


if __name__ == "__main__":
    main()
