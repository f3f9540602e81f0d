"""online-learning tasks through .fn(): stage outputs in the artifact store and the MLflow report."""

from __future__ import annotations

import json

import pytest
from prefect.logging import disable_run_logger

from components.artifacts import ArtifactStore
from flows.online_learning_config import (
    STAGES,
    ClassesConfig,
    DimensionsConfig,
    PlayConfig,
    SeparationConfig,
)


@pytest.fixture(scope="module")
def stage_outputs(session_home):
    from tasks.online import dimensions_task, play_task, sample_classes_task, separation_task

    classes_config = ClassesConfig(per_family=1, n_hypotheses=4, n_instances=2, n_labels=3)
    dimensions_config = DimensionsConfig(resolution=3)
    with disable_run_logger():
        classes = sample_classes_task.fn(classes_config)
        dimensions = dimensions_task.fn(classes, dimensions_config)
        play = play_task.fn(classes, dimensions, dimensions_config, PlayConfig(horizon=10, n_sequences=2))
        separation = separation_task.fn(SeparationConfig(horizon=40, n_sequences=2), 3)
    return {"classes": classes, "dimensions": dimensions, "play": play, "separation": separation}


def read_rows(session_home, ref):
    return [json.loads(line) for line in ArtifactStore(session_home).resolve(ref).read_text().splitlines()]


def test_stage_outputs(stage_outputs, session_home):
    classes = read_rows(session_home, stage_outputs["classes"])
    assert [c["name"] for c in classes] == ["random-0", "nested-0", "helly2-intervals-0"]
    dimensions = read_rows(session_home, stage_outputs["dimensions"])
    assert all(row["status"] == "ok" for row in dimensions)
    assert all(row["littlestone_dim"] <= row["pfl_dim"] for row in dimensions)
    play = read_rows(session_home, stage_outputs["play"])
    assert len(play) == 3 * 4  # four learners per class
    optimal = [row for row in play if row["learner"] == "optimal-deterministic"]
    assert all(row["worst_case"] == row["pfl_dim"] for row in optimal)
    separation = ArtifactStore(session_home).read_json(stage_outputs["separation"])
    assert set(separation["learners"]) == {"optimal-deterministic", "randomized-grid", "majority", "repeat-last-label"}


def test_sampling_is_deterministic(stage_outputs):
    from tasks.online import sample_classes_task

    with disable_run_logger():
        again = sample_classes_task.fn(ClassesConfig(per_family=1, n_hypotheses=4, n_instances=2, n_labels=3))
    assert again.sha256 == stage_outputs["classes"].sha256


@pytest.mark.slow
def test_report_logs_metrics_tables_and_plots(stage_outputs):
    from mlflow.tracking import MlflowClient

    from tasks.online import report_task
    from tasks.tracking import experiment_id

    client = MlflowClient()
    run_id = client.create_run(experiment_id("online-learning-tasks")).info.run_id
    with disable_run_logger():
        metrics = report_task.fn(run_id, stage_outputs["dimensions"], stage_outputs["play"],
                                 stage_outputs["separation"])
    assert metrics["optimal_worst_case_equals_pfl_fraction"] == 1.0
    assert metrics["optimal-deterministic.max_regret_over_bound"] <= 0.0
    run = client.get_run(run_id)
    assert run.data.metrics["classes"] == 3
    artifacts = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"plots/pfl_vs_worst_case.png", "plots/deterministic_vs_randomized.png",
            "plots/separation_regret.png"} <= artifacts
    assert {a.path for a in client.list_artifacts(run_id, "tables")} >= {"tables/dimensions.json", "tables/play.json"}


def test_registry_stages_match_config():
    from flows.registry import flow_spec

    assert flow_spec("online-learning").stages == STAGES


@pytest.mark.parametrize(
    "overrides, pattern",
    [
        (["classes.n_labels=1"], r"classes\.n_labels.*greater than or equal to 2"),
        (["classes.max_width=5"], r"max_width \(5\) must not exceed n_labels \(3\)"),
        (["dimensions.max_seconds=nan"], r"dimensions\.max_seconds.*finite"),
        (["play.horizn=3"], r"unknown key 'horizn'"),
    ],
)
def test_invalid_settings(overrides, pattern):
    from components.errors import InputError
    from flows.config import load_config

    with pytest.raises(InputError, match=pattern):
        load_config("online-learning", "smoke", overrides)
