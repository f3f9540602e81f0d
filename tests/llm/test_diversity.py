"""Diversity report: MinHash against exact Jaccard, the duplicate rule, counts and the plot."""

from __future__ import annotations

import random

import pytest

from components.proofs.diversity import MinHasher, diversity_report, near_duplicates, plot_report, shingles
from components.proofs.schema import ErrorType, GenerationMethod, Triplet


def triplet(tid: str, steps: list[str], *, problem: str = "p1", method=GenerationMethod.REPHRASE, error=None,
            error_steps=(), model="m1", difficulty=None) -> Triplet:
    return Triplet(triplet_id=tid, problem_id=problem, question="Prove that n^2 + n is even.", steps=steps,
                   source="bank", method=method, generator="openai:" + model, generator_params={"model": model},
                   error_type=error, error_steps=list(error_steps), label="incorrect" if error else "correct",
                   difficulty=difficulty)


def exact_jaccard(first: set[str], second: set[str]) -> float:
    return len(first & second) / len(first | second)


def test_minhash_estimates_jaccard():
    rng = random.Random(0)
    words = [f"w{i}" for i in range(300)]
    hasher = MinHasher(bands=32, rows=8, seed=1)  # m = 256: standard error sqrt(J(1-J)/m) <= 0.032
    for overlap in (0.2, 0.5, 0.8, 0.95):
        base = rng.sample(words, 100)
        changed = int(round(len(base) * (1 - overlap)))
        other = base[changed:] + rng.sample([w for w in words if w not in base], changed)
        first, second = set(base), set(other)
        estimate = hasher.similarity(hasher.signature(first), hasher.signature(second))
        assert estimate == pytest.approx(exact_jaccard(first, second), abs=0.1)


def test_shingles_are_word_trigrams():
    assert shingles("A b, c") == {"a b ,", "b , c"}
    assert shingles("one two") == {"one two"}


def test_duplicates_dropped_within_kind_only():
    proof = [f"Step {i}: since n(n+1) is a product of consecutive integers, claim {i} follows." for i in range(8)]
    almost = proof[:-1] + [proof[-1].replace("follows", "follows at once")]
    wrong = proof[:3] + ["Step 3: since n(n+1) is odd, claim 3 follows."] + proof[4:]
    triplets = [
        triplet("a", proof),
        triplet("b", proof, problem="p2"),  # the same proof under another problem would leak between splits
        triplet("c", almost),
        triplet("d", proof, method=GenerationMethod.AUGMENT),
        triplet("e", wrong, method=GenerationMethod.ERROR_INJECTION, error=ErrorType.SIGN_ERROR, error_steps=[4]),
        triplet("f", ["A different argument by induction on n.", "The base case n = 1 holds."]),
    ]
    dropped = near_duplicates(triplets, threshold=0.8)
    assert dropped == {1: 0, 2: 0}
    kept, report = diversity_report(triplets, threshold=0.8)
    assert [t.triplet_id for t in kept] == ["a", "d", "e", "f"]
    assert report.duplicate_rate == pytest.approx(2 / 6)
    assert report.counts["method"] == {"rephrase": 2, "augment": 1, "error_injection": 1}
    assert report.counts["error_type"] == {"none": 3, "sign_error": 1}
    assert report.counts["model"] == {"m1": 4}
    assert report.counts["difficulty"] == {"unknown": 4}
    assert report.steps == [8, 8, 8, 2]
    rows = report.rows()
    assert {"dimension": "label", "value": "correct", "count": 3, "share": 0.75} in rows
    assert report.metrics()["steps_median"] == 8.0


def test_plot_has_four_panels():
    kept, report = diversity_report([triplet("a", ["x y z w"]), triplet("b", ["p q r s t"], model="m2")])
    figure = plot_report(report)
    assert len(figure.axes) == 4
    assert "model" in figure.axes[1].get_title()
