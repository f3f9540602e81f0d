"""Cache policy shared by the expensive stages.

A stage's cache key combines its inputs, its own source (Prefect's
TASK_SOURCE) and a fingerprint of every module under components/, because
TASK_SOURCE alone would keep serving results computed by older component
code. Results are persisted under the Prefect home, so a rerun in a new
process finds them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from prefect.cache_policies import INPUTS, TASK_SOURCE, CacheKeyFnPolicy

COMPONENTS_DIR = Path(__file__).resolve().parents[1] / "components"


@lru_cache(maxsize=1)
def components_fingerprint() -> str:
    """Return a SHA-256 over the relative paths and contents of components/ source and data files."""
    digest = hashlib.sha256()
    for file in sorted(COMPONENTS_DIR.rglob("*")):
        if file.suffix in {".py", ".yaml", ".json"} and "__pycache__" not in file.parts:
            digest.update(file.relative_to(COMPONENTS_DIR).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


COMPONENT_CODE = CacheKeyFnPolicy(cache_key_fn=lambda context, parameters: components_fingerprint())

STAGE_CACHE = INPUTS + TASK_SOURCE + COMPONENT_CODE
