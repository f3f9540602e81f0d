"""The online-learning pipeline: partial-feedback online learning on finite set-valued classes.

Method: "Partial Feedback Online Learning" (arXiv 2601.21462). Each instance has
a set of correct labels, and after each prediction the environment reveals
one of them, never whether the prediction was correct. Stages: sample classes
-> compute dimensions (PFLdim, full-feedback Littlestone dimension, randomized
bounds) -> play learners against adversaries -> the two-hypothesis separation
outside set realizability -> version -> report.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from flows.online_learning_config import STAGES, OnlineLearningConfig
from flows.stages import current_flow_run_id, refreshed_stages, stage_runner
from tasks.online import dimensions_task, play_task, report_task, sample_classes_task, separation_task
from tasks.tracking import log_metrics_task, tracked_run
from tasks.versioning import version_task

SUMMARY_KEYS = ("optimal_worst_case_equals_pfl_fraction", "optimal_worst_case_checked",
                "optimal_game_tree_equals_pfl_fraction",
                "classes_within_limits", "pfl_ge_littlestone_fraction")


@flow(name="online-learning", log_prints=False)
def online_learning(config: OnlineLearningConfig) -> dict[str, Any]:
    """Run the partial-feedback online-learning pipeline and return its summary."""
    logger = get_run_logger()
    refresh = refreshed_stages(STAGES, config.refresh)
    stage = stage_runner(refresh)
    flow_run_id = current_flow_run_id()
    with tracked_run(config.tracking.experiment, f"online-learning-{config.preset}",
                     config.model_dump(mode="json"), {"prefect.flow_run_id": flow_run_id, "preset": config.preset}) as run_id:
        # Classes and their exact dimensions.
        classes = stage(sample_classes_task, "sample")(config.classes)
        dimensions = stage(dimensions_task, "dimensions")(classes, config.dimensions)

        # Learners against adversaries, then the case outside set realizability.
        play = stage(play_task, "play")(classes, dimensions, config.dimensions, config.play)
        separation = stage(separation_task, "separation")(config.separation, config.dimensions.resolution)

        # Version the tables and point the run at them.
        versioned = version_task("online-learning", {"classes": classes, "dimensions": dimensions, "play": play,
                                                     "separation": separation},
                                 {"classes": config.classes.model_dump(mode="json")})
        log_metrics_task(run_id, {}, tags={"dvc.data_md5": versioned["dvc_md5"]})

        metrics = report_task(run_id, dimensions, play, separation)

    logger.info("online-learning finished: run %s, data md5 %s", run_id, versioned["dvc_md5"])
    return {
        "flow": "online-learning",
        "prefect_flow_run_id": flow_run_id,
        "mlflow_run_id": run_id,
        "dvc_data_md5": versioned["dvc_md5"],
        "metrics": {k: v for k, v in metrics.items() if k in SUMMARY_KEYS or k.startswith("separation.")
                    or k.endswith("max_regret_over_bound") or ".mean_" in k},
        "artifacts": {"data": versioned["path"]},
    }
