"""Reading dataset rows from JSONL / JSON / Parquet files or from a Hugging Face `datasets` object."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rlvr.errors import RlvrError

RowSource = str | os.PathLike | Iterable[Mapping[str, Any]]


class DatasetFormatError(RlvrError, ValueError):
    """A dataset file or object cannot be read, or a row lacks a field its schema needs."""


def read_rows(source: RowSource, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of `source` as dicts: a .jsonl / .json / .parquet path, or any iterable of mappings
    (a `datasets.Dataset`, a list of dicts). A `datasets.DatasetDict` must be given one split.
    `limit` keeps the first N rows. Raises DatasetFormatError naming the file and the problem.
    """
    if isinstance(source, (str, os.PathLike)):
        rows = _read_file(Path(source))
    elif isinstance(source, Mapping):
        raise DatasetFormatError(
            f"got a mapping with keys {sorted(source)[:8]} (a DatasetDict?): pass one split, e.g. dataset['test']"
        )
    else:
        rows = []
        for number, row in enumerate(source):
            if not isinstance(row, Mapping):
                raise DatasetFormatError(f"row {number} is a {type(row).__name__}, not a mapping of fields")
            rows.append(dict(row))
            if limit is not None and len(rows) >= limit:
                break
    return rows[:limit] if limit is not None else rows


def _read_file(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DatasetFormatError(f"{path}: no such file; pass the path of a .jsonl, .json or .parquet file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DatasetFormatError(
                f"{path}: reading Parquet needs pyarrow (`pip install pyarrow`)"
            ) from None
        return pq.read_table(path).to_pylist()
    if suffix not in (".jsonl", ".json"):
        raise DatasetFormatError(f"{path}: unknown file type {suffix!r}; use .jsonl, .json or .parquet")
    text = path.read_text(encoding="utf-8")
    if suffix == ".json" and text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetFormatError(f"{path}:{number}: not a JSON object: {exc}") from None
    bad = [i for i, row in enumerate(rows) if not isinstance(row, dict)]
    if bad:
        raise DatasetFormatError(f"{path}: row {bad[0]} is not a JSON object")
    return rows


def field(row: Mapping[str, Any], *names: str, where: str) -> Any:
    """The first of `names` present in `row`; raise DatasetFormatError naming the schema's fields."""
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    raise DatasetFormatError(
        f"{where}: missing field {' or '.join(map(repr, names))}; the row has {sorted(row)}"
    )


def json_field(value: Any, *, where: str) -> Any:
    """A field that some exports store as JSON text (APPS `input_output`, `solutions`)."""
    if isinstance(value, (str, bytes)):
        if not value:
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(f"{where}: field is not valid JSON: {exc}") from None
    return value
