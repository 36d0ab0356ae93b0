"""The `rlvr` command line: verify JSON lines, list verifiers, serve the reward service, train a policy."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

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


def _request_lines(source: Path | None) -> Iterator[bytes]:
    stream = sys.stdin.buffer if source is None or str(source) == "-" else source.open("rb")
    with stream:
        for line in stream:
            if line.strip():
                yield line.rstrip(b"\r\n")


def _chunks(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@app.command()
def verify(
    source: Annotated[
        Path | None,
        typer.Argument(help="JSON lines of VerifyRequest (proto JSON mapping); '-' or omitted reads stdin."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Verify a built-in example request and exit.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")
    ] = False,
) -> None:
    """Verify JSON-lines requests; write one VerifyResponse JSON line per input, same id, same order.

    A malformed line is answered with status INVALID_REQUEST for that line; the others are unaffected.
    """
    from rlvr.verifier_server.core import verify_batch
    from rlvr.verifier_server.messages import response_to_json

    lines = iter([json.dumps(EXAMPLE).encode()]) if example else _request_lines(source)
    sink = sys.stdout if output is None else output.open("w", encoding="utf-8")
    bar = tqdm(desc="verifying", unit="request", disable=not progress, file=sys.stderr)
    try:
        for chunk in _chunks(lines, CHUNK_LINES):
            for response in verify_batch(chunk):
                sink.write(response_to_json(response) + "\n")
            sink.flush()
            bar.update(len(chunk))
    finally:
        bar.close()
        if sink is not sys.stdout:
            sink.close()


@app.command()
def verifiers(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List the registered verifiers and named reward specs."""
    from google.protobuf import json_format

    from rlvr.verifier_server.registry import list_verifiers

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
    from rlvr.verifier_server.config import ConfigError, load_config
    from rlvr.verifier_server.server import serve as run_server

    flags = {name: value for name, value in options.items() if name not in ("config", "plugin")}
    flags["plugins"] = plugin or None
    try:
        settings = load_config(flags, config_file=config)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    run_server(settings)


def _train_command() -> None:
    from rlvr.agents.cli import train

    app.command(context_settings={"help_option_names": ["-h", "--help"]})(train)


_train_command()


def _sample_commands() -> None:
    from rlvr.agents.sample_cli import register

    register(app)


_sample_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
