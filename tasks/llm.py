"""Language-model stages of proof-rm: generation and judge pre-check with a served or local model, and the diversity report.

`generate_task` and `precheck_task` in tasks/proofs.py call these when the
config's backend is `openai` or `hf`; the `embedded` backend keeps the
rule-based path there.
"""

from __future__ import annotations

import json

from prefect import task
from prefect.logging import get_run_logger

from components.artifacts import ArtifactRef, ArtifactStore
from components.errors import InputError
from components.llm import HFCausalLMBackend, LLMError, OpenAIChatBackend, ResponseCache, SamplingParams
from components.proofs.diversity import diversity_report, plot_report
from components.proofs.judge import LLMJudge, judge_all
from components.proofs.llm_generate import Journal, LLMProofGenerator, ModelChoice, plan_items, reference_triplets, run_items
from components.proofs.schema import Problem, Triplet, stable_id
from flows.config import GenerationConfig, LLMConnectionConfig, LLMModelConfig, PrecheckConfig
from flows.settings import project_home
from tasks.caching import STAGE_CACHE


def _store() -> ArtifactStore:
    return ArtifactStore(project_home())


def sampling(model: LLMModelConfig) -> SamplingParams:
    return SamplingParams(temperature=model.temperature, top_p=model.top_p, max_tokens=model.max_tokens, seed=model.seed)


def make_backend(connection: LLMConnectionConfig, model: LLMModelConfig):
    """Build the backend for one model; replies are cached under <home>/.reprolab/llm-cache unless cache is off."""
    cache = ResponseCache(project_home() / ".reprolab" / "llm-cache") if connection.cache else None
    if connection.backend == "openai":
        try:
            return OpenAIChatBackend(
                connection.base_url, model.name, api_key_env=connection.api_key_env, timeout=connection.timeout_s,
                max_retries=connection.max_retries, backoff=connection.backoff_s, concurrency=connection.concurrency,
                cache=cache, cost_per_1k_prompt=model.cost_per_1k_prompt, cost_per_1k_completion=model.cost_per_1k_completion,
            )
        except LLMError as exc:
            # Only resolving model "auto" talks to the server here; a failure means no usable server.
            raise InputError(f"cannot list the models of {connection.base_url}: {exc}", field="base_url",
                             hint="Start the server, fix base_url, or give the model name instead of 'auto'") from exc
    if connection.backend == "hf":
        if model.name == "auto":
            raise InputError("backend hf needs a local model folder as the model name, not 'auto'", field="models.name",
                             hint="Set for example --set 'generation.models=[{name: /models/Qwen2.5-1.5B-Instruct}]'")
        return HFCausalLMBackend(model.name, device=connection.device, batch_size=connection.batch_size, cache=cache)
    raise InputError(f"backend '{connection.backend}' is not a language-model backend", field="backend")


def usage_metrics(prefix: str, backends) -> dict[str, float]:
    totals: dict[str, float] = {}
    for backend in backends:
        for key, value in backend.usage.to_dict().items():
            totals[f"{prefix}.{key}"] = totals.get(f"{prefix}.{key}", 0.0) + float(value)
    return totals


def journal_path(problems_sha256: str, generation: GenerationConfig):
    """Return the generation journal of one input and config, so a rerun of a job resumes and another job starts afresh."""
    key = stable_id(problems_sha256, json.dumps(generation.model_dump(mode="json"), sort_keys=True))
    return project_home() / ".reprolab" / "llm-journal" / f"generate-{key}.jsonl"


def failure_counts(problems_sha256: str, generation: GenerationConfig) -> dict[str, int]:
    """Count the items whose latest journal entry is a failure, by reason."""
    if generation.backend == "embedded":
        return {}
    counts: dict[str, int] = {}
    for entry in Journal(journal_path(problems_sha256, generation)).load().values():
        if entry["status"] == "failed":
            counts[entry["reason"]] = counts.get(entry["reason"], 0) + 1
    return counts


def generate_with_llm(problems: list[Problem], generation: GenerationConfig, problems_sha256: str) -> ArtifactRef:
    """Generate triplets with the configured models; failed items are journalled with their reason and retried on a rerun."""
    logger = get_run_logger()
    store = _store()
    choices = [ModelChoice(model.name, sampling(model), make_backend(generation, model)) for model in generation.models]
    generator = LLMProofGenerator(choices, seed=generation.seed, templates={k: str(v) for k, v in generation.templates.items()})
    items = plan_items(
        problems, methods={method.value: count for method, count in generation.methods.items()},
        error_types=generation.error_types, errors_per_problem=generation.errors_per_problem,
        models=[choice.name for choice in choices], seed=generation.seed,
    )
    journal = Journal(journal_path(problems_sha256, generation))
    try:
        triplets, failures, report = run_items(generator, items, {p.problem_id: p for p in problems}, journal, progress=True)
    finally:
        for choice in choices:
            if hasattr(choice.backend, "close"):
                choice.backend.close()

    counts = {**report.to_dict(), **usage_metrics("usage", [choice.backend for choice in choices])}
    logger.info("language-model generation: %s", counts)
    if failures:
        logger.warning("%d of %d items failed (%s); rerun to retry them, finished items are kept",
                       report.failed, report.items, dict(report.failures_by_reason))
    if not triplets:
        raise InputError(f"every one of {report.items} generation requests failed ({dict(report.failures_by_reason)})",
                         field="generation.base_url", hint="Check that the server runs and replies with the requested JSON")
    everything = reference_triplets(problems, generation.seed) + sorted(triplets, key=lambda t: t.triplet_id)
    store.put_jsonl("generation-failures", failures)
    return store.put_jsonl("triplets", everything)


def precheck_with_llm(triplets: list[Triplet], precheck: PrecheckConfig) -> ArtifactRef:
    """Pre-check with a language-model judge; a triplet whose samples all fail gets verdict unsure and its reason."""
    logger = get_run_logger()
    backend = make_backend(precheck, precheck.model)
    judge = LLMJudge(backend, samples=precheck.samples, params=sampling(precheck.model),
                     **{k: v for k, v in {"prompt": precheck.prompt, "rubric": precheck.rubric}.items() if v is not None})
    try:
        checked, report = judge_all(judge, triplets, progress=True)
    finally:
        if hasattr(backend, "close"):
            backend.close()
    logger.info("judge pre-check: %s; usage %s", report.to_dict(), backend.usage.to_dict())
    if report.failed:
        logger.warning("%d of %d triplets could not be judged and are marked unsure with the reason", report.failed, report.triplets)
    return _store().put_jsonl("prechecked", checked)


@task(name="diversity", cache_policy=STAGE_CACHE, persist_result=True)
def diversity_task(triplets_ref: ArtifactRef, problems_ref: ArtifactRef, generation: GenerationConfig) -> tuple[ArtifactRef, ArtifactRef]:
    """Drop near-duplicate proofs and write the diversity report with the generation failures; returns (kept triplets, report)."""
    logger = get_run_logger()
    store = _store()
    kept, report = diversity_report(store.read_jsonl(triplets_ref, Triplet), generation.dedup_threshold)
    report.failures = failure_counts(problems_ref.sha256, generation)
    logger.info("diversity: %d of %d triplets kept, near-duplicate rate %.3f", report.kept, report.total, report.duplicate_rate)
    return store.put_jsonl("deduplicated", kept), store.put_json("diversity", report.to_dict())


@task(name="log-diversity")
def log_diversity_task(run_id: str, report_ref: ArtifactRef) -> dict[str, float]:
    """Log the diversity counts as an MLflow table, its summary as metrics and its plot as a PNG."""
    import matplotlib.pyplot as plt
    from mlflow.tracking import MlflowClient

    from components.proofs.diversity import DiversityReport
    from tasks.tracking import log_metrics

    report = DiversityReport(**_store().read_json(report_ref))
    client = MlflowClient()
    rows = report.rows()
    client.log_table(run_id, data={key: [row[key] for row in rows] for key in ("dimension", "value", "count", "share")},
                     artifact_file="diversity/counts.json")
    figure = plot_report(report)
    client.log_figure(run_id, figure, "plots/diversity.png")
    plt.close(figure)
    metrics = {f"diversity.{key}": value for key, value in report.metrics().items()}
    log_metrics(run_id, metrics)
    return metrics
