"""Agreement statistics for the review queue: Cohen's kappa and throughput windows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Cohen's kappa of two raters over paired categorical labels.

    Returns `items` (the number of pairs), `observed` (share of pairs that
    agree), `expected` (agreement expected by chance from each rater's
    marginal distribution) and `kappa` = (observed - expected) / (1 - expected).
    `kappa` is None without pairs, and when both raters used one and the same
    category throughout (expected = 1), where it is undefined; `observed` still
    says how often they agreed.
    """
    n = len(pairs)
    if n == 0:
        return {"items": 0, "observed": None, "expected": None, "kappa": None}
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    observed = sum(1 for a, b in pairs if a == b) / n
    expected = sum(first[c] * second[c] for c in first.keys() | second.keys()) / (n * n)
    kappa = None if expected >= 1.0 else (observed - expected) / (1.0 - expected)
    return {"items": n, "observed": observed, "expected": expected, "kappa": kappa}


def double_review_pairs(rows: Iterable[tuple[str, str, str]]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Pair the first two level-1 labels of each double-reviewed item.

    `rows` are (triplet_id, reviewer_id, verdict) in label order. Returns
    ((reviewer_a, verdict_a), (reviewer_b, verdict_b)) per item with two labels or more.
    """
    by_item: dict[str, list[tuple[str, str]]] = {}
    for triplet_id, reviewer_id, verdict in rows:
        by_item.setdefault(triplet_id, []).append((reviewer_id, verdict))
    return [(labels[0], labels[1]) for labels in by_item.values() if len(labels) >= 2]


def per_reviewer_kappa(
    pairs: Sequence[tuple[tuple[str, str], tuple[str, str]]],
) -> dict[str, dict[str, Any]]:
    """Kappa of each reviewer against whoever else labelled the same double-reviewed items."""
    own: dict[str, list[tuple[str, str]]] = {}
    for (reviewer_a, verdict_a), (reviewer_b, verdict_b) in pairs:
        own.setdefault(reviewer_a, []).append((verdict_a, verdict_b))
        own.setdefault(reviewer_b, []).append((verdict_b, verdict_a))
    return {reviewer: cohen_kappa(items) for reviewer, items in own.items()}
