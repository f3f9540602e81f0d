"""The imputation flow end to end with the smoke preset, and the CLI's --json contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def task_states(flow_run_id: str) -> dict[str, str]:
    """Map each stage name of a flow run to its final state name (Completed, Cached, ...)."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    return {run.name.rsplit("-", 1)[0]: run.state.name for run in runs if run.state is not None}


@pytest.fixture(scope="module")
def smoke_config():
    from flows.config import load_config

    return load_config("imputation", "smoke")


@pytest.fixture(scope="module")
def first_run(prefect_harness, session_home, smoke_config):
    from flows.imputation import imputation

    return imputation(smoke_config)


def test_registry_stages_match_config():
    from flows.imputation_config import STAGES
    from flows.registry import flow_spec

    assert flow_spec("imputation").stages == STAGES


def test_summary_has_every_model_and_condition(first_run, smoke_config):
    assert first_run["flow"] == "imputation"
    assert len(first_run["mlflow_run_id"]) == 32
    assert first_run["dvc_data_md5"].endswith(".dir")
    for model in smoke_config.models:
        for condition in ("clean_10pct", "clean_50pct", "level_shift_30pct"):
            assert 0.0 <= first_run["metrics"][f"{condition}.{model}.mae"] < 10.0
    assert "clean_10pct.spirit.crps" in first_run["metrics"]
    assert "clean_10pct.mean.crps" not in first_run["metrics"]
    json.dumps(first_run)


def test_mlflow_run_has_table_plots_and_children(first_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run = client.get_run(first_run["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dvc.data_md5"] == first_run["dvc_data_md5"]
    assert run.data.params["diffusion.epochs"] == "1"
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/clean_50pct.png" in plots
    tables = {a.path for a in client.list_artifacts(run.info.run_id, "tables")}
    assert "tables/results.json" in tables
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert sorted(c.info.run_name for c in children) == ["train-diffusion", "train-spirit"]


def test_data_versioned(first_run, session_home):
    dvc_meta = yaml.safe_load((session_home / "data.dvc").read_text())
    assert dvc_meta["outs"][0]["md5"] == first_run["dvc_data_md5"]
    folder = session_home / "data" / "imputation"
    assert (folder / "windows.npz").exists()
    assert (folder / "masks.npz").exists()


def test_rerun_is_cached(first_run, smoke_config):
    from flows.imputation import imputation

    second = imputation(smoke_config)
    states = task_states(second["prefect_flow_run_id"])
    for stage in ("load", "mask", "train", "impute", "evaluate"):
        assert states[stage] == "Cached", f"{stage} was {states[stage]}"
    assert second["metrics"] == pytest.approx(first_run["metrics"])


def test_cli_smoke_json(tmp_path):
    env = {**os.environ, "REPROLAB_HOME": str(tmp_path), "PREFECT_HOME": str(tmp_path / ".prefect"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("PREFECT_API_URL", None)
    result = subprocess.run([sys.executable, "-m", "flows.cli", "run", "imputation", "--preset", "smoke", "--json"],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["flow"] == "imputation"
    assert "clean_50pct.spirit.mae" in summary["metrics"]


@pytest.mark.parametrize("setting, pattern", [
    ("mask.rates=[0.3,1.0]", r"mask\.rates.*open interval"),
    ("diffusion.epochs=0", r"diffusion\.epochs.*greater than or equal to 1"),
    ("data.path=/missing/series.csv", r"/missing/series\.csv.*does not exist"),
])
def test_cli_invalid_setting_exits_2(tmp_path, setting, pattern):
    import re

    env = {**os.environ, "REPROLAB_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "flows.cli", "run", "imputation", "--preset", "smoke", "--set", setting],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert re.search(pattern, result.stderr), result.stderr[-2000:]
