"""optimizers end to end under the Prefect test harness: summary, MLflow records, caching and failed cells."""

from __future__ import annotations

import json
import math
from uuid import UUID

import pytest
import yaml

pytestmark = pytest.mark.slow


def task_states(flow_run_id: str) -> dict[str, str]:
    """Map each task run name of a flow run to its final state name (Completed, Cached, ...)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    return {run.name: run.state.name for run in runs if run.state is not None}


@pytest.fixture(scope="module")
def smoke_config():
    from flows.config import load_config

    return load_config("optimizers", "smoke")


@pytest.fixture(scope="module")
def first_run(prefect_harness, session_home, smoke_config):
    from flows.optimizers import optimizers

    return optimizers(smoke_config)


def test_summary_contract(first_run, smoke_config):
    assert first_run["flow"] == "optimizers"
    assert len(first_run["mlflow_run_id"]) == 32
    assert first_run["dvc_data_md5"].endswith(".dir")
    n_cells = 2 * 4 * 2  # models x optimizers x schedules in the smoke preset
    assert first_run["metrics"]["cells.ok"] + first_run["metrics"]["cells.diverged"] == n_cells
    assert first_run["metrics"]["cells.failed"] == 0
    assert "claim.msgdw_gap.gpt-dnt" in first_run["metrics"]
    assert "claim.uba_vs_cosine.uba-phi1.win_rate" in first_run["metrics"]
    json.dumps(first_run)


def test_data_versioned(first_run, session_home):
    meta = yaml.safe_load((session_home / "data.dvc").read_text())
    assert meta["outs"][0]["md5"] == first_run["dvc_data_md5"]
    manifest = json.loads((session_home / "data" / "optimizers" / "manifest.json").read_text())
    assert set(manifest["files"]) == {"text.npz", "digits.npz"}
    assert manifest["digits"]["val_images"] == 360


def test_mlflow_parent_and_cell_runs(first_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run = client.get_run(first_run["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dvc.data_md5"] == first_run["dvc_data_md5"]
    assert run.data.params["grid.budgets"] == "[16]"
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/curves_gpt-dnt.png", "plots/schedules_mlp.png", "plots/lr_schedules.png"} <= plots
    assert "tables" in {a.path for a in client.list_artifacts(run.info.run_id)}

    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert len(children) == 16
    child = next(c for c in children if c.info.run_name == "gpt-dnt/shampoo2/cosine/T16/s0")
    history = client.get_metric_history(child.info.run_id, "train_loss")
    assert [m.step for m in history] == list(range(1, 17))
    assert [m.step for m in client.get_metric_history(child.info.run_id, "val_loss")] == [8, 16]
    assert child.data.metrics["seconds_per_step"] > 0
    assert math.isfinite(child.data.metrics["grad_kurtosis"])


def test_failed_and_diverged_cells_do_not_stop_grid(first_run, smoke_config, monkeypatch):
    """Changing mSGDW's lr recomputes only its cells; make them diverge (MLP) or raise (GPT)."""
    import components.optim.experiment as experiment
    from flows.optimizers import optimizers

    real_loss = experiment.loss_of

    def broken_loss(model, x, y):
        if x.dtype == experiment.torch.long:
            raise RuntimeError("simulated failure in a GPT cell")
        loss = real_loss(model, x, y)
        return loss * float("nan")

    monkeypatch.setattr(experiment, "loss_of", broken_loss)
    changed = smoke_config.model_copy(update={"train": smoke_config.train.model_copy(
        update={"lr": {**smoke_config.train.lr, "msgdw": 0.05}})})
    summary = optimizers(changed)

    states = task_states(summary["prefect_flow_run_id"])
    assert states["gpt-dnt/adamw/cosine/T16/s0"] == "Cached"
    assert states["mlp/shampoo1/uba-phi1/T16/s0"] == "Cached"
    assert states["mlp/msgdw/cosine/T16/s0"] == "Completed"
    assert states["gpt-dnt/msgdw/cosine/T16/s0"] == "Failed"
    assert summary["metrics"]["cells.diverged"] == 2  # mlp x (cosine, uba)
    assert summary["metrics"]["cells.failed"] == 2  # gpt-dnt x (cosine, uba)
    assert summary["metrics"]["cells.ok"] == 12

    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run = client.get_run(summary["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    diverged = next(c for c in children if c.info.run_name == "mlp/msgdw/cosine/T16/s0")
    assert diverged.data.metrics["diverged_step"] == 0
    failed = next(c for c in children if c.info.run_name == "gpt-dnt/msgdw/cosine/T16/s0")
    assert failed.info.status == "FAILED"
    assert "simulated failure" in failed.data.tags["error"]


def test_rerun_hits_cache(first_run, smoke_config):
    from flows.optimizers import optimizers

    second = optimizers(smoke_config)
    states = task_states(second["prefect_flow_run_id"])
    cells = {name: state for name, state in states.items() if "/" in name}
    assert len(cells) == 16
    assert set(cells.values()) == {"Cached"}
    assert [state for name, state in states.items() if name.startswith("report")] == ["Cached"]
    assert second["metrics"] == pytest.approx(first_run["metrics"])
