"""Data stages of the proof-rm pipeline: load, generate, pre-check, review, split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger

from components.artifacts import ArtifactRef, ArtifactStore
from components.errors import InputError
from components.io import sha256_file
from components.proofs.bank import load_bank
from components.proofs.generate import generate_triplets
from components.proofs.importers import load_imo_proofbench, load_problems
from components.proofs.precheck import RuleBasedPreChecker, precheck_all
from components.proofs.schema import Problem, Triplet, stable_id
from components.proofs.splits import split_by_problem
from components.review.store import ReviewStore
from flows.config import GenerationConfig, PrecheckConfig, ReviewConfig, SourcesConfig, SplitConfig
from flows.settings import project_home
from tasks.caching import STAGE_CACHE


def _store() -> ArtifactStore:
    return ArtifactStore(project_home())


def input_fingerprints(paths: list[Path]) -> dict[str, str]:
    """Return {path: sha256} for input files (folders: every file inside), so edits invalidate caches."""
    result = {}
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                result[str(file)] = sha256_file(file)
        elif path.exists():
            result[str(path)] = sha256_file(path)
        else:
            raise InputError("input file not found", path=path, hint="Check the path given in the config or --set")
    return result


@task(name="load", cache_policy=STAGE_CACHE, persist_result=True)
def load_problems_task(sources: SourcesConfig, extra_files: list[Path], fingerprints: dict[str, str]) -> ArtifactRef:
    """Collect problems from the built-in bank and the given files; ids must be unique."""
    logger = get_run_logger()
    problems: list[Problem] = load_bank(sources.topics) if sources.builtin else []
    for path in extra_files:
        loaded = load_imo_proofbench(path) if path.suffix == ".csv" else load_problems(path)
        logger.info("read %d problems from %s", len(loaded), path)
        problems.extend(loaded)

    seen: dict[str, str] = {}
    for problem in problems:
        if problem.problem_id in seen:
            raise InputError(
                f"problem id '{problem.problem_id}' appears in both {seen[problem.problem_id]} and {problem.source}",
                field="problem_id",
            )
        seen[problem.problem_id] = problem.source
    problems.sort(key=lambda p: p.problem_id)
    if sources.max_problems is not None:
        problems = problems[: sources.max_problems]
    usable = [p for p in problems if p.reference_steps]
    if len(usable) < len(problems):
        logger.warning("%d problems have no reference proof and are skipped", len(problems) - len(usable))
    if not usable:
        raise InputError("no problems with a reference proof", field="sources")

    logger.info("loaded %d problems: %s", len(usable), dict(Counter(p.source for p in usable)))
    return _store().put_jsonl("problems", usable)


@task(name="generate", cache_policy=STAGE_CACHE, persist_result=True)
def generate_task(problems_ref: ArtifactRef, generation: GenerationConfig) -> ArtifactRef:
    """Write correct variants and typed-error variants of every reference proof."""
    logger = get_run_logger()
    store = _store()
    problems = store.read_jsonl(problems_ref, Problem)
    triplets = generate_triplets(
        problems,
        methods={method.value: count for method, count in generation.methods.items()},
        error_types=[error.value for error in generation.error_types],
        errors_per_problem=generation.errors_per_problem,
        seed=generation.seed,
        progress=True,
    )
    labels = Counter(t.label for t in triplets)
    logger.info("generated %d triplets (%s) from %d problems", len(triplets), dict(labels), len(problems))
    return store.put_jsonl("triplets", triplets)


@task(name="precheck", cache_policy=STAGE_CACHE, persist_result=True)
def precheck_task(triplets_ref: ArtifactRef, problems_ref: ArtifactRef, precheck: PrecheckConfig) -> ArtifactRef:
    """Give every triplet a pre-check verdict, independent of its construction label."""
    logger = get_run_logger()
    store = _store()
    triplets = store.read_jsonl(triplets_ref, Triplet)
    problems = {p.problem_id: p for p in store.read_jsonl(problems_ref, Problem)}
    checked = precheck_all(triplets, problems, RuleBasedPreChecker())
    verdicts = Counter(t.check.verdict for t in checked if t.check)
    logger.info("pre-check verdicts: %s", dict(verdicts))
    return store.put_jsonl("prechecked", checked)


def in_audit_sample(triplet_id: str, fraction: float, seed: int) -> bool:
    """Decide audit membership from a hash of the id, so the sample is stable across runs and processes."""
    return int(stable_id("audit", seed, triplet_id), 16) / 16**16 < fraction


@task(name="review")
def review_task(prechecked_ref: ArtifactRef, review: ReviewConfig) -> tuple[ArtifactRef, dict[str, int]]:
    """Apply the review policy: keep confirmed labels, queue disputes and an audit sample, apply final decisions.

    Policy `auto`: a triplet whose pre-check verdict equals its construction
    label trains right away. A disputed one, where the pre-check disagrees or
    is unsure, trains only once its review is final. An audit sample of confirmed
    triplets is queued as well, so reviewers measure the pre-check; a final
    decision on an audited triplet overrides its construction label. Not
    cached: the queue changes between runs as people label items, and the
    output's hash changes only when a decision does, so later stages stay cached.
    """
    logger = get_run_logger()
    store = _store()
    triplets = store.read_jsonl(prechecked_ref, Triplet)

    confirmed, disputed = [], []
    for triplet in triplets:
        verdict = triplet.check.verdict if triplet.check else "unsure"
        (confirmed if verdict == triplet.label else disputed).append(triplet)
    audited = [t for t in confirmed if in_audit_sample(t.triplet_id, review.audit_fraction, review.audit_seed)]

    with ReviewStore(project_home() / review.store) as queue:
        added = queue.enqueue(disputed, reason="pre-check disagrees with the construction label or is unsure")
        added += queue.enqueue(audited, reason="audit sample of labels confirmed by the pre-check")
        finals = queue.final_labels()

        def with_history(triplet: Triplet) -> Triplet:
            return triplet.model_copy(update={"review": queue.history(triplet.triplet_id)})

        decided = [with_history(t) for t in disputed if t.triplet_id in finals]
        kept = [with_history(t) if t.triplet_id in finals else t for t in confirmed]

    kept = sorted(kept + decided, key=lambda t: t.triplet_id)
    counts = {
        "triplets": len(triplets),
        "confirmed_by_precheck": len(confirmed),
        "disputed": len(disputed),
        "audit_sample": len(audited),
        "newly_queued": added,
        "final_by_review": sum(1 for t in kept if t.review),
        "overruled_by_review": sum(1 for t in kept if t.final_label != t.label),
        "kept": len(kept),
    }
    logger.info("review policy %s: %s", review.policy, counts)
    if not kept:
        raise InputError("no triplet passed review; label queued items with `reprolab review next`", field="review")
    return store.put_jsonl("reviewed", kept), counts


@task(name="splits", cache_policy=STAGE_CACHE, persist_result=True)
def split_task(reviewed_ref: ArtifactRef, splits: SplitConfig) -> dict[str, ArtifactRef]:
    """Split reviewed triplets by problem into train, val and test."""
    store = _store()
    triplets = store.read_jsonl(reviewed_ref, Triplet)
    parts = split_by_problem(
        triplets, val_fraction=splits.val_fraction, test_fraction=splits.test_fraction, seed=splits.seed
    )
    return {name: store.put_jsonl(f"split-{name}", records) for name, records in parts.items()}


@task(name="load-external", cache_policy=STAGE_CACHE, persist_result=True, retries=0)
def load_external_task(path: Path, fingerprint: dict[str, str], limit: int | None) -> ArtifactRef:
    """Import a human-labelled data set for evaluation into the store."""
    from components.proofs.importers import load_triplets

    logger = get_run_logger()
    triplets = sorted(load_triplets(path), key=lambda t: t.triplet_id)
    if limit is not None and len(triplets) > limit:
        # Keep whole problems, so best-of-n compares every proof of a kept problem.
        kept, problems = [], set()
        for triplet in triplets:
            if triplet.problem_id not in problems:
                if len(kept) >= limit:
                    continue
                problems.add(triplet.problem_id)
            kept.append(triplet)
        triplets = kept
    logger.info("external data %s: %d triplets, %s", path, len(triplets), dict(Counter(t.label for t in triplets)))
    return _store().put_jsonl("external", triplets)
