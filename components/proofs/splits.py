"""Train, validation and test splits by problem, so no problem is in two splits."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence

from components.errors import InputError
from components.proofs.schema import Triplet

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "val", "test")
# A source gets a test split only with at least this many problems (one for
# test, one for validation, one for training).
MIN_PROBLEMS_FOR_TEST = 3


def has_test_split(triplets: Sequence[Triplet]) -> bool:
    """Return whether split_by_problem() can give these triplets a test split: some source has enough problems."""
    by_source: dict[str, set[str]] = defaultdict(set)
    for triplet in triplets:
        by_source[triplet.source].add(triplet.problem_id)
    return any(len(problems) >= MIN_PROBLEMS_FOR_TEST for problems in by_source.values())


def assign_problems(
    triplets: Sequence[Triplet], *, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, str]:
    """Return the split ("train", "val" or "test") of each problem of the triplets.

    Problems are shuffled under `seed` within each source, then cut by the
    fractions, so every source is represented in each split when it has
    enough problems. The result is independent of the input order.
    """
    if not 0.0 <= val_fraction < 1.0 or not 0.0 < test_fraction < 1.0 or val_fraction + test_fraction >= 1.0:
        raise InputError(
            f"val_fraction {val_fraction} and test_fraction {test_fraction} must be in [0, 1) and sum below 1",
            field="splits",
        )
    by_source: dict[str, set[str]] = defaultdict(set)
    for triplet in triplets:
        by_source[triplet.source].add(triplet.problem_id)

    assignment: dict[str, str] = {}
    for source in sorted(by_source):
        problems = sorted(by_source[source])
        random.Random(f"{seed}:{source}").shuffle(problems)
        n_test = max(1, round(test_fraction * len(problems))) if len(problems) >= MIN_PROBLEMS_FOR_TEST else 0
        n_val = round(val_fraction * len(problems)) if len(problems) - n_test >= 2 else 0
        for index, problem in enumerate(problems):
            assignment[problem] = "test" if index < n_test else "val" if index < n_test + n_val else "train"
    return assignment


def untrainable_reason(
    labelled: Sequence[tuple[Triplet, str]], *, val_fraction: float, test_fraction: float, seed: int
) -> str | None:
    """Return why these triplets, with these labels, could not be split and trained on; None when they can.

    The same rules as split_by_problem() and training: a test split needs
    enough problems of one source, and the training split needs both labels.
    """
    triplets = [triplet for triplet, _ in labelled]
    if not has_test_split(triplets):
        return f"they span fewer than {MIN_PROBLEMS_FOR_TEST} problems of any one source, too few for a test split"
    assignment = assign_problems(triplets, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    train_labels = {label for triplet, label in labelled if assignment[triplet.problem_id] == "train"}
    if len(train_labels) < 2:
        return "their training split would hold only one label, and training needs correct and incorrect proofs"
    return None


def split_by_problem(
    triplets: Sequence[Triplet], *, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[Triplet]]:
    """Assign whole problems to train, val and test (see assign_problems)."""
    assignment = assign_problems(triplets, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)

    splits: dict[str, list[Triplet]] = {name: [] for name in SPLIT_NAMES}
    for triplet in sorted(triplets, key=lambda t: t.triplet_id):
        splits[assignment[triplet.problem_id]].append(triplet)

    if not splits["test"]:
        raise InputError(
            f"too few problems ({len(assignment)}) for a test split; add problems or sources",
            field="sources",
        )
    for name in SPLIT_NAMES:
        problems = {t.problem_id for t in splits[name]}
        logger.info("split %s: %d triplets from %d problems", name, len(splits[name]), len(problems))
    return splits
