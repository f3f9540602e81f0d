"""proof-rm end to end under the Prefect test harness, with MLflow on SQLite and DVC in a temporary home."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
import yaml

pytestmark = pytest.mark.slow


def task_states(flow_run_id: str) -> dict[str, str]:
    """Map each stage name of a flow run to its final state name (Completed, Cached, ...)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    return {run.name.rsplit("-", 1)[0]: run.state.name for run in runs if run.state is not None}


@pytest.fixture(scope="module")
def smoke_config():
    from flows.config import load_config

    # External evaluation is exercised by the CLI test; here it stays on held-out problems only.
    return load_config("proof-rm", "smoke", ["eval.shared_external=false"])


@pytest.fixture(scope="module")
def first_run(prefect_harness, session_home, smoke_config):
    from flows.proof_rm import proof_rm

    return proof_rm(smoke_config)


def test_summary_contract(first_run):
    assert first_run["flow"] == "proof-rm"
    assert len(first_run["mlflow_run_id"]) == 32
    assert first_run["dvc_data_md5"].endswith(".dir")
    assert first_run["artifacts"]["model_uri"].startswith("models:/proof-rm/")
    for key in ("accuracy", "balanced_accuracy", "auroc", "f1_incorrect"):
        assert f"test.reward_model.{key}" in first_run["metrics"]
    json.dumps(first_run)  # the CLI prints it as JSON


def test_data_versioned_and_split_by_problem(first_run, session_home):
    data = session_home / "data" / "proof-rm"
    dvc_meta = yaml.safe_load((session_home / "data.dvc").read_text())
    assert dvc_meta["outs"][0]["md5"] == first_run["dvc_data_md5"]
    problems = {}
    for split in ("train", "val", "test"):
        lines = (data / f"{split}.jsonl").read_text().splitlines()
        assert lines, f"{split} split is empty"
        problems[split] = {json.loads(line)["problem_id"] for line in lines}
    assert not problems["train"] & problems["test"]
    assert not problems["train"] & problems["val"]
    assert not problems["val"] & problems["test"]
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["files"]["train.jsonl"]["records"] == len((data / "train.jsonl").read_text().splitlines())
    assert not list((session_home / "data").glob(".*staging*"))


def test_mlflow_run_records_config_tags_plots_and_model(first_run, session_home):
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run = client.get_run(first_run["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["prefect.flow_run_id"] == first_run["prefect_flow_run_id"]
    assert run.data.tags["dvc.data_md5"] == first_run["dvc_data_md5"]
    assert "git.commit" in run.data.tags
    assert run.data.params["train.epochs"] == "3"
    assert run.data.params["preset"] == "smoke"
    assert 0.0 <= run.data.metrics["test.reward_model.auroc"] <= 1.0
    assert "test.tfidf_logreg.auroc" in run.data.metrics

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/test_roc.png", "plots/test_calibration.png"} <= artifacts

    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert len(children) == 1
    history = client.get_metric_history(children[0].info.run_id, "loss")
    assert [m.step for m in history] == [1, 2, 3]

    versions = client.search_model_versions("name = 'proof-rm'")
    assert versions


def test_registered_model_scores_proofs(first_run):
    import pandas as pd

    from tasks.rm_pyfunc import load_reward_model
    import mlflow.pyfunc

    model = load_reward_model(first_run["artifacts"]["model_uri"])
    score = model.score([("Show that 2 + 2 = 4.", ["We have 2 + 2 = 4."])])[0]
    assert 0.0 <= score.outcome <= 1.0

    pyfunc = mlflow.pyfunc.load_model(first_run["artifacts"]["model_uri"])
    frame = pyfunc.predict(pd.DataFrame({"question": ["Show that 2 + 2 = 4."], "proof": ["We have 2 + 2 = 4.\n\nSo it holds."]}))
    assert list(frame.columns) == ["score", "step_scores", "prediction"]


def test_rerun_hits_cache(first_run, smoke_config):
    from flows.proof_rm import proof_rm

    second = proof_rm(smoke_config)
    states = task_states(second["prefect_flow_run_id"])
    for stage in ("load", "generate", "precheck", "splits", "train", "evaluate"):
        assert states[stage] == "Cached", f"{stage} was {states[stage]}"
    assert second["dvc_data_md5"] == first_run["dvc_data_md5"]
    assert second["metrics"] == pytest.approx(first_run["metrics"])


def test_refresh_train_recomputes_train_and_later_only(first_run, smoke_config):
    from flows.proof_rm import proof_rm

    summary = proof_rm(smoke_config.model_copy(update={"refresh": "train"}))
    states = task_states(summary["prefect_flow_run_id"])
    for stage in ("load", "generate", "precheck", "splits"):
        assert states[stage] == "Cached", f"{stage} was {states[stage]}"
    assert states["train"] == "Completed"
    assert states["evaluate"] == "Completed"


def test_changed_training_setting_keeps_data_stages(first_run, smoke_config):
    from flows.proof_rm import proof_rm

    changed = smoke_config.model_copy(update={"train": smoke_config.train.model_copy(update={"epochs": 2})})
    summary = proof_rm(changed)
    states = task_states(summary["prefect_flow_run_id"])
    assert states["generate"] == "Cached"
    assert states["train"] == "Completed"


def test_human_decisions_reach_training_data(first_run, smoke_config, session_home):
    import io

    from components.review.store import ReviewStore
    from flows.proof_rm import proof_rm
    from flows.review_cli import label_loop

    review = first_run["review"]
    queued = review["disputed"] + review["audit_sample"]
    assert queued > 0
    with ReviewStore(session_home / "review.db") as store:
        assert store.stats()["status"]["pending"] == queued
        store.add_reviewer("ann", 1)
        store.add_reviewer("lead", 2)
        # The terminal loop: level 1 is unsure, which escalates the item.
        out = io.StringIO()
        assert label_loop(store, "ann", 1, io.StringIO("u\nnot sure about step 2\n"), out) == 1
        assert "escalated" in out.getvalue()
        item = store.next_item("lead")
        assert item is not None
        overruling = "incorrect" if item.label == "correct" else "correct"
        assert store.submit(item.triplet_id, "lead", overruling) == "final"

    summary = proof_rm(smoke_config)
    assert summary["review"]["final_by_review"] == 1
    assert summary["review"]["overruled_by_review"] == 1
    states = task_states(summary["prefect_flow_run_id"])
    assert states["generate"] == "Cached"
    assert states["splits"] == "Completed"  # the reviewed set changed
    published = {}
    for name in ("train", "val", "test"):
        for line in (session_home / "data" / "proof-rm" / f"{name}.jsonl").read_text().splitlines():
            record = json.loads(line)
            published[record["triplet_id"]] = record
    assert [event["reviewer"] for event in published[item.triplet_id]["review"]] == ["ann", "lead"]
