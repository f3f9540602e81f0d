"""The `reprolab` command line in subprocesses: the --json contract, exit codes and eval-rm."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def reprolab(*args: str, home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "REPROLAB_HOME": str(home), "PREFECT_HOME": str(home / ".prefect"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
    # Drop the test session's Prefect API so the CLI starts its own ephemeral server, as a user's would.
    env.pop("PREFECT_API_URL", None)
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-home")


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["run", "proof-rm", "--preset", "smoke", "--set", "train.epochs=0"], r"train\.epochs.*greater than or equal to 1"),
        (["run", "proof-rm", "--preset", "smoke", "--set", "train.epochz=3"], r"unknown key 'epochz'.*valid keys"),
        (["run", "proof-rm", "--preset", "smoke", "--set", "train.lr=nan"], r"train\.lr.*finite"),
        (["run", "proof-rm", "--preset", "nope"], r"preset 'nope' not found.*smoke"),
        (["run", "no-such-flow"], r"unknown flow 'no-such-flow'"),
        (["run", "proof-rm", "--set", "sources.problems=[/missing/problems.csv]"], r"/missing/problems\.csv.*does not exist"),
        (["eval-rm", "--model", "/missing/model", "--data", "/missing/data.jsonl"], r"/missing/data\.jsonl"),
    ],
)
def test_invalid_input_exits_2(args, pattern, cli_home):
    result = reprolab(*args, home=cli_home, timeout=120)
    assert result.returncode == 2, result.stderr
    assert re.search(pattern, result.stderr), result.stderr


def test_flows_lists_stages(cli_home):
    result = reprolab("flows", home=cli_home, timeout=60)
    assert result.returncode == 0
    assert "proof-rm" in result.stdout
    assert "load -> generate -> precheck -> review -> splits -> version -> train -> evaluate -> register" in result.stdout


@pytest.mark.slow
def test_smoke_run_json_and_eval_rm(cli_home, shared_data):
    result = reprolab("run", "proof-rm", "--preset", "smoke", "--json", home=cli_home)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("mlflow_run_id", "dvc_data_md5", "metrics", "artifacts"):
        assert key in summary
    assert "opc.reward_model.auroc" in summary["metrics"]
    assert "prmbench.reward_model.auroc" in summary["metrics"]
    assert Path(summary["artifacts"]["data"]).is_dir()

    # eval-rm reads each supported format with the registered model.
    for data in (shared_data / "opc" / "opc_dev.parquet", shared_data / "prmbench" / "p1_circular.jsonl"):
        evaluated = reprolab("eval-rm", "--model", summary["artifacts"]["model_uri"], "--data", str(data),
                             "--limit", "20", "--json", home=cli_home)
        assert evaluated.returncode == 0, evaluated.stderr[-3000:]
        report = json.loads(evaluated.stdout.strip().splitlines()[-1])
        assert report["metrics"]["n"] == 20
        assert 0.0 <= report["metrics"]["accuracy"] <= 1.0

    # And the canonical triplet JSONL the pipeline publishes, with a checkpoint folder as the model.
    checkpoint = cli_home / summary["artifacts"]["checkpoint"]
    data = Path(summary["artifacts"]["data"]) / "test.jsonl"
    evaluated = reprolab("eval-rm", "--model", str(checkpoint), "--data", str(data), "--json", home=cli_home)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    report = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert report["metrics"]["n"] == len(data.read_text().splitlines())


def test_serve_builds_scheduled_deployment():
    from flows.cli import build_deployment

    deployment = build_deployment("proof-rm", "smoke", ["train.epochs=2"], "0 3 * * *")
    assert deployment.name == "proof-rm-smoke"
    assert deployment.schedules[0].schedule.cron == "0 3 * * *"
    assert deployment.parameters["config"]["train"]["epochs"] == 2


def test_serve_rejects_invalid_cron(cli_home):
    result = reprolab("serve", "proof-rm", "--cron", "every day", home=cli_home, timeout=120)
    assert result.returncode == 2
    assert "invalid cron expression 'every day'" in result.stderr


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_ui_serves_mlflow_on_loopback(cli_home):
    import time
    import urllib.request

    port = free_port()
    env = {**os.environ, "REPROLAB_HOME": str(cli_home), "MLFLOW_TRACKING_URI": f"sqlite:///{cli_home / 'mlflow.db'}"}
    process = subprocess.Popen([sys.executable, "-m", "flows.cli", "ui", "--port", str(port)], cwd=PROJECT_ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        body = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    body = response.read().decode()
                    break
            except OSError:
                time.sleep(1)
        assert "MLflow" in body or "mlflow" in body
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


@pytest.mark.parametrize("flag", ["--limit", "--batch-size"])
@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_eval_rm_rejects_invalid_counts(flag, value, cli_home):
    result = reprolab("eval-rm", "--model", "m", "--data", "d.jsonl", flag, value, home=cli_home, timeout=60)
    assert result.returncode == 2
    assert "invalid count" in result.stderr
