"""Tests of the embedded proof generator on small hand-written problems."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from components.errors import InputError
from components.proofs.generate import (
    CORRECT_METHODS,
    GENERATOR_NAME,
    INJECTED_ERROR_TYPES,
    EmbeddedGenerator,
    GenerationStats,
    generate_triplets,
)
from components.proofs.injection import quantified_variable
from components.proofs.mathtext import REVERSED_SYMBOL, delimited_math, find_math
from components.proofs.schema import ErrorType, GenerationMethod, Problem, stable_id

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _problem(problem_id: str, question: str, steps: list[str], **metadata) -> Problem:
    return Problem(
        problem_id=problem_id,
        question=question,
        reference_steps=steps,
        source="test",
        topic="test",
        difficulty="easy",
        metadata=metadata,
    )


PARITY = _problem(
    "parity",
    r"Prove that for every integer $n$, the number $n^2 + n$ is even.",
    [
        r"Let $n$ be an integer. We consider two cases according to the parity of $n$.",
        r"Case 1: $n$ is even. Then $n = 2k$ for some integer $k$, so $n^2 + n = 4k^2 + 2k = 2(2k^2 + k)$, which is even.",
        r"Case 2: $n$ is odd. Then $n = 2k + 1$ for some integer $k$, so $n^2 + n = 4k^2 + 6k + 2 = 2(2k^2 + 3k + 1)$, which is even.",
        r"In both cases $n^2 + n$ is even, which completes the proof.",
    ],
)
AM_GM = _problem(
    "am-gm",
    r"Let $x > 0$ be a real number. Prove that $x + \frac{1}{x} \ge 2$.",
    [
        r"Since $x > 0$, both $x$ and $\frac{1}{x}$ are positive.",
        r"By the AM-GM inequality, $x + \frac{1}{x} \ge 2\sqrt{x \cdot \frac{1}{x}}$.",
        r"We have $2\sqrt{x \cdot \frac{1}{x}} = 2\sqrt{1} = 2$.",
        r"Therefore $x + \frac{1}{x} \ge 2$, as required.",
    ],
    key_steps=[2],
    conditions=["$x > 0$"],
)
FERMAT = _problem(
    "fermat",
    r"Prove that $7$ divides $3^{6} - 1$.",
    [
        r"Since $7$ is prime and $3$ is not divisible by $7$, Fermat's little theorem gives $3^{6} \equiv 1 \pmod{7}$.",
        r"Indeed, we compute $3^{6} = 729$ and $729 - 1 = 728 = 7 \cdot 104$.",
        r"Hence $7$ divides $3^{6} - 1$.",
    ],
)
GAUSS = _problem(
    "gauss",
    r"Prove that for every positive integer $n$, $1 + 2 + \dots + n = \frac{n(n + 1)}{2}$.",
    [
        r"Let $S = 1 + 2 + \dots + n$ and write the sum in reverse order as $S = n + (n - 1) + \dots + 1$.",
        r"Adding the two expressions term by term gives $2S = (n + 1) + (n + 1) + \dots + (n + 1)$, with $n$ terms.",
        r"Therefore $2S = n(n + 1)$, so $S = \frac{n(n + 1)}{2}$.",
    ],
)
PYTHAGORAS = _problem(
    "pythagoras",
    r"A right triangle has legs of lengths $3$ and $4$. Prove that its hypotenuse has length $5$.",
    [
        r"Let $c$ be the length of the hypotenuse.",
        r"By the Pythagorean theorem, $c^2 = 3^2 + 4^2 = 9 + 16 = 25$.",
        r"Since $c > 0$, we get $c = 5$.",
    ],
)
CAUCHY = _problem(
    "cauchy",
    r"Let $a$, $b$, $c$ be real numbers with $a + b + c = 3$. Prove that $a^2 + b^2 + c^2 \ge 3$.",
    [
        r"By the Cauchy-Schwarz inequality, $(a + b + c)^2 \le 3(a^2 + b^2 + c^2)$.",
        r"Since $a + b + c = 3$, the left side equals $9$.",
        r"Hence $9 \le 3(a^2 + b^2 + c^2)$, so $a^2 + b^2 + c^2 \ge 3$.",
    ],
    key_steps=[1],
    conditions=["$a + b + c = 3$"],
)
ODD_SQUARE = _problem(
    "odd-square",
    r"Let $n$ be an odd integer. Prove that $n^2 - 1$ is divisible by $8$.",
    [
        r"Since $n$ is odd, we can write $n = 2k + 1$ for some integer $k$.",
        r"Then $n^2 - 1 = 4k^2 + 4k = 4k(k + 1)$.",
        r"If $k$ is even, then $k(k + 1)$ is even because $k$ is even.",
        r"If $k$ is odd, then $k + 1$ is even, so $k(k + 1)$ is again even.",
        r"In both cases $4k(k + 1)$ is divisible by $8$, so $8$ divides $n^2 - 1$.",
    ],
    case_steps=[3, 4],
)
# Plain text without LaTeX and without metadata, as imported data sets provide.
PLAIN = _problem(
    "plain",
    "Prove that for every integer n, the number n^3 - n is divisible by 6.",
    [
        "Factor the expression: n^3 - n = n(n^2 - 1) = (n - 1)n(n + 1).",
        "The three consecutive integers n - 1, n and n + 1 contain an even number, so 2 divides (n - 1)n(n + 1).",
        "They also contain a multiple of 3, so 3 divides (n - 1)n(n + 1).",
        "Since 2 and 3 are coprime and 2 * 3 = 6, the product is divisible by 6.",
    ],
)

PROBLEMS = [PARITY, AM_GM, FERMAT, GAUSS, PYTHAGORAS, CAUCHY, ODD_SQUARE, PLAIN]
ALL_ERROR_TYPES = [kind.value for kind in INJECTED_ERROR_TYPES]
BRIEF_METHODS = {"rephrase": 2, "augment": 2, "mask_completion": 1}


def _dump(triplets) -> list[dict]:
    return [triplet.model_dump(mode="json") for triplet in triplets]


# ---------------------------------------------------------------------------
# Determinism


def test_generate_triplets_is_deterministic():
    first = generate_triplets(PROBLEMS, methods=BRIEF_METHODS, error_types=ALL_ERROR_TYPES, errors_per_problem=4, seed=7)
    second = generate_triplets(PROBLEMS, methods=BRIEF_METHODS, error_types=ALL_ERROR_TYPES, errors_per_problem=4, seed=7)
    assert _dump(first) == _dump(second)


def test_generate_triplets_depends_on_seed():
    first = generate_triplets(PROBLEMS, methods=BRIEF_METHODS, error_types=ALL_ERROR_TYPES, errors_per_problem=4, seed=1)
    second = generate_triplets(PROBLEMS, methods=BRIEF_METHODS, error_types=ALL_ERROR_TYPES, errors_per_problem=4, seed=2)
    first_proofs = {(triplet.method, tuple(triplet.steps)) for triplet in first}
    second_proofs = {(triplet.method, tuple(triplet.steps)) for triplet in second}
    assert first_proofs != second_proofs
    assert {triplet.generator_params["seed"] for triplet in first} == {1}


_SUBPROCESS_SCRIPT = """
import hashlib, json, sys
sys.path.insert(0, {root!r})
from tests.unit.test_generate import PROBLEMS, ALL_ERROR_TYPES, BRIEF_METHODS
from components.proofs.generate import generate_triplets
from components.proofs.precheck import precheck_all
triplets = generate_triplets(PROBLEMS, methods=BRIEF_METHODS, error_types=ALL_ERROR_TYPES, errors_per_problem=4, seed=3)
checked = precheck_all(triplets, {{p.problem_id: p for p in PROBLEMS}})
text = json.dumps([t.model_dump(mode="json") for t in checked], sort_keys=True)
print(hashlib.sha256(text.encode()).hexdigest())
"""


def test_generation_and_precheck_ignore_hash_randomisation():
    digests = []
    for hash_seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", _SUBPROCESS_SCRIPT.format(root=str(PROJECT_ROOT))],
            capture_output=True, text=True, env=environment, cwd=PROJECT_ROOT, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        digests.append(result.stdout.strip().splitlines()[-1])
    assert digests[0] == digests[1]


# ---------------------------------------------------------------------------
# Reference and correct variants


def test_reference_triplet_fields():
    triplet = EmbeddedGenerator(seed=5).reference(AM_GM)
    assert triplet is not None
    assert triplet.steps == AM_GM.reference_steps
    assert triplet.label == "correct"
    assert triplet.method is GenerationMethod.REFERENCE
    assert triplet.generator == GENERATOR_NAME
    assert triplet.triplet_id == stable_id("am-gm", "reference", None, 0)
    assert triplet.error_type is None
    assert triplet.error_steps == []


def test_reference_of_problem_without_proof_is_none():
    bare = Problem(problem_id="bare", question="Prove that $1 < 2$.", source="test")
    generator = EmbeddedGenerator(seed=0)
    assert generator.reference(bare) is None
    assert generator.rephrase(bare) is None
    assert generator.inject_error(bare, "sign_error") is None


@pytest.mark.parametrize("method", CORRECT_METHODS)
@pytest.mark.parametrize("problem", [problem for problem in PROBLEMS if problem is not PLAIN], ids=lambda p: p.problem_id)
def test_correct_variants_keep_every_math_span(method, problem):
    generator = EmbeddedGenerator(seed=11)
    produced = 0
    for variant in range(3):
        triplet = generator.generate(problem, method, variant)
        if triplet is None:
            continue
        produced += 1
        assert triplet.label == "correct"
        assert triplet.method.value == method
        assert triplet.steps != problem.reference_steps
        assert len(triplet.steps) == len(problem.reference_steps)
        assert Counter(delimited_math(triplet.proof)) == Counter(delimited_math("\n".join(problem.reference_steps)))
    assert produced >= 1


@pytest.mark.parametrize("method", CORRECT_METHODS)
def test_correct_variants_of_plain_text_keep_formulas(method):
    triplet = EmbeddedGenerator(seed=11).generate(PLAIN, method, 0)
    assert triplet is not None
    assert triplet.steps != PLAIN.reference_steps
    for step in PLAIN.reference_steps:
        for span in find_math(step):
            assert span.content in triplet.proof


def test_rephrase_restructures_sentences():
    rephrased = [EmbeddedGenerator(seed=seed).rephrase(AM_GM) for seed in range(6)]
    texts = {triplet.proof for triplet in rephrased if triplet is not None}
    # "Since $x > 0$, both ... positive." can move its reason to the back.
    assert any("are positive, since $x > 0$" in text for text in texts)
    assert len(texts) >= 2


def test_augment_uses_synonyms_only_outside_math():
    triplet = EmbeddedGenerator(seed=3).augment(FERMAT)
    assert triplet is not None
    assert triplet.generator_params["replacements"] >= 1
    assert Counter(delimited_math(triplet.proof)) == Counter(delimited_math("\n".join(FERMAT.reference_steps)))


def test_mask_completion_records_masked_steps():
    triplet = EmbeddedGenerator(seed=2).mask_completion(ODD_SQUARE)
    assert triplet is not None
    masked = triplet.generator_params["masked_steps"]
    assert 1 <= len(masked) <= 2
    for number in range(1, len(ODD_SQUARE.reference_steps) + 1):
        if number in masked:
            assert triplet.steps[number - 1] != ODD_SQUARE.reference_steps[number - 1]
        else:
            assert triplet.steps[number - 1] == ODD_SQUARE.reference_steps[number - 1]


def test_mask_completion_prefers_key_steps():
    triplet = EmbeddedGenerator(seed=0).mask_completion(CAUCHY)
    assert triplet is not None
    assert triplet.generator_params["masked_steps"] == [1]


# ---------------------------------------------------------------------------
# Error injection


def _first_injection(error_type: str):
    generator = EmbeddedGenerator(seed=4)
    for problem in PROBLEMS:
        triplet = generator.inject_error(problem, error_type, 0)
        if triplet is not None:
            return problem, triplet
    return None, None


@pytest.mark.parametrize("error_type", ALL_ERROR_TYPES)
def test_each_error_type_makes_an_incorrect_triplet(error_type):
    problem, triplet = _first_injection(error_type)
    assert triplet is not None, f"{error_type} applies to none of the test problems"
    reference = problem.reference_steps
    assert triplet.label == "incorrect"
    assert triplet.error_type == ErrorType(error_type)
    assert triplet.method is GenerationMethod.ERROR_INJECTION
    assert triplet.error_steps
    params = triplet.generator_params
    assert params["variant"] == 0
    assert params["seed"] == 4
    assert params["description"]
    assert triplet.triplet_id == stable_id(problem.problem_id, "error_injection", error_type, 0)
    for number in triplet.error_steps:
        assert 1 <= number <= len(triplet.steps)
        if number <= len(reference):
            assert triplet.steps[number - 1] != reference[number - 1]


@pytest.mark.parametrize("error_type", ALL_ERROR_TYPES)
def test_error_variants_differ(error_type):
    generator = EmbeddedGenerator(seed=4)
    for problem in PROBLEMS:
        first = generator.inject_error(problem, error_type, 0)
        second = generator.inject_error(problem, error_type, 1)
        if first is not None and second is not None:
            assert first.steps != second.steps or first.question != second.question
            assert first.triplet_id != second.triplet_id


def test_computational_slip_makes_the_computation_false():
    triplet = EmbeddedGenerator(seed=0).inject_error(PYTHAGORAS, "computational_slip")
    assert triplet is not None
    assert triplet.error_steps == [2]
    assert "25" not in triplet.steps[1] or "16" not in triplet.steps[1] or "9 " not in triplet.steps[1]
    assert triplet.steps[1] != PYTHAGORAS.reference_steps[1]


def test_sign_error_flips_one_operator():
    triplet = EmbeddedGenerator(seed=0).inject_error(PARITY, "sign_error")
    assert triplet is not None
    (number,) = triplet.error_steps
    before, after = PARITY.reference_steps[number - 1], triplet.steps[number - 1]
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert len(changed) == 1
    assert set(changed[0]) == {"+", "-"}


def test_reversed_inequality_reverses_a_sign():
    triplet = EmbeddedGenerator(seed=0).inject_error(CAUCHY, "reversed_inequality")
    assert triplet is not None
    (number,) = triplet.error_steps
    tokens = re.findall(r"\\[A-Za-z]+|.", triplet.steps[number - 1])
    reference = re.findall(r"\\[A-Za-z]+|.", CAUCHY.reference_steps[number - 1])
    assert len(tokens) == len(reference)
    changed = [(old, new) for old, new in zip(reference, tokens) if old != new]
    assert len(changed) == 1
    assert REVERSED_SYMBOL[changed[0][0]] == changed[0][1]


def test_unjustified_claim_is_a_bare_assertion():
    triplet = EmbeddedGenerator(seed=0).inject_error(AM_GM, "unjustified_claim")
    assert triplet is not None
    step = triplet.steps[triplet.error_steps[0] - 1]
    assert step.startswith(("Clearly", "It is obvious that", "Obviously"))


def test_skipped_case_drops_a_case_step():
    triplet = EmbeddedGenerator(seed=0).inject_error(PARITY, "skipped_case")
    assert triplet is not None
    assert len(triplet.steps) == len(PARITY.reference_steps) - 1
    remaining_cases = [step for step in triplet.steps if step.startswith("Case")]
    assert len(remaining_cases) == 1
    assert triplet.generator_params["dropped_step"] in (2, 3)


def test_skipped_case_uses_if_even_odd_cues():
    cues = _problem("cues", ODD_SQUARE.question, ODD_SQUARE.reference_steps)  # no case_steps metadata
    triplet = EmbeddedGenerator(seed=0).inject_error(cues, "skipped_case")
    assert triplet is not None
    assert len(triplet.steps) == len(cues.reference_steps) - 1
    assert triplet.generator_params["dropped_step"] in (3, 4)


def test_circular_reasoning_assumes_the_claim():
    triplet = EmbeddedGenerator(seed=0).inject_error(PARITY, "circular_reasoning")
    assert triplet is not None
    step = triplet.steps[triplet.error_steps[0] - 1]
    assert "the number $n^2 + n$ is even" in step
    assert triplet.error_steps[0] < len(triplet.steps)


def test_misapplied_theorem_swaps_the_name_or_direction():
    triplet = EmbeddedGenerator(seed=0).inject_error(PYTHAGORAS, "misapplied_theorem")
    assert triplet is not None
    assert "Pythagorean theorem" not in triplet.steps[1]
    assert triplet.steps[1].endswith("$c^2 = 3^2 + 4^2 = 9 + 16 = 25$.")
    variants = [EmbeddedGenerator(seed=0).inject_error(AM_GM, "misapplied_theorem", v) for v in range(2)]
    descriptions = {triplet.generator_params["description"] for triplet in variants if triplet is not None}
    assert any("wrong direction" in text for text in descriptions)
    assert any("replaced 'the AM-GM inequality'" in text for text in descriptions)


def test_generalization_checks_small_cases():
    triplet = EmbeddedGenerator(seed=0).inject_error(GAUSS, "generalization_from_examples")
    assert triplet is not None
    assert "$n = 1$" in triplet.proof
    assert "$n = 2$" in triplet.proof
    assert "for all $n$" in triplet.steps[-1]
    assert triplet.error_steps == [len(triplet.steps)]


def test_generalization_respects_parity_and_bounds():
    assert quantified_variable(ODD_SQUARE.question).values(3) == [1, 3, 5]
    variable = quantified_variable(r"Prove that $2^n > n^2$ for every integer $n \ge 5$.")
    assert (variable.name, variable.values(2)) == ("n", [5, 6])
    assert quantified_variable(PYTHAGORAS.question) is None


def test_dropped_condition_removes_use_and_relaxes_question():
    triplet = EmbeddedGenerator(seed=0).inject_error(AM_GM, "dropped_condition")
    assert triplet is not None
    assert triplet.error_steps == [1]
    assert "$x > 0$" not in triplet.steps[0]
    assert triplet.steps[0].startswith("Both $x$")
    assert "$x \\ne 0$" in triplet.question
    assert triplet.generator_params["relaxed_condition"] == "$x \\ne 0$"


def test_error_injection_on_plain_text():
    generator = EmbeddedGenerator(seed=0)
    for error_type in ("computational_slip", "sign_error", "unjustified_claim", "circular_reasoning"):
        triplet = generator.inject_error(PLAIN, error_type)
        assert triplet is not None, error_type
        assert triplet.steps != PLAIN.reference_steps


def test_inapplicable_error_returns_none():
    generator = EmbeddedGenerator(seed=0)
    assert generator.inject_error(PYTHAGORAS, "skipped_case") is None
    assert generator.inject_error(FERMAT, "reversed_inequality") is None


# ---------------------------------------------------------------------------
# Batch generation and input errors


def test_generate_triplets_counts():
    stats = GenerationStats()
    triplets = generate_triplets(
        PROBLEMS, methods=BRIEF_METHODS, error_types=ALL_ERROR_TYPES, errors_per_problem=3, seed=0, stats=stats
    )
    per_problem = Counter(triplet.problem_id for triplet in triplets)
    references = [triplet for triplet in triplets if triplet.method is GenerationMethod.REFERENCE]
    assert len(references) == len(PROBLEMS)
    incorrect = Counter(triplet.problem_id for triplet in triplets if triplet.label == "incorrect")
    assert all(incorrect[problem.problem_id] == 3 for problem in PROBLEMS)
    assert all(per_problem[problem.problem_id] <= 1 + 5 + 3 for problem in PROBLEMS)
    assert len({triplet.triplet_id for triplet in triplets}) == len(triplets)
    assert stats.per_method["error_injection"] == 3 * len(PROBLEMS)
    assert sum(stats.per_error_type.values()) == 3 * len(PROBLEMS)
    # The problem-dependent offset spreads the error types over the problems.
    assert len(stats.per_error_type) >= 6


def test_generate_triplets_skips_inapplicable_types():
    stats = GenerationStats()
    triplets = generate_triplets(
        [PYTHAGORAS], methods={}, error_types=["skipped_case", "computational_slip"], errors_per_problem=1,
        seed=0, stats=stats,
    )
    incorrect = [triplet for triplet in triplets if triplet.label == "incorrect"]
    assert [triplet.error_type for triplet in incorrect] == [ErrorType.COMPUTATIONAL_SLIP]
    assert stats.inapplicable_per_error_type["skipped_case"] <= 1


def test_generate_triplets_logs_counts(caplog):
    with caplog.at_level("INFO", logger="components.proofs.generate"):
        generate_triplets([PARITY], methods={"rephrase": 1}, error_types=ALL_ERROR_TYPES, errors_per_problem=2, seed=0)
    text = caplog.text
    assert "triplets per method" in text
    assert "incorrect triplets per error type" in text
    assert "not applicable" in text


def test_unknown_method_is_rejected():
    with pytest.raises(InputError, match=r"unknown generation method 'magic'.*rephrase, augment, mask_completion"):
        generate_triplets(PROBLEMS, methods={"magic": 1}, error_types=[], errors_per_problem=0, seed=0)


def test_scratch_method_needs_a_language_model():
    with pytest.raises(InputError, match=r"'scratch'.*needs a language model"):
        generate_triplets(PROBLEMS, methods={"scratch": 1}, error_types=[], errors_per_problem=0, seed=0)
    with pytest.raises(InputError, match=r"'scratch'.*needs a language model"):
        EmbeddedGenerator(seed=0).generate(AM_GM, "scratch")


def test_unknown_error_type_is_rejected():
    with pytest.raises(InputError, match=r"unknown error type 'typo'.*computational_slip.*reversed_inequality"):
        generate_triplets(PROBLEMS, methods={}, error_types=["typo"], errors_per_problem=1, seed=0)


def test_error_type_outside_the_embedded_set_is_rejected():
    with pytest.raises(InputError, match=r"cannot inject error type 'counterfactual'.*Allowed error types"):
        EmbeddedGenerator(seed=0).inject_error(AM_GM, "counterfactual")


def test_negative_counts_are_rejected():
    with pytest.raises(InputError, match=r"count of method 'rephrase' must be an integer >= 0"):
        generate_triplets(PROBLEMS, methods={"rephrase": -1}, error_types=[], errors_per_problem=0, seed=0)
    with pytest.raises(InputError, match=r"errors_per_problem must be an integer >= 0"):
        generate_triplets(PROBLEMS, methods={}, error_types=ALL_ERROR_TYPES, errors_per_problem=-2, seed=0)


def test_duplicate_problem_ids_are_rejected():
    with pytest.raises(InputError, match=r"problem id 'parity' occurs twice"):
        generate_triplets([PARITY, PARITY], methods={}, error_types=[], errors_per_problem=0, seed=0)


def test_progress_bar_runs(capsys):
    triplets = generate_triplets([FERMAT], methods={"augment": 1}, error_types=[], errors_per_problem=0, seed=0, progress=True)
    assert len(triplets) == 2
    assert "generating proofs" in capsys.readouterr().err


def test_triplets_serialise_to_json():
    triplets = generate_triplets(PROBLEMS, methods=BRIEF_METHODS, error_types=ALL_ERROR_TYPES, errors_per_problem=2, seed=0)
    for triplet in triplets:
        json.dumps(triplet.model_dump(mode="json"))
