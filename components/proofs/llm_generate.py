"""Proof generation with a language model: the five methods as prompt templates plus reply parsers.

Methods (every one starts from a `Problem`):

- `scratch`: a proof from the question alone;
- `rephrase` and `augment`: the reference proof restructured or reworded, same steps;
- `mask_completion`: key steps of the reference replaced by [MASKED] and filled
  by the model; the masked step numbers go to `generator_params["masked_steps"]`;
- `error_injection`: one error of a requested `ErrorType` inserted by the model,
  which reports the wrong steps.

Each piece of work is a `WorkItem` with a stable id. `run_items` journals every
finished and failed item to a JSONL file, so a rerun skips finished items and
retries only the failed ones. A failed item never stops the run.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from components.errors import InputError
from components.llm.base import Completion, LLMError, Request, SamplingParams, TextGenerator
from components.proofs.generate import EmbeddedGenerator
from components.proofs.prompting import PromptTemplate, default_template, number_steps, parse_json_reply, parse_step_numbers, parse_steps
from components.proofs.schema import ErrorType, GenerationMethod, Problem, Triplet, stable_id

logger = logging.getLogger(__name__)

LLM_METHODS = ("scratch", "rephrase", "augment", "mask_completion")

ERROR_DESCRIPTIONS: dict[ErrorType, str] = {
    ErrorType.COMPUTATIONAL_SLIP: "an arithmetic or algebraic calculation gives a wrong result",
    ErrorType.SIGN_ERROR: "a plus or minus sign is flipped in a formula",
    ErrorType.UNJUSTIFIED_CLAIM: "a non-obvious claim is asserted without its justification",
    ErrorType.SKIPPED_CASE: "one case of a case analysis is left out while the proof claims to cover all",
    ErrorType.CIRCULAR_REASONING: "the statement to be proved is used as a step of its own proof",
    ErrorType.MISAPPLIED_THEOREM: "a theorem is applied where its hypotheses do not hold or in a wrong form",
    ErrorType.GENERALIZATION_FROM_EXAMPLES: "a general claim is concluded from a few checked examples",
    ErrorType.DROPPED_CONDITION: "a hypothesis of the problem is ignored or weakened",
    ErrorType.REVERSED_INEQUALITY: "an inequality is turned the wrong way",
    ErrorType.COUNTERFACTUAL: "a step states a fact that is false",
    ErrorType.STEP_CONTRADICTION: "a step contradicts an earlier step",
    ErrorType.DECEPTION: "a step looks plausible but hides a subtle logical gap",
    ErrorType.OTHER: "any other logical error",
}


@dataclass(frozen=True)
class ModelChoice:
    """A model a run may use, with its sampling settings and its backend."""

    name: str
    params: SamplingParams
    backend: TextGenerator


@dataclass(frozen=True)
class WorkItem:
    """One proof to generate: a problem, a method, a variant number, the model and, for errors, the type."""

    problem_id: str
    method: str
    variant: int
    model: str
    error_type: str | None = None

    @property
    def item_id(self) -> str:
        return stable_id(self.problem_id, self.method, self.error_type, self.variant, self.model)


@dataclass
class GenerationReport:
    """Counts of one `run_items` call."""

    items: int = 0
    resumed: int = 0
    generated: int = 0
    failed: int = 0
    failures_by_reason: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "resumed": self.resumed, "generated": self.generated, "failed": self.failed,
                "failures_by_reason": dict(sorted(self.failures_by_reason.items()))}


def plan_items(
    problems: Sequence[Problem],
    *,
    methods: Mapping[str, int],
    error_types: Sequence[ErrorType | str],
    errors_per_problem: int,
    models: Sequence[str],
    seed: int,
) -> list[WorkItem]:
    """List the work for every problem: `methods[m]` items per method and `errors_per_problem` error items.

    Models are assigned round-robin from a problem-dependent offset, and error
    types cycle over `error_types` from another offset, both derived from the
    seed, so a run spreads over every listed model and type.
    """
    if not models:
        raise InputError("no model listed for the language-model backend", field="generation.models")
    for method in methods:
        if method not in LLM_METHODS:
            raise InputError(f"unknown generation method '{method}'", field="generation.methods",
                             hint=f"Methods: {', '.join(LLM_METHODS)}")
    kinds = [ErrorType(value) for value in error_types]
    items: list[WorkItem] = []
    for problem in problems:
        model_cursor = int(stable_id(seed, problem.problem_id, "model-offset"), 16) % len(models)
        for method, count in methods.items():
            if method != "scratch" and not problem.reference_steps:
                continue
            for variant in range(count):
                items.append(WorkItem(problem.problem_id, method, variant, models[model_cursor % len(models)]))
                model_cursor += 1
        if not problem.reference_steps or not kinds:
            continue
        type_cursor = int(stable_id(seed, problem.problem_id, "error-offset"), 16) % len(kinds)
        used: Counter[ErrorType] = Counter()
        for _ in range(errors_per_problem):
            kind = kinds[type_cursor % len(kinds)]
            type_cursor += 1
            items.append(WorkItem(problem.problem_id, "error_injection", used[kind], models[model_cursor % len(models)], kind.value))
            used[kind] += 1
            model_cursor += 1
    return items


def mask_positions(problem: Problem, variant: int, seed: int) -> list[int]:
    """Pick the 1-based steps to hide: metadata `key_steps` when given, else the longest inner steps.

    One step for proofs under four steps, else two, rotated by the variant so
    variants hide different steps.
    """
    steps = problem.reference_steps
    key_steps = [int(k) for k in problem.metadata.get("key_steps", []) if 1 <= int(k) <= len(steps)]
    if not key_steps:
        inner = range(2, len(steps)) if len(steps) > 2 else range(1, len(steps) + 1)
        key_steps = sorted(inner, key=lambda k: (-len(steps[k - 1]), k))[:4]
    count = 1 if len(steps) < 4 or len(key_steps) < 2 else 2
    offset = (int(stable_id(seed, problem.problem_id, "mask"), 16) + variant) % len(key_steps)
    rotated = key_steps[offset:] + key_steps[:offset]
    return sorted(rotated[:count])


class LLMProofGenerator:
    """Build requests for work items, send them to each model's backend and parse the replies into triplets."""

    def __init__(self, models: Sequence[ModelChoice], *, seed: int = 0, templates: Mapping[str, str | Path] | None = None) -> None:
        self.models = {model.name: model for model in models}
        self.seed = seed
        paths = {method: default_template(method) for method in (*LLM_METHODS, "error_injection")}
        for key, value in (templates or {}).items():
            if key not in paths:
                raise InputError(f"template given for unknown method '{key}'", field="generation.templates",
                                 hint=f"Methods: {', '.join(paths)}")
            paths[key] = Path(value)
        self.templates = {method: PromptTemplate.load(path) for method, path in paths.items()}

    # Prompts

    def request(self, item: WorkItem, problem: Problem) -> Request:
        """Render the method's template for one item, with the model's sampling settings."""
        model = self.models[item.model]
        steps = problem.reference_steps
        fields: dict[str, Any] = {"question": problem.question, "n_steps": len(steps), "proof": number_steps(steps)}
        if item.method == "mask_completion":
            masked = mask_positions(problem, item.variant, self.seed)
            fields.update(proof=number_steps(steps, masked), masked=", ".join(map(str, masked)))
        if item.method == "error_injection":
            kind = ErrorType(item.error_type)
            fields.update(error_type=kind.value, error_description=ERROR_DESCRIPTIONS[kind])
        system, user = self.templates[item.method].render(**fields)
        params = SamplingParams(**{**model.params.to_dict(), "sample": item.variant})
        return Request.chat(system, user, params)

    # Replies

    def parse(self, item: WorkItem, problem: Problem, completion: Completion) -> Triplet:
        """Turn a completion into a triplet, or raise LLMError with the reason it cannot be used."""
        reference = problem.reference_steps
        extra: dict[str, Any] = {}
        error_steps: list[int] = []
        if item.method == "scratch":
            steps = parse_steps(completion.text)
        elif item.method in ("rephrase", "augment"):
            steps = parse_steps(completion.text, expected=len(reference))
        elif item.method == "mask_completion":
            masked = mask_positions(problem, item.variant, self.seed)
            filled = parse_json_reply(completion.text).get("filled")
            if not isinstance(filled, dict):
                raise LLMError("unparseable", "reply has no 'filled' object")
            steps = list(reference)
            for number in masked:
                text = filled.get(str(number), filled.get(number))
                if not isinstance(text, str) or not text.strip():
                    raise LLMError("missing_step", f"reply does not fill masked step {number}")
                steps[number - 1] = text.strip()
            extra["masked_steps"] = masked
        else:
            reply = parse_json_reply(completion.text)
            steps = parse_steps(json.dumps({"steps": reply.get("steps")}))
            error_steps = parse_step_numbers(reply.get("error_steps"), len(steps), "error_steps")
            if steps == list(reference):
                raise LLMError("unchanged", "the model returned the reference proof unchanged instead of inserting an error")
            extra["explanation"] = str(reply.get("explanation", ""))[:500]
        return self._triplet(item, problem, steps, error_steps, extra, completion)

    def _triplet(self, item, problem, steps, error_steps, extra, completion: Completion) -> Triplet:
        model = self.models[item.model]
        template = self.templates[item.method]
        method = GenerationMethod(item.method)
        params = {
            "backend": getattr(model.backend, "kind", "unknown"), "model": item.model, "served_model": completion.model,
            **{key: value for key, value in model.params.to_dict().items() if key != "sample"},
            "variant": item.variant, "template": template.name, "template_sha256": template.sha256[:16],
            "prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens, **extra,
        }
        return Triplet(
            triplet_id=item.item_id, problem_id=problem.problem_id, question=problem.question, steps=steps,
            source=problem.source, method=method, generator=model.backend.name, generator_params=params,
            error_type=ErrorType(item.error_type) if item.error_type else None, error_steps=error_steps,
            label="incorrect" if item.error_type else "correct", difficulty=problem.difficulty, topic=problem.topic,
        )


class Journal:
    """Append-only JSONL of finished and failed items; the last line of an item wins."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return entries
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                entry = json.loads(line)
                entries[entry["item_id"]] = entry
            except (ValueError, KeyError):
                # A run killed mid-write leaves a torn last line; that item is simply redone.
                logger.warning("%s line %d is incomplete and is ignored", self.path, number)
        return entries

    def append(self, entries: Iterable[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def run_items(
    generator: LLMProofGenerator,
    items: Sequence[WorkItem],
    problems: Mapping[str, Problem],
    journal: Journal,
    *,
    chunk_size: int = 32,
    progress: bool = False,
) -> tuple[list[Triplet], list[dict[str, Any]], GenerationReport]:
    """Generate every item not yet finished in `journal`; return (triplets, failures, report).

    Items are sent in chunks of `chunk_size`, grouped by model, and each chunk
    is journalled before the next starts, so a killed run loses at most one chunk.
    """
    report = GenerationReport(items=len(items))
    done = {key: entry for key, entry in journal.load().items() if entry["status"] == "done"}
    triplets = [Triplet.model_validate(done[item.item_id]["triplet"]) for item in items if item.item_id in done]
    report.resumed = len(triplets)
    todo = [item for item in items if item.item_id not in done]
    if report.resumed:
        logger.info("resuming: %d of %d items were finished by an earlier run", report.resumed, len(items))

    failures: list[dict[str, Any]] = []
    bar = tqdm(total=len(todo), desc="generating proofs", unit="proof", disable=not progress)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        entries = []
        for model_name in sorted({item.model for item in chunk}):
            group = [item for item in chunk if item.model == model_name]
            requests = [generator.request(item, problems[item.problem_id]) for item in group]
            replies = generator.models[model_name].backend.complete_many(requests)
            for item, reply in zip(group, replies):
                try:
                    if isinstance(reply, LLMError):
                        raise reply
                    triplet = generator.parse(item, problems[item.problem_id], reply)
                except LLMError as exc:
                    failure = {"item_id": item.item_id, "status": "failed", "reason": exc.reason, "message": str(exc),
                               "problem_id": item.problem_id, "method": item.method, "model": item.model,
                               "error_type": item.error_type}
                    logger.error("item %s (%s, %s, %s) failed: %s", item.item_id, item.problem_id, item.method, item.model, exc)
                    failures.append(failure)
                    entries.append(failure)
                    report.failures_by_reason[exc.reason] += 1
                    continue
                triplets.append(triplet)
                entries.append({"item_id": item.item_id, "status": "done", "triplet": triplet.model_dump(mode="json")})
        journal.append(entries)
        bar.update(len(chunk))
    bar.close()

    report.generated = len(triplets) - report.resumed
    report.failed = len(failures)
    logger.info("generation: %s", report.to_dict())
    return triplets, failures, report


def reference_triplets(problems: Iterable[Problem], seed: int) -> list[Triplet]:
    """Return the reference proof of each problem that has one, as a correct triplet."""
    generator = EmbeddedGenerator(seed)
    return [triplet for problem in problems if (triplet := generator.reference(problem)) is not None]
