"""The proof-rm pipeline: a proof-checking reward model from generated, reviewed triplets.

Method: "Proof-RM: A Scalable and Generalizable Reward Model for Math Proof"
(arXiv 2602.02377). Stages: load problems -> generate proofs -> pre-check ->
human review -> build splits -> version -> train reward model -> evaluate ->
register.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from flows.config import STAGES, ProofRMConfig
from flows.settings import project_home
from flows.stages import current_flow_run_id, refreshed_stages, stage_runner
from tasks.proofs import (
    generate_task,
    input_fingerprints,
    load_external_task,
    load_problems_task,
    precheck_task,
    review_task,
    split_task,
)
from tasks.llm import diversity_task, log_diversity_task
from tasks.tracking import (
    log_evaluation_task,
    log_metrics_task,
    log_training_task,
    register_task,
    tracked_run,
)
from tasks.training import evaluate_task, train_task
from tasks.versioning import version_task

SHARED_EXTERNAL = {"opc": "opc/opc_dev.parquet", "prmbench": "prmbench"}
SHARED_PROBLEMS = "imobench/proofbench_v2.csv"


def problem_files(config: ProofRMConfig) -> list[Path]:
    files = list(config.sources.problems)
    shared = config.shared_data / SHARED_PROBLEMS
    if config.sources.shared_imo_proofbench and shared.exists():
        files.append(shared)
    return files


def external_sets(config: ProofRMConfig) -> dict[str, Path]:
    """Name the external evaluation sets: shared ones when present, then those given in the config."""
    sets: dict[str, Path] = {}
    if config.eval.shared_external:
        for name, relative in SHARED_EXTERNAL.items():
            if (config.shared_data / relative).exists():
                sets[name] = config.shared_data / relative
    for path in config.eval.external:
        sets[path.stem.replace(".", "_")] = path
    return sets


def check_review_store(config: ProofRMConfig) -> None:
    """Open the review store once, so that an unreachable database or an unwritable file fails before any stage."""
    from components.review.database import parse_target
    from components.review.store import ReviewStore

    with ReviewStore(parse_target(config.review.store, base=project_home())):
        pass


@flow(name="proof-rm", log_prints=False)
def proof_rm(config: ProofRMConfig) -> dict[str, Any]:
    """Run the proof reward-model pipeline and return its summary (metrics, run id, data hash, artifacts)."""
    logger = get_run_logger()
    refresh = refreshed_stages(STAGES, config.refresh)
    stage = stage_runner(refresh)
    flow_run_id = current_flow_run_id()
    with tracked_run(
        config.tracking.experiment, f"proof-rm-{config.preset}", config.model_dump(mode="json"),
        {"prefect.flow_run_id": flow_run_id, "preset": config.preset},
    ) as run_id:
        # Data: problems -> triplets -> pre-check -> review -> splits.
        files = problem_files(config)
        problems = stage(load_problems_task, "load")(config.sources, files, input_fingerprints(files))
        # A language-model stage always reruns: its journal and response cache skip finished work and retry failures.
        generate = generate_task.with_options(refresh_cache="generate" in refresh or config.generation.backend != "embedded")
        triplets = generate(problems, config.generation)
        triplets, diversity = stage(diversity_task, "generate")(triplets, problems, config.generation)
        log_diversity_task(run_id, diversity)
        precheck = precheck_task.with_options(refresh_cache="precheck" in refresh or config.precheck.backend != "embedded")
        prechecked = precheck(triplets, problems, config.precheck)
        reviewed, review_counts = review_task(prechecked, config.review, config.splits)
        splits = stage(split_task, "splits")(reviewed, config.splits)

        # Version the datasets and point the run at them.
        # The manifest describes the data only, so identical data keeps an identical DVC hash.
        versioned = version_task("proof-rm", {"problems": problems, "triplets": prechecked, **splits},
                                 {"generation": config.generation.model_dump(mode="json")})
        log_metrics_task(run_id, {f"review.{k}": v for k, v in review_counts.items()}
                         | {f"data.{k}": ref.count for k, ref in splits.items()},
                         tags={"dvc.data_md5": versioned["dvc_md5"]})

        # Train in a nested run.
        with tracked_run(
            config.tracking.experiment, "train", {"model": config.model.model_dump(mode="json"),
                                                  "train": config.train.model_dump(mode="json")},
            {"prefect.flow_run_id": flow_run_id, "dvc.data_md5": versioned["dvc_md5"]}, parent_run_id=run_id,
        ) as train_run_id:
            training = stage(train_task, "train")(splits["train"], splits["val"], config.model, config.train)
            log_training_task(train_run_id, training)

        # Evaluate on held-out problems and on external human-labelled data.
        eval_sets = {"test": splits["test"]}
        for name, path in external_sets(config).items():
            eval_sets[name] = stage(load_external_task, "evaluate")(path, input_fingerprints([path]), config.eval.max_external)
        evaluation = stage(evaluate_task, "evaluate")(training["checkpoint"], splits["train"], eval_sets,
                                                      config.eval, config.train.seed)
        metrics = log_evaluation_task(run_id, evaluation)

        # Register the model.
        registered = register_task(run_id, training["checkpoint"], config.tracking.registered_model)

    summary_metrics = {k: v for k, v in metrics.items() if ".reward_model." in k and "best_of_n" not in k}
    summary_metrics.update({k: v for k, v in metrics.items() if k.endswith("best_of_n.reward_model") or k.endswith("proofs_per_second")})
    logger.info("proof-rm finished: run %s, data md5 %s, model %s", run_id, versioned["dvc_md5"], registered["model_uri"])
    return {
        "flow": "proof-rm",
        "prefect_flow_run_id": flow_run_id,
        "mlflow_run_id": run_id,
        "dvc_data_md5": versioned["dvc_md5"],
        "metrics": summary_metrics,
        "review": review_counts,
        "artifacts": {
            "data": versioned["path"],
            "checkpoint": str(project_home() / training["checkpoint"].path),
            "evaluation": str(project_home() / evaluation.path),
            **registered,
        },
    }
