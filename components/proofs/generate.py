"""Embedded proof generator: correct rewordings and typed error injection, with no language model.

`EmbeddedGenerator` turns the reference proof of a `Problem` into new proofs:

- correct variants: `rephrase` (restructured sentences), `augment` (synonyms) and
  `mask_completion` (key steps hidden and filled back with a reworded version);
  each keeps every formula byte-identical;
- incorrect variants: `inject_error` with one of `INJECTED_ERROR_TYPES`, which
  records the erroneous steps in the numbering of the returned proof.

Edits read the problem's metadata (`key_steps`, `case_steps`, `conditions`) where
the built-in bank provides it, and otherwise work from the text alone, so imported
problems with a reference proof can be used as well. A method returns None when
its transformation does not apply to a proof. `generate_triplets` runs the methods
over a list of problems; everything is deterministic for a given seed.

The rewording rules live in components.proofs.rewording and the error injectors,
one per error type, in components.proofs.injection.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from components.errors import InputError
from components.proofs.injection import INJECTORS, Candidate, Edit, key_step_indices
from components.proofs.mathtext import mask_math
from components.proofs.rewording import augment_text, rephrase_text, synonym_matches
from components.proofs.schema import ErrorType, GenerationMethod, Problem, Triplet, stable_id

logger = logging.getLogger(__name__)

GENERATOR_NAME = "embedded-rules-v1"

# Methods that produce correct proofs from a reference proof, in the order they run.
CORRECT_METHODS: tuple[str, ...] = ("rephrase", "augment", "mask_completion")
# Methods that write a proof from the question alone; only a language model can.
LANGUAGE_MODEL_METHODS: tuple[str, ...] = (GenerationMethod.SCRATCH.value,)

INJECTED_ERROR_TYPES: tuple[ErrorType, ...] = (
    ErrorType.COMPUTATIONAL_SLIP,
    ErrorType.SIGN_ERROR,
    ErrorType.UNJUSTIFIED_CLAIM,
    ErrorType.SKIPPED_CASE,
    ErrorType.CIRCULAR_REASONING,
    ErrorType.MISAPPLIED_THEOREM,
    ErrorType.GENERALIZATION_FROM_EXAMPLES,
    ErrorType.DROPPED_CONDITION,
    ErrorType.REVERSED_INEQUALITY,
)


# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------


class EmbeddedGenerator:
    """Rule-based proof generator; every output depends only on the seed, the problem and the variant."""

    name = GENERATOR_NAME

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _rng(self, problem: Problem, *parts: object) -> random.Random:
        return random.Random(int(stable_id(self.seed, problem.problem_id, *parts), 16))

    def _triplet(
        self,
        problem: Problem,
        method: GenerationMethod,
        steps: list[str],
        variant: int,
        params: Mapping[str, Any],
        *,
        error_type: ErrorType | None = None,
        error_steps: Sequence[int] = (),
        question: str | None = None,
    ) -> Triplet:
        error_value = error_type.value if error_type is not None else None
        return Triplet(
            triplet_id=stable_id(problem.problem_id, method.value, error_value, variant),
            problem_id=problem.problem_id,
            question=question or problem.question,
            steps=steps,
            source=problem.source,
            method=method,
            generator=self.name,
            generator_params={"variant": variant, "seed": self.seed, **params},
            error_type=error_type,
            error_steps=list(error_steps),
            label="incorrect" if error_type is not None else "correct",
            difficulty=problem.difficulty,
            topic=problem.topic,
        )

    def reference(self, problem: Problem) -> Triplet | None:
        """Return the reference proof as a correct triplet, or None when the problem has none."""
        if not problem.reference_steps:
            return None
        return self._triplet(
            problem, GenerationMethod.REFERENCE, list(problem.reference_steps), 0,
            {"description": "the reference proof"},
        )

    def rephrase(self, problem: Problem, variant: int = 0) -> Triplet | None:
        """Restructure sentences (clause order, connectives, "We have X" <-> "X holds"); formulas stay identical."""
        steps = list(problem.reference_steps)
        if not steps:
            return None
        rng = self._rng(problem, "rephrase", variant)
        new_steps = []
        rules: list[str] = []
        for step in steps:
            new_step, applied = rephrase_text(step, rng, probability=0.6, force=False)
            new_steps.append(new_step)
            rules.extend(applied)
        if not rules:
            # Nothing was picked at random: apply one rule to one step that has any.
            order = list(range(len(steps)))
            rng.shuffle(order)
            for index in order:
                new_step, applied = rephrase_text(steps[index], rng, probability=0.0, force=True)
                if applied:
                    new_steps[index] = new_step
                    rules.extend(applied)
                    break
        if not rules or new_steps == steps:
            return None
        counts = dict(sorted(Counter(rules).items()))
        return self._triplet(
            problem, GenerationMethod.REPHRASE, new_steps, variant,
            {"description": f"restructured {len(rules)} sentences", "rules": counts},
        )

    def augment(self, problem: Problem, variant: int = 0) -> Triplet | None:
        """Reword phrases outside formulas with a synonym table, keeping the content."""
        steps = list(problem.reference_steps)
        if not steps:
            return None
        rng = self._rng(problem, "augment", variant)
        new_steps = []
        total = 0
        for step in steps:
            new_step, replaced = augment_text(step, rng, probability=0.6)
            new_steps.append(new_step)
            total += replaced
        if total == 0:
            order = [index for index, step in enumerate(steps) if synonym_matches(mask_math(step).masked)]
            if not order:
                return None
            index = rng.choice(order)
            new_steps[index], total = augment_text(steps[index], rng, probability=1.0)
        if new_steps == steps:
            return None
        return self._triplet(
            problem, GenerationMethod.AUGMENT, new_steps, variant,
            {"description": f"replaced {total} phrases by synonyms", "replacements": total},
        )

    def mask_completion(self, problem: Problem, variant: int = 0) -> Triplet | None:
        """Mask 1-2 key steps and fill each with a reworded version of the hidden step.

        Key steps come from metadata `key_steps`, else the longest middle steps. The
        masked step numbers are in `generator_params["masked_steps"]`.
        """
        steps = list(problem.reference_steps)
        if not steps:
            return None
        rng = self._rng(problem, "mask_completion", variant)
        candidates = key_step_indices(problem, steps)
        rng.shuffle(candidates)
        mask_count = rng.choice((1, 2)) if len(candidates) >= 2 and len(steps) >= 4 else 1
        new_steps = list(steps)
        masked_steps: list[int] = []
        for index in candidates:
            if len(masked_steps) == mask_count:
                break
            filled = _reword_step(steps[index], rng)
            if filled != steps[index]:
                new_steps[index] = filled
                masked_steps.append(index + 1)
        if not masked_steps:
            return None
        masked_steps.sort()
        return self._triplet(
            problem, GenerationMethod.MASK_COMPLETION, new_steps, variant,
            {
                "description": f"masked steps {masked_steps} and filled them with a rewording of the hidden text",
                "masked_steps": masked_steps,
            },
        )

    def inject_error(self, problem: Problem, error_type: ErrorType | str, variant: int = 0) -> Triplet | None:
        """Insert one error of `error_type` into the reference proof, or return None when it does not apply.

        Variant k uses the k-th applicable place in a seed-dependent order, so
        different variants edit different places. Raises InputError for an error
        type that the embedded generator cannot inject.
        """
        kind = _error_type(error_type)
        steps = list(problem.reference_steps)
        if not steps:
            return None
        candidates = INJECTORS[kind](problem, steps)
        order_rng = self._rng(problem, "error", kind.value, "order")
        edit_rng = self._rng(problem, "error", kind.value, variant)
        ordered: list[Candidate] = []
        for tier in sorted({candidate.tier for candidate in candidates}):
            group = [candidate for candidate in candidates if candidate.tier == tier]
            order_rng.shuffle(group)
            ordered.extend(group)

        successes = 0
        for candidate in ordered:
            edit = candidate.apply(edit_rng)
            if edit is None or not _changes_reference(edit, steps):
                continue
            if successes == variant:
                return self._triplet(
                    problem, GenerationMethod.ERROR_INJECTION, edit.steps, variant,
                    {"description": edit.description, **edit.params},
                    error_type=kind, error_steps=edit.error_steps, question=edit.question,
                )
            successes += 1
        return None

    def generate(self, problem: Problem, method: str, variant: int = 0) -> Triplet | None:
        """Run one correct-variant method by name ("rephrase", "augment", "mask_completion").

        Raises InputError for any other name, with the reason for "scratch".
        """
        _validate_methods({method: 1})
        handler = {"rephrase": self.rephrase, "augment": self.augment, "mask_completion": self.mask_completion}
        return handler[method](problem, variant)


def _reword_step(step: str, rng: random.Random) -> str:
    """Reword one step with rephrase rules and synonyms (the fill of a masked step)."""
    text, _ = rephrase_text(step, rng, probability=1.0, force=True)
    text, _ = augment_text(text, rng, probability=0.8)
    return text


def _changes_reference(edit: Edit, reference: Sequence[str]) -> bool:
    """Return whether an edit changes the proof at the steps it names.

    Every rewritten step must be a text that the reference does not contain, and
    every error step must differ from the reference step with the same number.
    """
    if edit.steps == list(reference):
        return False
    for number in edit.rewritten:
        if edit.steps[number - 1] in reference:
            return False
    for number in edit.error_steps:
        if not 1 <= number <= len(edit.steps):
            return False
        if number <= len(reference) and edit.steps[number - 1] == reference[number - 1]:
            return False
    return True


# ---------------------------------------------------------------------------
# Batch generation
# ---------------------------------------------------------------------------


def _error_type(value: ErrorType | str) -> ErrorType:
    allowed = ", ".join(kind.value for kind in INJECTED_ERROR_TYPES)
    try:
        kind = ErrorType(value)
    except ValueError:
        raise InputError(f"unknown error type {value!r}", field="error_types", hint=f"Allowed error types: {allowed}") from None
    if kind not in INJECTED_ERROR_TYPES:
        raise InputError(
            f"the embedded generator cannot inject error type {kind.value!r}",
            field="error_types",
            hint=f"Allowed error types: {allowed}",
        )
    return kind


def _validate_methods(methods: Mapping[str, int]) -> dict[str, int]:
    if not isinstance(methods, Mapping):
        raise InputError(
            f"methods must map method names to counts, got {type(methods).__name__}", field="methods"
        )
    allowed = ", ".join(CORRECT_METHODS)
    counts: dict[str, int] = {}
    for name, count in methods.items():
        key = name.value if isinstance(name, GenerationMethod) else str(name)
        if key in LANGUAGE_MODEL_METHODS:
            if count:
                raise InputError(
                    f"method {key!r} writes proofs from the question alone and needs a language model, "
                    "which the embedded generator does not have",
                    field="methods",
                    hint=f"Set its count to 0 or use a language-model backend; embedded methods: {allowed}",
                )
            continue
        if key not in CORRECT_METHODS:
            raise InputError(f"unknown generation method {key!r}", field="methods", hint=f"Allowed methods: {allowed}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InputError(f"count of method {key!r} must be an integer >= 0, got {count!r}", field="methods")
        counts[key] = count
    return counts


@dataclass
class GenerationStats:
    """Counts of one `generate_triplets` run."""

    problems: int = 0
    problems_without_reference: int = 0
    per_method: Counter[str] = field(default_factory=Counter)
    per_error_type: Counter[str] = field(default_factory=Counter)
    error_requests: int = 0
    inapplicable_requests: int = 0
    inapplicable_per_error_type: Counter[str] = field(default_factory=Counter)
    empty_error_slots: int = 0
    correct_requests: int = 0
    missing_correct_variants: int = 0

    @property
    def inapplicable_rate(self) -> float:
        return self.inapplicable_requests / self.error_requests if self.error_requests else 0.0

    def log(self) -> None:
        total = sum(self.per_method.values())
        logger.info("generated %d triplets for %d problems", total, self.problems)
        logger.info("triplets per method: %s", dict(sorted(self.per_method.items())))
        logger.info("incorrect triplets per error type: %s", dict(sorted(self.per_error_type.items())))
        logger.info(
            "%d of %d error-injection requests were not applicable (%.1f%%); %d error slots stayed empty",
            self.inapplicable_requests, self.error_requests, 100 * self.inapplicable_rate, self.empty_error_slots,
        )
        if self.missing_correct_variants:
            logger.info(
                "%d of %d requested correct variants could not be made distinct", self.missing_correct_variants,
                self.correct_requests,
            )
        if self.problems_without_reference:
            logger.warning("skipped %d problems without a reference proof", self.problems_without_reference)


def generate_triplets(
    problems: Iterable[Problem],
    *,
    methods: Mapping[str, int],
    error_types: Sequence[str | ErrorType],
    errors_per_problem: int,
    seed: int,
    progress: bool = False,
    stats: GenerationStats | None = None,
) -> list[Triplet]:
    """Generate the reference, correct variants and incorrect variants for each problem.

    Per problem: the reference proof, `methods[m]` correct variants of each method
    m, and `errors_per_problem` incorrect variants whose error types cycle over
    `error_types` from a problem-dependent offset. A type that does not apply to a
    proof is skipped for the next one, so a problem gets fewer incorrect variants
    only when no listed type applies any more. Problems without a reference proof
    are skipped. The output depends only on the arguments, never on the process
    (hash randomisation). Pass `stats` to receive the counts that are also logged.

    Raises InputError for an unknown method or error type (the message lists the
    allowed names), for "scratch" (it needs a language model), for a negative count
    and for a problem id that occurs twice.
    """
    counts = _validate_methods(methods)
    kinds = [_error_type(value) for value in error_types]
    if isinstance(errors_per_problem, bool) or not isinstance(errors_per_problem, int) or errors_per_problem < 0:
        raise InputError(f"errors_per_problem must be an integer >= 0, got {errors_per_problem!r}", field="errors_per_problem")
    if errors_per_problem and not kinds:
        raise InputError(
            "error_types is empty but errors_per_problem > 0",
            field="error_types",
            hint="Allowed error types: " + ", ".join(kind.value for kind in INJECTED_ERROR_TYPES),
        )

    generator = EmbeddedGenerator(seed)
    stats = stats if stats is not None else GenerationStats()
    triplets: list[Triplet] = []
    seen_problems: set[str] = set()
    for problem in tqdm(list(problems), desc="generating proofs", unit="problem", disable=not progress):
        if problem.problem_id in seen_problems:
            raise InputError(f"problem id {problem.problem_id!r} occurs twice", field="problem_id",
                             hint="Give every problem a unique id")
        seen_problems.add(problem.problem_id)
        stats.problems += 1
        if not problem.reference_steps:
            stats.problems_without_reference += 1
            continue
        produced = _generate_for_problem(generator, problem, counts, kinds, errors_per_problem, seed, stats)
        for triplet in produced:
            stats.per_method[triplet.method.value] += 1
            if triplet.error_type is not None:
                stats.per_error_type[triplet.error_type.value] += 1
        triplets.extend(produced)
    stats.log()
    return triplets


def _generate_for_problem(
    generator: EmbeddedGenerator,
    problem: Problem,
    counts: Mapping[str, int],
    kinds: Sequence[ErrorType],
    errors_per_problem: int,
    seed: int,
    stats: GenerationStats,
) -> list[Triplet]:
    """Return the reference, the correct variants and the incorrect variants of one problem."""
    reference = generator.reference(problem)
    assert reference is not None
    produced = [reference]
    seen = {tuple(reference.steps)}

    for method in CORRECT_METHODS:
        requested = counts.get(method, 0)
        stats.correct_requests += requested
        produced_count = 0
        # Variants that repeat an earlier proof are skipped; a few extra tries fill their place.
        for variant in range(3 * requested):
            if produced_count == requested:
                break
            triplet = generator.generate(problem, method, variant)
            if triplet is None or tuple(triplet.steps) in seen:
                continue
            seen.add(tuple(triplet.steps))
            produced.append(triplet)
            produced_count += 1
        stats.missing_correct_variants += requested - produced_count

    if not errors_per_problem or not kinds:
        return produced
    offset = int(stable_id(seed, problem.problem_id, "error-offset"), 16) % len(kinds)
    used: Counter[ErrorType] = Counter()
    exhausted: set[ErrorType] = set()
    cursor = offset
    for _ in range(errors_per_problem):
        filled = False
        for _ in range(len(kinds)):
            kind = kinds[cursor % len(kinds)]
            cursor += 1
            if kind in exhausted:
                continue
            stats.error_requests += 1
            triplet = generator.inject_error(problem, kind, used[kind])
            repeated = triplet is not None and tuple(triplet.steps) in seen and triplet.question == problem.question
            if triplet is None or repeated:
                stats.inapplicable_requests += 1
                stats.inapplicable_per_error_type[kind.value] += 1
                exhausted.add(kind)
                continue
            used[kind] += 1
            seen.add(tuple(triplet.steps))
            produced.append(triplet)
            filled = True
            break
        if not filled:
            stats.empty_error_slots += 1
    return produced
