"""`reprolab run proof-rm` end to end with generation and judge on an OpenAI-compatible test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llm.openai_server import OpenAITestServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_smoke_run_with_openai_backend(tmp_path):
    env = {**os.environ, "REPROLAB_HOME": str(tmp_path), "PREFECT_HOME": str(tmp_path / ".prefect"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("PREFECT_API_URL", None)
    with OpenAITestServer() as server:
        result = subprocess.run(
            [sys.executable, "-m", "flows.cli", "run", "proof-rm", "--preset", "smoke", "--json",
             "--set", "generation.backend=openai", "--set", f"generation.base_url={server.base_url}",
             "--set", "precheck.backend=openai", "--set", f"precheck.base_url={server.base_url}",
             "--set", "precheck.samples=1", "--set", "sources.max_problems=10",
             "--set", "eval.shared_external=false", "--set", "eval.baselines=false", "--set", "train.epochs=1"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    chat = [r["body"] for r in server.requests if r["path"] == "/v1/chat/completions"]
    generation_requests = [b for b in chat if "Grade the proof" not in b["messages"][-1]["content"]]
    assert len(generation_requests) == 10 * (1 + 1 + 3)  # smoke: rephrase 1, augment 1, errors_per_problem 3
    assert {b["model"] for b in chat} == {"test-model"}

    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    try:
        client = MlflowClient(env["MLFLOW_TRACKING_URI"])
        run = client.get_run(summary["mlflow_run_id"])
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        tables = {a.path for a in client.list_artifacts(run.info.run_id, "diversity")}
    finally:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(os.environ['REPROLAB_HOME']) / 'mlflow.db'}"
    assert run.data.params["generation.backend"] == "openai"
    assert "plots/diversity.png" in artifacts
    assert "diversity/counts.json" in tables
    assert run.data.metrics["diversity.distinct_method"] == 4  # reference, rephrase, augment, error_injection
    triplets = [json.loads(line) for line in (tmp_path / "data" / "proof-rm" / "triplets.jsonl").read_text().splitlines()]
    generated = [t for t in triplets if t["method"] != "reference"]
    assert generated
    assert all(t["generator"] == "openai:test-model" for t in generated)
    assert all(t["check"]["checker"].startswith("llm-judge:openai:test-model") for t in triplets)
