"""Tar streams in and out of a container: the `files` a run gets, and the files collected after it."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping
from pathlib import PurePosixPath


def untar(data: bytes, file_cap: int) -> dict[str, bytes]:
    """Regular files of a tar stream, each at most `file_cap` bytes."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive:
            if member.isfile() and member.size <= file_cap:
                extracted = archive.extractfile(member)
                if extracted is not None:
                    files[member.name] = extracted.read()
    return files


def tar(files: Mapping[str, bytes]) -> bytes:
    """A tar of `files` (relative paths, mode 0755) as the run script unpacks it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(relative_path(name))
            info.size, info.mode, info.mtime = len(content), 0o755, int(time.time())
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def relative_path(name: str) -> str:
    """`name` normalised, or ValueError unless it is a relative path inside the work dir."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or str(path) in (".", ""):
        raise ValueError(
            f"sandbox file name {name!r} must be a relative path inside the work dir, without '..'"
        )
    return str(path)
