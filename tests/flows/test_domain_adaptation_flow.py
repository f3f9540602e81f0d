"""domain-adaptation end to end under the Prefect test harness, with MLflow on SQLite and DVC in a temporary home."""

from __future__ import annotations

import json
from uuid import UUID

import pytest
import yaml

pytestmark = pytest.mark.slow

METHODS = ("source_only", "self_train", "gst", "goat", "esuot")


def task_states(flow_run_id: str) -> dict[str, set[str]]:
    """Map each stage name of a flow run to the set of final state names of its task runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    states: dict[str, set[str]] = {}
    for run in runs:
        if run.state is not None:
            states.setdefault(run.name.rsplit("-", 1)[0], set()).add(run.state.name)
    return states


@pytest.fixture(scope="module")
def smoke_config():
    from flows.config import load_config

    return load_config("domain-adaptation", "smoke")


@pytest.fixture(scope="module")
def first_run(prefect_harness, session_home, smoke_config):
    from flows.domain_adaptation import domain_adaptation

    return domain_adaptation(smoke_config)


def test_summary_contract(first_run):
    assert first_run["flow"] == "domain-adaptation"
    assert len(first_run["mlflow_run_id"]) == 32
    assert first_run["dvc_data_md5"].endswith(".dir")
    for method in METHODS:
        mean = first_run["metrics"][f"{method}.target_test_accuracy.mean"]
        assert 0.0 <= mean <= 1.0
        assert first_run["metrics"][f"{method}.target_test_accuracy.std"] >= 0.0
    assert "| esuot |" in first_run["table"]
    json.dumps(first_run)


def test_mlflow_run_has_seeds_table_and_plots(first_run, smoke_config):
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run = client.get_run(first_run["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dvc.data_md5"] == first_run["dvc_data_md5"]
    assert run.data.tags["prefect.flow_run_id"] == first_run["prefect_flow_run_id"]
    assert run.data.params["domains.k"] == str(smoke_config.domains.k)
    for seed in smoke_config.seeds:
        assert f"esuot.seed{seed}.target_test_accuracy" in run.data.metrics
        history = client.get_metric_history(run.info.run_id, f"esuot.seed{seed}.objective")
        assert history[0].step == 0
        assert history[-1].step == smoke_config.esuot.iterations

    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    for method in ("gst", "goat", "esuot"):
        assert f"plots/domains_{method}_seed0.png" in plots
    assert "plots/esuot_objective.png" in plots
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"results.md", "results.json"}


def test_data_versioned(first_run, session_home, smoke_config):
    folder = session_home / "data" / "domain-adaptation"
    assert yaml.safe_load((session_home / "data.dvc").read_text())["outs"][0]["md5"] == first_run["dvc_data_md5"]
    manifest = json.loads((folder / "manifest.json").read_text())
    for seed in smoke_config.seeds:
        assert f"domains_seed{seed}.json" in manifest["files"]
        generated = json.loads((folder / f"generated_esuot_seed{seed}.json").read_text())
        assert len(generated["features"]) == smoke_config.domains.k


def test_rerun_hits_cache_and_refresh_build(first_run, smoke_config):
    from flows.domain_adaptation import domain_adaptation

    second = domain_adaptation(smoke_config)
    states = task_states(second["prefect_flow_run_id"])
    for stage in ("load", "encode", "build", "self_train", "evaluate"):
        assert states[stage] == {"Cached"}, f"{stage} was {states[stage]}"
    assert second["metrics"] == pytest.approx(first_run["metrics"])

    refreshed = domain_adaptation(smoke_config.model_copy(update={"refresh": "build"}))
    states = task_states(refreshed["prefect_flow_run_id"])
    assert states["load"] == {"Cached"}
    assert states["build"] == {"Completed"}
    assert states["evaluate"] == {"Completed"}
