"""On-disk response cache: a rerun with the same model, prompt and sampling settings costs nothing."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from components.llm.base import Completion, Request

logger = logging.getLogger(__name__)


def cache_key(backend: str, model: str, request: Request) -> str:
    """Return the SHA-256 of the backend kind, model name, messages and sampling settings."""
    payload = {"backend": backend, "model": model, "messages": request.message_dicts(), "params": request.params.to_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class ResponseCache:
    """Completions stored as `<root>/<key[:2]>/<key>.json`, written atomically (temporary file, then rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Completion(**{**data, "cached": True})
        except (OSError, ValueError, TypeError) as exc:
            # A damaged entry is a miss, and the next successful reply overwrites it.
            logger.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None

    def put(self, key: str, completion: Completion) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "text": completion.text, "model": completion.model, "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens, "finish_reason": completion.finish_reason,
        }
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
        os.replace(handle.name, path)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0
