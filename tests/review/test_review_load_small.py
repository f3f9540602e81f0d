"""The load and kill benchmark at a tiny size, so that its checks keep working (the full run is `make bench-review`)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.review.helpers import PROJECT_ROOT


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_small_load_and_kill_lose_and_duplicate_nothing(backend: str, request: pytest.FixtureRequest):
    postgres = request.getfixturevalue("postgres_cluster") if backend == "postgresql" else None
    spec = importlib.util.spec_from_file_location("review_load", PROJECT_ROOT / "benchmarks" / "review_load.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    for kill in (False, True):
        result = bench.run("kill" if kill else "load", clients=6, reviews=90, kill=kill, postgres=postgres)
        summary = result.summary()
        assert result.errors == []
        assert summary["acknowledged"] == summary["labels_in_store"] == 90
        assert summary["lost"] == 0 and summary["duplicated"] == 0
        if kill:
            assert summary["killed_after_acks"] >= 30 and summary["lost_at_kill"] == 0
