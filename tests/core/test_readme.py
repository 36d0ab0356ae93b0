"""README's printed example shows what running it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_printed_example_matches_its_output():
    block = re.search(r"```python\n(import rlvr\n.*?)```", README.read_text(), re.DOTALL)
    assert block, "README lost its python example"
    lines = block.group(1).splitlines()
    printed = next(i for i, line in enumerate(lines) if line.startswith("print("))
    expected = lines[printed + 1].removeprefix("# ")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec("\n".join(lines[: printed + 1]), {})
    assert out.getvalue().strip() == expected
