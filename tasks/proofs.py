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
from components.proofs.splits import MIN_PROBLEMS_FOR_TEST, has_test_split, split_by_problem, untrainable_reason
from components.review.database import StoreTarget, parse_target
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
    if generation.backend != "embedded":
        from tasks.llm import generate_with_llm

        return generate_with_llm(problems, generation, problems_ref.sha256)
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
    if precheck.backend != "embedded":
        from tasks.llm import precheck_with_llm

        return precheck_with_llm(triplets, precheck)
    problems = {p.problem_id: p for p in store.read_jsonl(problems_ref, Problem)}
    checked = precheck_all(triplets, problems, RuleBasedPreChecker())
    verdicts = Counter(t.check.verdict for t in checked if t.check)
    logger.info("pre-check verdicts: %s", dict(verdicts))
    return store.put_jsonl("prechecked", checked)


def in_audit_sample(triplet_id: str, fraction: float, seed: int) -> bool:
    """Decide audit membership from a hash of the id, so the sample is stable across runs and processes."""
    return int(stable_id("audit", seed, triplet_id), 16) / 16**16 < fraction


@task(name="review")
def review_task(prechecked_ref: ArtifactRef, review: ReviewConfig, splits: SplitConfig
                ) -> tuple[ArtifactRef, dict[str, int]]:
    """Apply the review policy: queue items for humans, then keep what the policy lets train.

    Policy `auto`: a triplet whose pre-check verdict equals its construction
    label trains right away. A disputed one, where the pre-check disagrees or
    is unsure, trains only once its review is final. An audit sample of confirmed
    triplets is queued as well, so reviewers measure the pre-check; a final
    decision on an audited triplet overrides its construction label.

    Policy `human`: every triplet is queued. The flow run pauses (Prefect's
    `pause_flow_run`; see docs/review.md) until `required_final` of them are
    final, then trains on the final ones only, read back from the store's
    export. A watcher thread resumes the run as soon as the count is reached;
    an operator may also resume it from the Prefect UI, and then it trains on
    what is final so far. After `wait_timeout_s` the run fails.

    Both policies mark a `double_review_fraction` of queued items for blind
    double review and queue a `gold_fraction` of confirmed triplets as gold
    items. Not cached: the queue changes between runs as people label items,
    and the output's hash changes only when a decision does, so later stages
    stay cached.
    """
    logger = get_run_logger()
    store = _store()
    triplets = store.read_jsonl(prechecked_ref, Triplet)

    confirmed, disputed = [], []
    for triplet in triplets:
        verdict = triplet.check.verdict if triplet.check else "unsure"
        (confirmed if verdict == triplet.label else disputed).append(triplet)
    gold = [t for t in confirmed if in_audit_sample(t.triplet_id, review.gold_fraction, review.audit_seed + 1)]
    gold_ids = {t.triplet_id for t in gold}
    if review.policy == "human":
        queued = [t for t in triplets if t.triplet_id not in gold_ids]
        audited: list[Triplet] = []
    else:
        audited = [t for t in confirmed if t.triplet_id not in gold_ids
                   and in_audit_sample(t.triplet_id, review.audit_fraction, review.audit_seed)]
        queued = disputed

    def enqueue(queue: ReviewStore, batch: list[Triplet], reason: str, is_gold: bool = False) -> int:
        double = [t for t in batch
                  if in_audit_sample(t.triplet_id, review.double_review_fraction, review.audit_seed + 2)]
        double_ids = {t.triplet_id for t in double}
        single = [t for t in batch if t.triplet_id not in double_ids]
        added = queue.enqueue(single, reason=reason, gold=is_gold) if single else 0
        if double:
            added += queue.enqueue(double, reason=reason, reviews_required=2, gold=is_gold)
        return added

    queue_path = parse_target(review.store, base=project_home())
    with ReviewStore(queue_path) as queue:
        reason = ("human review of every triplet" if review.policy == "human"
                  else "pre-check disagrees with the construction label or is unsure")
        added = enqueue(queue, queued, reason)
        added += enqueue(queue, audited, "audit sample of labels confirmed by the pre-check")
        added += enqueue(queue, gold, "gold item: construction label confirmed by the pre-check", is_gold=True)

    counts: dict[str, int] = {
        "triplets": len(triplets),
        "confirmed_by_precheck": len(confirmed),
        "disputed": len(disputed),
        "audit_sample": len(audited),
        "gold": len(gold),
        "newly_queued": added,
    }
    if review.policy == "human":
        kept = _wait_and_collect_human_labels(queue_path, triplets, review, splits, logger)
        counts["waited_for"] = review.required_final
    else:
        with ReviewStore(queue_path) as queue:
            finals = queue.final_labels()

            def with_history(triplet: Triplet) -> Triplet:
                return triplet.model_copy(update={"review": queue.history(triplet.triplet_id)})

            decided = [with_history(t) for t in disputed if t.triplet_id in finals]
            kept = [with_history(t) if t.triplet_id in finals else t for t in confirmed] + decided

    kept = sorted(kept, key=lambda t: t.triplet_id)
    counts |= {
        "final_by_review": sum(1 for t in kept if t.review),
        "overruled_by_review": sum(1 for t in kept if t.final_label != t.label),
        "kept": len(kept),
    }
    logger.info("review policy %s: %s", review.policy, counts)
    if not kept:
        raise InputError("no triplet passed review; label queued items with `reprolab review serve` "
                         "or `reprolab review next`", field="review")
    return store.put_jsonl("reviewed", kept), counts


def _final_verdicts(queue_path: StoreTarget, triplet_ids: set[str]) -> dict[str, str]:
    with ReviewStore(queue_path) as queue:
        return {tid: verdict for tid, verdict in queue.final_verdicts().items() if tid in triplet_ids}


def _wait_and_collect_human_labels(queue_path: StoreTarget, triplets: list[Triplet], review: ReviewConfig,
                                   splits: SplitConfig, logger) -> list[Triplet]:
    """Pause the flow run until enough of this run's items are final; return them from the store's export.

    Enough means `required_final` items that the later stages can use: with
    their final verdicts they split into a non-empty test split and a training
    split with both labels (components.proofs.splits.untrainable_reason), so the
    run does not wait for reviewers and then fail in the splits or train stage.
    The pause is Prefect's `pause_flow_run`: the run shows as Paused in the UI
    and keeps its process. A daemon thread polls the review store every
    `poll_s` seconds and resumes the run through the Prefect API once that is reached.
    """
    import contextvars
    import tempfile
    import threading

    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    from components.review.store import read_export

    by_id = {t.triplet_id: t for t in triplets}
    ids = set(by_id)
    required = review.required_final
    if required > len(ids):
        raise InputError(
            f"review.required_final is {required}, but this run queues only {len(ids)} triplets",
            field="review.required_final", hint=f"Set it to at most {len(ids)}",
        )
    if not has_test_split(triplets):
        raise InputError(
            f"this run's triplets come from too few problems for a test split (at least "
            f"{MIN_PROBLEMS_FOR_TEST} of one source), so waiting for reviews could not help",
            field="sources", hint="Add problems or raise sources.max_problems",
        )

    def unusable(final: dict[str, str]) -> str | None:
        """Return why the final items cannot be trained on yet, or None when they can."""
        if len(final) < required:
            return f"{len(final)} of the {required} required items are final"
        return untrainable_reason([(by_id[tid], verdict) for tid, verdict in final.items()],
                                  val_fraction=splits.val_fraction, test_fraction=splits.test_fraction,
                                  seed=splits.seed)

    final = _final_verdicts(queue_path, ids)
    if unusable(final) is not None:
        context = FlowRunContext.get()
        if context is None or context.flow_run is None:
            raise RuntimeError("review policy 'human' waits by pausing the flow run, so it must run inside a flow")
        flow_run_id = context.flow_run.id
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(review.poll_s):
                try:
                    if unusable(_final_verdicts(queue_path, ids)) is None:
                        with get_client(sync_client=True) as client:
                            client.resume_flow_run(flow_run_id)
                        return
                except Exception as exc:  # noqa: BLE001 - keep watching; the pause times out otherwise
                    logger.warning("review watcher: %s", exc)

        watcher = threading.Thread(target=contextvars.copy_context().run, args=(watch,),
                                   name="review-watcher", daemon=True)
        store_option = "" if queue_path == parse_target(project_home() / "review.db") else f" --store {queue_path}"
        logger.info("waiting for %d of %d queued item(s) to be final, with both verdicts and at least %d problems "
                    "of one source among them (%d final now); label them with `reprolab review%s serve`",
                    required, len(ids), MIN_PROBLEMS_FOR_TEST, len(final), store_option)
        watcher.start()
        try:
            pause_flow_run(timeout=review.wait_timeout_s, poll_interval=min(review.poll_s, 10.0))
        except FlowPauseTimeout:
            final = _final_verdicts(queue_path, ids)
            reason = unusable(final) if len(final) >= required else None
            if reason is None:
                message = (f"only {len(final)} of the {required} required review items were final after waiting "
                           f"{review.wait_timeout_s:g} s")
            else:
                message = f"{len(final)} review items were final after waiting {review.wait_timeout_s:g} s, but {reason}"
            raise InputError(
                message,
                field="review.wait_timeout_s",
                hint=f"Label more items with `reprolab review{store_option} serve`, then run the flow again",
            ) from None
        finally:
            stop.set()
        final = _final_verdicts(queue_path, ids)
        reason = unusable(final)
        if reason is not None:
            logger.warning("flow run resumed by hand although %s; training on the %d final item(s)",
                           reason, len(final))

    with ReviewStore(queue_path) as queue, tempfile.TemporaryDirectory(prefix="review-export-") as folder:
        export = Path(folder) / "final.jsonl"
        queue.export(export)
        reviewed = [t for t in read_export(export) if t.triplet_id in ids]
    logger.info("training on %d human-reviewed item(s)", len(reviewed))
    return reviewed


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
    triplets = sorted(load_triplets(path), key=lambda t: (t.problem_id, t.triplet_id))
    if limit is not None and len(triplets) > limit:
        # Keep whole problems, so best-of-n compares every proof of a kept problem; the first
        # problem is kept even when it alone has more than `limit` proofs.
        by_problem: dict[str, list[Triplet]] = {}
        for triplet in triplets:
            by_problem.setdefault(triplet.problem_id, []).append(triplet)
        kept: list[Triplet] = []
        for group in by_problem.values():
            if kept and len(kept) + len(group) > limit:
                continue
            kept.extend(group)
        triplets = kept
    logger.info("external data %s: %d triplets, %s", path, len(triplets), dict(Counter(t.label for t in triplets)))
    return _store().put_jsonl("external", triplets)
