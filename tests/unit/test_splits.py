"""Splits by problem, and the check of whether a set of triplets can have a test split."""

from __future__ import annotations

import pytest

from components.errors import InputError
from components.proofs.splits import has_test_split, split_by_problem, untrainable_reason
from tests.unit.test_review_store import make_triplet


def triplets_over(problems_by_source: dict[str, int]) -> list:
    triplets = []
    for source, count in problems_by_source.items():
        for index in range(count):
            triplet = make_triplet(f"{source}-{index}")
            triplets.append(triplet.model_copy(update={"source": source, "problem_id": f"{source}-p{index}"}))
    return triplets


@pytest.mark.parametrize(
    ("problems_by_source", "expected"),
    [({"bank": 3}, True), ({"bank": 2}, False), ({"bank": 2, "imo": 2}, False), ({"bank": 1, "imo": 5}, True)],
)
def test_has_test_split_matches_splitting(problems_by_source: dict[str, int], expected: bool):
    triplets = triplets_over(problems_by_source)
    assert has_test_split(triplets) is expected
    if expected:
        assert split_by_problem(triplets, val_fraction=0.15, test_fraction=0.2, seed=0)["test"]
    else:
        with pytest.raises(InputError, match="too few problems"):
            split_by_problem(triplets, val_fraction=0.15, test_fraction=0.2, seed=0)


def test_untrainable_reason_needs_both_labels_in_train():
    triplets = triplets_over({"bank": 10})
    assert "fewer than 3 problems" in untrainable_reason(
        [(t, "correct") for t in triplets[:2]], val_fraction=0.15, test_fraction=0.2, seed=0)
    assert "only one label" in untrainable_reason(
        [(t, "correct") for t in triplets], val_fraction=0.15, test_fraction=0.2, seed=0)
    mixed = [(t, "correct" if index % 2 else "incorrect") for index, t in enumerate(triplets)]
    assert untrainable_reason(mixed, val_fraction=0.15, test_fraction=0.2, seed=0) is None
