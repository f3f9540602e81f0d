"""`reprolab serve-rm` as a real server process: OpenRLHF requests, /score, batching and bad requests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

QUESTION = "Prove that the sum of two even integers is even."
PROOF = "Let a = 2m and b = 2n.\nThen a + b = 2(m + n).\nTherefore a + b is even."


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    import torch

    from components.rm.model import ProofRewardModel, RewardModelConfig

    torch.manual_seed(0)
    model = ProofRewardModel(RewardModelConfig(d_model=32, n_layers=1, n_heads=2))
    return model.save(tmp_path_factory.mktemp("rm") / "checkpoint")


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
    home = tmp_path_factory.mktemp("serve-home")
    env = {**os.environ, "REPROLAB_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve-rm", "--model", str(checkpoint), "--host", "127.0.0.1", "--port", "0",
         "--max-batch", "8", "--max-wait-ms", "50"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, f"no address in {line!r}; stderr: {process.stderr.read() if process.poll() is not None else ''}"
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_openrlhf_request_shape(server, checkpoint):
    from components.proofs.steps import split_steps
    from components.rm.model import ProofRewardModel

    prompts = [QUESTION, QUESTION]
    queries = [QUESTION + "\n" + PROOF, QUESTION + "\nClearly a + b is odd."]
    reply = httpx.post(f"{server}/get_reward", json={"query": queries, "prompts": prompts, "labels": ["", ""]}, timeout=60)
    assert reply.status_code == 200
    body = reply.json()
    assert len(body["rewards"]) == 2
    assert all(0.0 <= reward <= 1.0 for reward in body["rewards"])

    # The same proofs scored in this process give the same rewards.
    model = ProofRewardModel.load(checkpoint)
    expected = model.score([(QUESTION, split_steps(PROOF)), (QUESTION, split_steps("Clearly a + b is odd."))])
    assert body["rewards"] == pytest.approx([score.outcome for score in expected], abs=1e-5)
    assert [len(steps) for steps in body["step_scores"]] == [len(score.steps) for score in expected]


def test_score_endpoint_and_root(server):
    from components.proofs.steps import split_steps

    items = [{"question": QUESTION, "steps": PROOF.splitlines()}, {"question": QUESTION, "proof": PROOF}]
    scores = httpx.post(f"{server}/score", json={"items": items}, timeout=60).json()["scores"]
    assert len(scores) == 2
    assert len(scores[0]["steps"]) == 3
    assert len(scores[1]["steps"]) == len(split_steps(PROOF))
    root = httpx.post(f"{server}/", json={"query": [QUESTION + "\n" + PROOF], "prompts": [QUESTION]}, timeout=60).json()
    assert root["rewards"][0] == pytest.approx(scores[1]["outcome"], abs=1e-5)


def test_concurrent_requests_share_batches(server):
    before = httpx.get(f"{server}/health", timeout=10).json()["batches"]
    body = {"query": [QUESTION + "\n" + PROOF], "prompts": [QUESTION]}
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: httpx.post(f"{server}/get_reward", json=body, timeout=60), range(8)))
    assert all(reply.status_code == 200 for reply in replies)
    batches = httpx.get(f"{server}/health", timeout=10).json()["batches"] - before
    assert 1 <= batches < 8


@pytest.mark.parametrize(
    "path, payload, pattern",
    [
        ("/get_reward", {"prompts": ["q"]}, "'query' must be a list of strings"),
        ("/get_reward", {"query": ["a", "b"], "prompts": ["a"]}, "'prompts' has 1 entries but 'query' has 2"),
        ("/score", {"items": [{"question": "q", "steps": ["  "]}]}, r"items\[0\] needs 'steps'"),
        ("/score", [1, 2], "body must be a JSON object"),
    ],
)
def test_bad_requests_get_400(server, path, payload, pattern):
    reply = httpx.post(server + path, json=payload, timeout=30)
    assert reply.status_code == 400
    assert re.search(pattern, reply.json()["error"])


def test_invalid_json_and_unknown_path(server):
    reply = httpx.post(f"{server}/score", content=b"{not json", headers={"Content-Type": "application/json"}, timeout=30)
    assert reply.status_code == 400
    assert httpx.get(f"{server}/nothing", timeout=30).status_code == 404


def test_missing_model_exits_2(tmp_path, capsys):
    from flows.cli import main

    assert main(["serve-rm", "--model", str(tmp_path / "none"), "--port", "0"]) == 2
    assert "neither an existing folder nor a model URI" in capsys.readouterr().err
