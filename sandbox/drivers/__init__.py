"""Programs that run inside the sandbox, on the system Python 3 with the standard library only.

Each is handed to `python3 -I -S -c` as source text, never as a file the sandboxed program could
replace. The host imports nothing from them except `pydriver`'s value codec.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def source(name: str) -> str:
    """The source text of driver `name` ("pydriver", "batch_driver" or "unshare_init")."""
    return Path(__file__).with_name(f"{name}.py").read_text(encoding="utf-8")
