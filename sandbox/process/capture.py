"""Reading a sandboxed process's pipes incrementally, with per-stream byte caps and a wall deadline."""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass
class Stream:
    """Bytes read from one pipe: at most `cap`, with `overflowed` set once more arrived."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    overflowed: bool = False
    closed: bool = False
    eof_at: float | None = None  # monotonic time the writers were all gone
    dropped: bool = False  # closed by `capture` itself after overflowing (see `drop_on_overflow`)


@dataclass
class Capture:
    """What `capture` saw: the streams by name, and whether it stopped the run and why."""

    streams: dict[str, Stream]
    wall_timed_out: bool = False
    overflowed: str | None = None  # name of the first stream to pass its cap


def capture(
    pipes: Mapping[str, tuple[int, int]],
    deadline: float,
    kill: Callable[[Capture], None],
    kill_on_overflow: frozenset[str] = frozenset(),
    drop_on_overflow: frozenset[str] = frozenset(),
    grace_seconds: float = 5.0,
) -> Capture:
    """Read every pipe in `pipes` (name -> (fd, cap in bytes)) until all reach EOF.

    Memory stays bounded: bytes past a stream's cap are read and dropped. `kill(capture_so_far)` is called once,
    when the monotonic clock passes `deadline` (seconds) or a stream named in `kill_on_overflow`
    passes its cap; reading then continues to EOF, which the kill guarantees (the sandbox's death
    closes every write end); if EOF still has not come `grace_seconds` after the kill, reading stops
    anyway so a failed kill cannot hang the caller. A stream in `drop_on_overflow` is instead closed
    at its cap (its writer gets EPIPE/SIGPIPE) and marked `dropped`: the caller owns and closes every
    other fd.
    """
    streams = {name: Stream(cap) for name, (_, cap) in pipes.items()}
    result = Capture(streams)
    killed_at: float | None = None

    def stop() -> None:
        nonlocal killed_at
        if killed_at is None:
            killed_at = time.monotonic()
            kill(result)

    with selectors.DefaultSelector() as sel:
        for name, (fd, _) in pipes.items():
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, name)
        while sel.get_map():
            now = time.monotonic()
            if killed_at is None:
                if now >= deadline:
                    result.wall_timed_out = True
                    stop()
                    continue
                timeout = deadline - now
            elif now >= killed_at + grace_seconds:
                break
            else:
                timeout = killed_at + grace_seconds - now
            events = sel.select(timeout)
            for key, _ in events:
                stream = streams[key.data]
                try:
                    chunk = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    stream.closed = True
                    stream.eof_at = time.monotonic()
                    sel.unregister(key.fd)
                    continue
                room = stream.cap - len(stream.data)
                if len(chunk) > room:
                    stream.overflowed = True
                    chunk = chunk[: max(room, 0)]
                    if key.data in kill_on_overflow and result.overflowed is None:
                        result.overflowed = key.data
                        stop()
                    if key.data in drop_on_overflow:
                        stream.data += chunk
                        stream.closed = stream.dropped = True
                        stream.eof_at = time.monotonic()
                        sel.unregister(key.fd)
                        os.close(key.fd)
                        continue
                stream.data += chunk
    return result
