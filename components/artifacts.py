"""Content-addressed store for stage outputs.

Stages exchange `ArtifactRef`s (a path relative to the project home plus the
content's SHA-256) instead of large in-memory objects. A stored file is named
by its hash and never rewritten, so a cached stage result that points at it
stays valid however many runs with other settings happen in between.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from components.errors import InputError
from components.io import read_models_jsonl, sha256_file

ModelT = TypeVar("ModelT", bound=BaseModel)


class ArtifactRef(BaseModel):
    """A stored file or folder: where it is (relative to the home), its hash and record count."""

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    kind: str
    count: int = 0


def directory_sha256(directory: Path) -> str:
    """Hash a folder by its sorted relative file names and their contents."""
    lines = []
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        lines.append(f"{file.relative_to(directory).as_posix()}\t{sha256_file(file)}")
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


class ArtifactStore:
    """Immutable files under `<home>/.reprolab/store/<kind>/<sha256>.<ext>`."""

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)
        self.root = self.home / ".reprolab" / "store"

    def resolve(self, ref: ArtifactRef) -> Path:
        """Return the absolute path of `ref`, raising InputError if the file is missing.

        The content is not re-hashed here: stored files are never rewritten, so
        an existing file still has the content its name records.
        """
        path = self.home / ref.path
        if not path.exists():
            raise InputError(
                f"stored {ref.kind} artifact is missing",
                path=path,
                hint="It was deleted after a cached run; rerun with --refresh at the stage that writes it",
            )
        return path

    def put_jsonl(self, kind: str, records: Iterable[BaseModel | dict[str, Any]]) -> ArtifactRef:
        """Store records as JSONL; identical content maps to the same file."""
        self.root.mkdir(parents=True, exist_ok=True)
        count = 0
        with tempfile.NamedTemporaryFile("w", dir=self.root, suffix=".tmp", delete=False, encoding="utf-8") as handle:
            for record in records:
                if isinstance(record, BaseModel):
                    handle.write(record.model_dump_json() + "\n")
                else:
                    handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True, allow_nan=False) + "\n")
                count += 1
        return self._commit_file(Path(handle.name), kind, ".jsonl", count)

    def put_json(self, kind: str, obj: Any) -> ArtifactRef:
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.root, suffix=".tmp", delete=False, encoding="utf-8") as handle:
            json.dump(obj, handle, ensure_ascii=False, sort_keys=True, indent=1, allow_nan=True)
        return self._commit_file(Path(handle.name), kind, ".json", 1)

    def put_npz(self, kind: str, arrays: dict[str, Any], count: int = 1) -> ArtifactRef:
        """Store numpy arrays as an uncompressed .npz; identical arrays map to the same file."""
        import numpy as np

        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=self.root, suffix=".tmp", delete=False) as handle:
            np.savez(handle, **arrays)
        return self._commit_file(Path(handle.name), kind, ".npz", count)

    def put_directory(self, kind: str, source: Path) -> ArtifactRef:
        """Copy a folder into the store under its content hash."""
        digest = directory_sha256(source)
        target = self.root / kind / digest
        self.root.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".dir-"))
            shutil.copytree(source, staging, dirs_exist_ok=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(target)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)  # another run stored the same content
        return ArtifactRef(path=target.relative_to(self.home).as_posix(), sha256=digest, kind=kind, count=1)

    def read_jsonl(self, ref: ArtifactRef, model: type[ModelT]) -> list[ModelT]:
        return read_models_jsonl(self.resolve(ref), model)

    def read_json(self, ref: ArtifactRef) -> Any:
        return json.loads(self.resolve(ref).read_text(encoding="utf-8"))

    def _commit_file(self, tmp: Path, kind: str, suffix: str, count: int) -> ArtifactRef:
        digest = sha256_file(tmp)
        target = self.root / kind / f"{digest}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            tmp.unlink()
        else:
            tmp.replace(target)
        return ArtifactRef(path=target.relative_to(self.home).as_posix(), sha256=digest, kind=kind, count=count)
