"""The `rlvr` command line: verify JSON lines, list verifiers, serve the reward service."""

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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
