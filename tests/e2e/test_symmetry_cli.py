"""`reprolab run symmetry` in a subprocess: the --json contract and exit code 2 on bad settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def reprolab(*args: str, home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "REPROLAB_HOME": str(home), "PREFECT_HOME": str(home / ".prefect"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
    env.pop("PREFECT_API_URL", None)
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_bad_threshold_exits_2(tmp_path):
    result = reprolab("run", "symmetry", "--preset", "smoke", "--set", "pdes.kdv.threshold=2", home=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "pdes.kdv.threshold" in result.stderr


@pytest.mark.slow
def test_smoke_run_json(tmp_path):
    result = reprolab("run", "symmetry", "--preset", "smoke", "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["flow"] == "symmetry"
    for name in ("heat", "burgers", "kdv", "wave", "lambda_omega"):
        assert f"{name}.found" in summary["metrics"]
        assert f"{name}.true" in summary["metrics"]
    assert Path(summary["artifacts"]["data"]).is_dir()
