"""Helpers shared by the flows: --refresh stage sets, and MLflow runs that end FAILED when a stage raises."""

from __future__ import annotations

import pytest


def test_refreshed_stages_from_named_stage_on():
    from flows.stages import refreshed_stages

    stages = ("load", "train", "evaluate")
    assert refreshed_stages(stages, None) == set()
    assert refreshed_stages(stages, "train") == {"train", "evaluate"}
    assert refreshed_stages(stages, "load") == set(stages)


def test_stage_runner_refreshes_named_stages_only():
    from prefect import task

    from flows.stages import stage_runner

    @task
    def work() -> int:
        return 1

    stage = stage_runner({"train"})
    assert stage(work, "train").refresh_cache is True
    assert stage(work, "load").refresh_cache is False


def test_tracked_run_status_follows_the_block(prefect_harness):
    from mlflow.tracking import MlflowClient
    from prefect import flow

    from tasks.tracking import tracked_run

    ids: dict[str, str] = {}

    @flow
    def nested(fail: bool) -> None:
        with tracked_run("tracked-run-test", "outer", {"lr": 0.1}, {"case": str(fail)}) as outer:
            ids["outer"] = outer
            with tracked_run("tracked-run-test", "inner", {}, {}, parent_run_id=outer) as inner:
                ids["inner"] = inner
                if fail:
                    raise RuntimeError("stage failed")

    nested(False)
    client = MlflowClient()
    assert client.get_run(ids["outer"]).info.status == "FINISHED"
    assert client.get_run(ids["inner"]).info.status == "FINISHED"
    assert client.get_run(ids["inner"]).data.tags["mlflow.parentRunId"] == ids["outer"]
    assert client.get_run(ids["outer"]).data.params["lr"] == "0.1"

    with pytest.raises(RuntimeError, match="stage failed"):
        nested(True)
    assert client.get_run(ids["outer"]).info.status == "FAILED"
    assert client.get_run(ids["inner"]).info.status == "FAILED"
