"""Cutting requests into calls without cutting a group: every chunker (client, CLI, envs) uses these."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from rlvr.verifier.v1 import verifier_pb2 as pb

T = TypeVar("T")

#: (group_id, group_size) of one item; ("", 0) for an item outside any group
GroupOf = Callable[[T], tuple[str, int]]


def request_group(request: pb.VerifyRequest) -> tuple[str, int]:
    """The (`group_id`, `group_size`) of a request, the key both chunkers group by."""
    return request.group_id, request.group_size


def whole_group_chunks(items: Sequence[T], size: int, group_of: GroupOf[T]) -> list[list[int]]:
    """Indexes of `items` cut into chunks of about `size`, each group (same `group_id`) in one chunk.

    Groups keep the order of their first member, wherever their other members are; an item outside
    any group is a group of one. A group larger than `size` is a chunk of its own, so a chunk holds
    at most max(size, largest group) items. Every index appears exactly once.
    """
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    groups: dict[str, list[int]] = {}
    order: list[list[int]] = []
    for index, item in enumerate(items):
        group_id, _ = group_of(item)
        if not group_id:
            order.append([index])
        elif group_id in groups:
            groups[group_id].append(index)
        else:
            groups[group_id] = [index]
            order.append(groups[group_id])
    chunks: list[list[int]] = []
    current: list[int] = []
    for members in order:
        if current and len(current) + len(members) > size:
            chunks.append(current)
            current = []
        current.extend(members)
    if current:
        chunks.append(current)
    return chunks


def streamed_whole_group_chunks(
    items: Iterable[T], size: int, group_of: GroupOf[T], *, max_held: int | None = None
) -> Iterator[list[T]]:
    """Chunks of a stream in its own order (for writers that must keep it), never cutting a group.

    A chunk ends after at least `size` items at a point where no group is open. A group is open
    until it has `group_size` members; a group that states no size is open until an item of another
    group follows it (so such groups must be contiguous in the stream). Past `max_held` items
    (default 64 × size) the chunk is cut anyway: a group that states its size is then answered
    INVALID_REQUEST by its group terms rather than scored on part of it.
    """
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    limit = max_held if max_held is not None else 64 * size
    buffer: list[T] = []
    keys: list[str] = []  # group id of each buffered item ("" outside any group)
    counts: dict[str, int] = {}
    open_groups: set[str] = set()
    last_unsized = ""
    for item in items:
        group_id, group_size = group_of(item)
        closed = False
        if last_unsized and group_id != last_unsized:
            open_groups.discard(last_unsized)
            last_unsized, closed = "", True
        if group_id:
            counts[group_id] = counts.get(group_id, 0) + 1
            open_groups.add(group_id)
            if group_size <= 0:
                last_unsized = group_id
            elif counts[group_id] >= group_size:
                open_groups.discard(group_id)
                closed = True
        else:
            closed = True
        buffer.append(item)
        keys.append(group_id)
        full = len(buffer) >= limit
        if len(buffer) < size or not (closed or full):
            continue
        cut = _clean_cut(keys, open_groups)
        if cut < size and full:
            cut = cut if cut > 0 else len(buffer)
        if cut >= size or (full and cut):
            yield buffer[:cut]
            buffer, keys = buffer[cut:], keys[cut:]
            counts = {g: n for g, n in counts.items() if g in open_groups}
            open_groups &= set(keys)
            if last_unsized not in open_groups:
                last_unsized = ""
    if buffer:
        yield buffer


def _clean_cut(keys: list[str], open_groups: set[str]) -> int:
    """The longest prefix of `keys` that holds no member of an open group and no part of a group
    with members after it."""
    last = {key: index for index, key in enumerate(keys) if key}
    best, reach = 0, -1
    for index, key in enumerate(keys):
        if key in open_groups:
            break
        if key:
            reach = max(reach, last[key])
        if reach <= index:
            best = index + 1
    return best


def line_group(line: bytes | str) -> tuple[str, int]:
    """The (`group_id`, `group_size`) of one JSON line of a VerifyRequest; ("", 0) when the line is
    not JSON or states no group (it is then answered on its own)."""
    try:
        data = json.loads(line)
    except ValueError:
        return "", 0
    if not isinstance(data, dict):
        return "", 0
    group_id = data.get("group_id", data.get("groupId", ""))
    group_size = data.get("group_size", data.get("groupSize", 0))
    if not isinstance(group_id, str) or isinstance(group_size, bool) or not isinstance(group_size, int):
        return (group_id if isinstance(group_id, str) else ""), 0
    return group_id, group_size
