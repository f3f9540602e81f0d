"""`reprolab run online-learning` in a subprocess: the --json contract and exit status 2 on bad settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def reprolab(*args: str, home: Path, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "REPROLAB_HOME": str(home), "PREFECT_HOME": str(home / ".prefect"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
    # Without the test session's Prefect API the command starts its own temporary server, as a user's would.
    env.pop("PREFECT_API_URL", None)
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("online-cli-home")


def test_out_of_range_setting_exits_2(cli_home):
    result = reprolab("run", "online-learning", "--preset", "smoke", "--set", "dimensions.resolution=0",
                      home=cli_home, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "dimensions.resolution" in result.stderr


@pytest.mark.slow
def test_smoke_run_json(cli_home):
    result = reprolab("run", "online-learning", "--preset", "smoke", "--json", home=cli_home, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["flow"] == "online-learning"
    assert summary["metrics"]["optimal_worst_case_equals_pfl_fraction"] == 1.0
    assert Path(summary["artifacts"]["data"]).is_dir()
