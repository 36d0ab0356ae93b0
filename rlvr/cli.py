"""The `rlvr` command line: verify JSON lines, list verifiers, serve the reward service, train a policy."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO, NoReturn, TextIO

import typer
from tqdm import tqdm

from rlvr.verifier.v1 import verifier_pb2 as pb

app = typer.Typer(
    name="rlvr",
    help="Verifiable rewards for RL on language models.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)
CHUNK_LINES = 512

EXAMPLE = {
    "id": "1",
    "verifier": "math",
    "response": "so the answer is $\\boxed{\\frac{1}{2}}$",
    "ground_truth": "0.5",
}


class _Stop(Exception):
    """A one-line error for the user (no traceback): what went wrong and what to do about it."""


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"rlvr: error: {message}", err=True)
    raise typer.Exit(code)


def _open_source(source: Path | None) -> BinaryIO:
    if source is None or str(source) == "-":
        return sys.stdin.buffer
    if source.is_dir():
        raise _Stop(f"{source} is a directory; pass a JSON-lines file of VerifyRequests (or '-' for stdin)")
    try:
        return source.open("rb")
    except OSError as exc:
        raise _Stop(f"cannot read {source}: {exc.strerror or exc}") from None


def _request_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of `stream`, each with its 1-based line number."""
    with stream:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, line.rstrip(b"\r\n")


class _AtomicOutput:
    """A text file written beside `path` and moved over it only on `commit`: a failed or interrupted
    run leaves an existing `path` as it was."""

    def __init__(self, path: Path, source: Path | None):
        if path.is_dir():
            raise _Stop(f"output {path} is a directory; pass a file name")
        if source is not None and str(source) != "-" and _same_file(path, source):
            raise _Stop(f"output {path} is the input file; write elsewhere, then move it over the input")
        self.path = path
        try:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or Path("."))
        except OSError as exc:
            raise _Stop(
                f"cannot write to {path}: {exc.strerror or exc} (its folder must exist and be writable)"
            ) from None
        self.temp = Path(name)
        self.file = os.fdopen(fd, "w", encoding="utf-8")

    def commit(self) -> None:
        self.file.close()
        try:
            mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o666 & ~_umask()
            os.chmod(self.temp, mode)
            os.replace(self.temp, self.path)
        except OSError as exc:
            self.discard()
            raise _Stop(f"cannot write to {self.path}: {exc.strerror or exc}") from None

    def discard(self) -> None:
        self.file.close()
        self.temp.unlink(missing_ok=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@app.command()
def verify(
    source: Annotated[
        Path | None,
        typer.Argument(help="JSON lines of VerifyRequest (proto JSON mapping); '-' or omitted reads stdin."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write here instead of stdout (replaced only once every line is answered)."
        ),
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Verify a built-in example request and exit.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Exit with code 1 if any line was answered INVALID_REQUEST."),
    ] = False,
) -> None:
    """Verify JSON-lines requests; write one VerifyResponse JSON line per input, same id, same order.

    A malformed line is answered with status INVALID_REQUEST for that line; the others are unaffected,
    and a summary of such lines (and of lines without an "id") goes to stderr. Members of a group
    (same group_id) are verified in one call, so group terms see the whole group.
    Exit codes: 0 done (even with INVALID_REQUEST lines, unless --strict), 1 --strict and some line was
    INVALID_REQUEST, 2 bad arguments or unreadable input / unwritable output (nothing written).
    """
    from rlvr.verifier_server.engine.core import verify_batch
    from rlvr.verifier_server.engine.groups import line_group, streamed_whole_group_chunks
    from rlvr.verifier_server.engine.messages import response_to_json

    sink: _AtomicOutput | None = None
    try:
        if example:
            lines: Iterator[tuple[int, bytes]] = iter([(1, json.dumps(EXAMPLE).encode())])
        else:
            lines = _request_lines(_open_source(source))
        sink = _AtomicOutput(output, source) if output is not None else None
    except _Stop as exc:
        _fail(str(exc))
    out: TextIO = sys.stdout if sink is None else sink.file
    bar = tqdm(desc="verifying", unit="request", disable=not progress, file=sys.stderr)
    report = _VerifyReport()
    try:
        for chunk in streamed_whole_group_chunks(lines, CHUNK_LINES, lambda line: line_group(line[1])):
            for (number, line), response in zip(chunk, verify_batch([line for _, line in chunk])):
                report.add(number, line, response)
                out.write(response_to_json(response) + "\n")
            out.flush()
            bar.update(len(chunk))
        if sink is not None:
            sink.commit()
            sink = None
    except _Stop as exc:
        _fail(str(exc))
    except BrokenPipeError:  # the reader went away (`rlvr verify big.jsonl | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    finally:
        bar.close()
        if sink is not None:
            sink.discard()
    report.print()
    if strict and report.invalid:
        raise typer.Exit(1)


class _VerifyReport:
    """What `rlvr verify` tells the user on stderr once every line is answered."""

    SHOWN = 5

    def __init__(self) -> None:
        self.total = 0
        self.invalid: list[tuple[int, str]] = []
        self.no_id: list[int] = []

    def add(self, number: int, line: bytes, response: pb.VerifyResponse) -> None:
        self.total += 1
        if response.status == pb.INVALID_REQUEST:
            self.invalid.append((number, response.message))
        if not response.id and _states_no_id(line):
            self.no_id.append(number)

    def print(self) -> None:
        if self.no_id:
            typer.echo(
                f'rlvr verify: warning: {_count(self.no_id, "line")} without an "id" ({_lines(self.no_id)}) '
                'answered with "id": ""; give every request an id to match answers to requests',
                err=True,
            )
        if self.invalid:
            number, message = self.invalid[0]
            typer.echo(
                f"rlvr verify: {len(self.invalid)} of {self.total} lines answered INVALID_REQUEST "
                f"({_lines([n for n, _ in self.invalid])}); line {number}: {message[:300]}",
                err=True,
            )


def _states_no_id(line: bytes) -> bool:
    try:
        data = json.loads(line)
    except ValueError:
        return False  # not JSON: already reported as INVALID_REQUEST
    return isinstance(data, dict) and data.get("id") in (None, "")


def _count(numbers: list[int], noun: str) -> str:
    return f"{len(numbers)} {noun}{'s' if len(numbers) != 1 else ''}"


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[: _VerifyReport.SHOWN]))
    more = f" and {len(numbers) - _VerifyReport.SHOWN} more" if len(numbers) > _VerifyReport.SHOWN else ""
    return f"line{'s' if len(numbers) != 1 else ''} {shown}{more}"


@app.command()
def verifiers(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List the registered verifiers and named reward specs."""
    from google.protobuf import json_format

    from rlvr.verifier_server.engine.registry import list_verifiers

    for info in list_verifiers():
        if as_json:
            typer.echo(json.dumps(json_format.MessageToDict(info)))
        else:
            typer.echo(f"{info.name:<24} {info.version:<8} {info.description}")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind [RLVR_HOST; default 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="gRPC port [RLVR_PORT; default 50051].")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes [RLVR_WORKERS; default CPU cores].")
    ] = None,
    memory_limit_mb: Annotated[int | None, typer.Option(help="Address-space limit per worker, MiB.")] = None,
    slow_after: Annotated[
        float | None,
        typer.Option(help="Seconds before a running check is demoted and an extra worker started."),
    ] = None,
    burst_workers: Annotated[
        int | None, typer.Option(help="Extra workers for demoted checks, at most.")
    ] = None,
    worker_nice: Annotated[int | None, typer.Option(help="Niceness of the workers (0..19).")] = None,
    long_workers: Annotated[
        int | None, typer.Option(help="Workers of their own for kinds of check that usually run long.")
    ] = None,
    long_after: Annotated[
        float | None, typer.Option(help="Median seconds past which a kind of check counts as long.")
    ] = None,
    max_queue: Annotated[int | None, typer.Option(help="Items in flight before RESOURCE_EXHAUSTED.")] = None,
    max_batch: Annotated[int | None, typer.Option(help="Requests per VerifyBatch.")] = None,
    stream_window: Annotated[int | None, typer.Option(help="Items in flight per VerifyStream.")] = None,
    threads: Annotated[int | None, typer.Option(help="Threads per lane running the verify core.")] = None,
    max_message_mb: Annotated[int | None, typer.Option(help="Largest gRPC message, MiB.")] = None,
    grace_seconds: Annotated[float | None, typer.Option(help="Drain time on SIGTERM, seconds.")] = None,
    token: Annotated[
        str | None,
        typer.Option(help="Require `authorization: Bearer TOKEN` (prefer RLVR_TOKEN: flags show in ps)."),
    ] = None,
    tls_cert: Annotated[
        str | None, typer.Option(help="PEM certificate chain; with --tls-key enables TLS.")
    ] = None,
    tls_key: Annotated[str | None, typer.Option(help="PEM private key.")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP/JSON gateway port (0: off).")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Prometheus /metrics port (0: off).")] = None,
    plugin: Annotated[
        list[str] | None,
        typer.Option(help="Module registering extra verifiers (repeatable) [RLVR_PLUGINS=a,b]."),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING...")] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML/TOML settings file [RLVR_CONFIG]; flags > RLVR_* env > file.")
    ] = None,
) -> None:
    """Serve the gRPC verifier service (plus optional HTTP/JSON gateway and metrics) until SIGTERM."""
    options = dict(locals())  # first statement: exactly the options above
    import rlvr.integrations.openrlhf  # noqa: F401  (installs the gateway's /get_reward protocol)
    from rlvr.verifier_server.service.config import ConfigError, load_config
    from rlvr.verifier_server.service.server import serve as run_server

    flags = {name: value for name, value in options.items() if name not in ("config", "plugin")}
    flags["plugins"] = plugin or None
    from rlvr.verifier_server.service.errors import PortUnavailable

    try:
        settings = load_config(flags, config_file=config)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        run_server(settings)
    except PortUnavailable as exc:
        _fail(str(exc), code=1)


def _train_command() -> None:
    from rlvr.agents.cli import train

    app.command(context_settings={"help_option_names": ["-h", "--help"]})(train)


_train_command()


def _sample_commands() -> None:
    from rlvr.agents.sample_cli import register

    register(app)


_sample_commands()


def _rm_commands() -> None:
    from rlvr.agents.reward_model.cli import register

    register(app)


_rm_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
