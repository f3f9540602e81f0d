"""online-learning end to end under the Prefect test harness, with MLflow on SQLite and DVC in a temporary home."""

from __future__ import annotations

import json
from uuid import UUID

import pytest
import yaml

pytestmark = pytest.mark.slow


def task_states(flow_run_id: str) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    return {run.name.rsplit("-", 1)[0]: run.state.name for run in runs if run.state is not None}


@pytest.fixture(scope="module")
def smoke_config():
    from flows.config import load_config

    return load_config("online-learning", "smoke")


@pytest.fixture(scope="module")
def first_run(prefect_harness, session_home, smoke_config):
    from flows.online_learning import online_learning

    return online_learning(smoke_config)


def test_summary_contract(first_run):
    assert first_run["flow"] == "online-learning"
    assert len(first_run["mlflow_run_id"]) == 32
    assert first_run["dvc_data_md5"].endswith(".dir")
    metrics = first_run["metrics"]
    assert metrics["optimal_worst_case_equals_pfl_fraction"] == 1.0
    assert metrics["optimal_game_tree_equals_pfl_fraction"] == 1.0
    assert metrics["optimal-deterministic.max_regret_over_bound"] <= 0.0
    assert metrics["randomized-grid.max_regret_over_bound"] <= 1e-9
    assert metrics["separation.randomized-grid.superset_slope"] > 0.3
    json.dumps(first_run)


def test_data_versioned(first_run, session_home):
    data = session_home / "data" / "online-learning"
    dvc_meta = yaml.safe_load((session_home / "data.dvc").read_text())
    assert dvc_meta["outs"][0]["md5"] == first_run["dvc_data_md5"]
    for name in ("classes.jsonl", "dimensions.jsonl", "play.jsonl", "separation.json", "manifest.json"):
        assert (data / name).exists(), name
    classes = (data / "classes.jsonl").read_text().splitlines()
    assert len(classes) == 3 * 2  # three families, two classes each in the smoke preset


def test_mlflow_run(first_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run = client.get_run(first_run["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["prefect.flow_run_id"] == first_run["prefect_flow_run_id"]
    assert run.data.tags["dvc.data_md5"] == first_run["dvc_data_md5"]
    assert run.data.params["preset"] == "smoke"
    assert run.data.params["classes.n_hypotheses"] == "5"
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/separation_regret.png" in plots
    history = client.get_metric_history(run.info.run_id, "separation.majority.superset_regret")
    assert len(history) >= 10


def test_rerun_hits_cache_and_refresh(first_run, smoke_config):
    from flows.online_learning import online_learning

    second = online_learning(smoke_config)
    states = task_states(second["prefect_flow_run_id"])
    for stage in ("sample", "dimensions", "play", "separation"):
        assert states[stage] == "Cached", f"{stage} was {states[stage]}"
    assert second["metrics"] == pytest.approx(first_run["metrics"])

    refreshed = online_learning(smoke_config.model_copy(update={"refresh": "play"}))
    states = task_states(refreshed["prefect_flow_run_id"])
    assert states["dimensions"] == "Cached"
    assert states["play"] == "Completed"
    assert states["separation"] == "Completed"
