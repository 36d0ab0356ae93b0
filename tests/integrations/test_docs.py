"""The Python recipes of docs/integrations.md run as written (with a tiny model as MODEL_DIR)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .conftest import require_trainer

DOC = Path(__file__).parents[2] / "docs" / "integrations.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)


def test_the_doc_has_recipes():
    assert len(BLOCKS) >= 5


@pytest.mark.slow
def test_python_recipes_run(tiny_model, tmp_path):
    require_trainer("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    pytest.importorskip("pyarrow")
    ran = 0
    for block in BLOCKS:
        if "agent_classes(" in block:
            continue  # needs openrlhf.utils.agent importable (deepspeed); test_openrlhf covers it
        namespace = {"MODEL_DIR": str(tiny_model), "OUTPUT_DIR": str(tmp_path)}
        exec(compile(block, f"{DOC.name} block", "exec"), namespace)  # noqa: S102 - our own doc
        ran += 1
    assert ran == len(BLOCKS) - 1
    assert (tmp_path / "train.parquet").exists()
