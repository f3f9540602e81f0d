"""Atomic file writes, content hashes and JSONL reading with located errors."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from components.errors import InputError

ModelT = TypeVar("ModelT", bound=BaseModel)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A reader never sees a half-written file, and a failure or kill leaves the
    previous version of `path` in place.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_jsonl_atomic(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> Path:
    """Write one JSON object per line, atomically, with keys in a stable order."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as out:
        for record in records:
            if isinstance(record, BaseModel):
                line = record.model_dump_json()
            else:
                line = json.dumps(record, ensure_ascii=False, sort_keys=True, allow_nan=False)
            out.write(line + "\n")
    return Path(path)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def require_file(path: str | Path, what: str = "input file") -> Path:
    """Return `path` as a Path, or raise InputError if it is not an existing file."""
    file = Path(path)
    if not file.exists():
        raise InputError(f"{what} not found", path=file, hint="Check the path")
    if not file.is_file():
        raise InputError(f"{what} is not a regular file", path=file)
    return file


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; raise InputError on invalid JSON."""
    file = require_file(path, "JSONL file")
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line, parse_constant=_reject_constant)
            except (json.JSONDecodeError, ValueError) as exc:
                raise InputError(f"invalid JSON ({exc})", path=file, line=number) from exc
            if not isinstance(obj, dict):
                raise InputError(
                    f"expected a JSON object, got {type(obj).__name__}", path=file, line=number
                )
            yield number, obj


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid number; replace it with a finite value or drop the field")


def read_models_jsonl(path: str | Path, model: type[ModelT]) -> list[ModelT]:
    """Read a JSONL file of `model` records; the first invalid record raises InputError."""
    records = []
    for number, obj in iter_jsonl(path):
        try:
            records.append(model.model_validate(obj))
        except ValidationError as exc:
            raise validation_to_input_error(exc, path=path, line=number) from exc
    return records


def validation_to_input_error(
    exc: ValidationError, *, path: str | Path | None = None, line: int | None = None
) -> InputError:
    """Convert the first pydantic error into an InputError that names the field and value."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"].removeprefix("Value error, ")  # pydantic's prefix for a validator's ValueError
    if first["type"] != "missing" and "input" in first:
        value = first["input"]
        if isinstance(value, str) and "://" in value:
            # A connection URL may carry a password; never echo it.
            from components.review.database import mask_password

            value = mask_password(value)
        message = f"{message} (got {value!r:.80})"
    more = len(exc.errors()) - 1
    if more:
        message = f"{message}; {more} more error(s) in this record"
    return InputError(message, path=path, line=line, field=field)
