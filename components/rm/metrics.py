"""Reward-model evaluation: classification metrics, breakdowns and best-of-n selection.

Scores are P(proof correct). The "incorrect" class is the positive class for
F1 and AUROC, because finding wrong proofs is the checker's job: AUROC is
computed on 1 - score against the indicator of an incorrect proof.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score


def classification_metrics(labels: Sequence[int], scores: Sequence[float], *, threshold: float = 0.5) -> dict[str, float]:
    """Return accuracy, balanced accuracy, AUROC and F1 of the incorrect class.

    labels: 1 = correct proof; scores: P(correct); a proof is predicted
    correct when its score is >= threshold. AUROC is NaN when only one class
    is present.
    """
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values")
    predicted = (s >= threshold).astype(int)
    incorrect = 1 - y
    metrics = {
        "n": float(len(y)),
        "accuracy": float(accuracy_score(y, predicted)) if len(y) else math.nan,
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)) if len(set(y)) > 1 else math.nan,
        "f1_incorrect": float(f1_score(incorrect, 1 - predicted, zero_division=0.0)) if len(y) else math.nan,
        "auroc": float(roc_auc_score(incorrect, 1.0 - s)) if len(set(y)) > 1 else math.nan,
        "positive_rate": float(incorrect.mean()) if len(y) else math.nan,
    }
    return metrics


def best_threshold(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Return the score threshold that maximises balanced accuracy (0.5 if one class only)."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    if len(set(y.tolist())) < 2:
        return 0.5
    candidates = np.unique(np.concatenate([s, [0.5]]))
    best, best_value = 0.5, -1.0
    for threshold in candidates:
        value = balanced_accuracy_score(y, (s >= threshold).astype(int))
        # Prefer the threshold nearest 0.5 among ties, for stability.
        if value > best_value + 1e-12 or (abs(value - best_value) <= 1e-12 and abs(threshold - 0.5) < abs(best - 0.5)):
            best, best_value = float(threshold), value
    return best


def breakdown(
    keys: Sequence[Hashable], labels: Sequence[int], scores: Sequence[float], *, threshold: float = 0.5
) -> list[dict[str, object]]:
    """Return one metrics row per distinct key (for example source, method or error type)."""
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        groups[key].append(index)
    rows = []
    for key in sorted(groups, key=str):
        index = groups[key]
        y = [labels[i] for i in index]
        s = [scores[i] for i in index]
        row: dict[str, object] = {"group": str(key)}
        row.update(classification_metrics(y, s, threshold=threshold))
        row["mean_score"] = float(np.mean(s))
        rows.append(row)
    return rows


def best_of_n(
    problem_ids: Sequence[Hashable], labels: Sequence[int], scores: Sequence[float], *, seed: int = 0
) -> dict[str, float]:
    """Compare picking the top-scored proof per problem with random choice and the oracle.

    Only problems with at least two proofs count. Returns the fraction of
    problems whose picked proof is correct for the reward model (ties broken
    at random under `seed`), its expectation under uniform random choice,
    one seeded random draw, and the oracle (some proof is correct).
    """
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for index, problem in enumerate(problem_ids):
        groups[problem].append(index)
    groups = {key: index for key, index in groups.items() if len(index) >= 2}
    if not groups:
        return {"problems": 0.0, "mean_n": math.nan, "reward_model": math.nan, "random_expected": math.nan,
                "random_draw": math.nan, "oracle": math.nan}

    rng = random.Random(seed)
    picked, expected, drawn, oracle = [], [], [], []
    for key in sorted(groups, key=str):
        index = groups[key]
        top = max(scores[i] for i in index)
        best = [i for i in index if scores[i] == top]
        picked.append(labels[rng.choice(best)])
        expected.append(float(np.mean([labels[i] for i in index])))
        drawn.append(labels[rng.choice(index)])
        oracle.append(float(any(labels[i] for i in index)))
    return {
        "problems": float(len(groups)),
        "mean_n": float(np.mean([len(index) for index in groups.values()])),
        "reward_model": float(np.mean(picked)),
        "random_expected": float(np.mean(expected)),
        "random_draw": float(np.mean(drawn)),
        "oracle": float(np.mean(oracle)),
    }


def calibration_bins(labels: Sequence[int], scores: Sequence[float], bins: int = 10) -> list[dict[str, float]]:
    """Return reliability-diagram rows: mean predicted P(correct) and observed rate per score bin."""
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for lower, upper in zip(edges[:-1], edges[1:]):
        inside = (s >= lower) & ((s < upper) if upper < 1.0 else (s <= upper))
        if inside.any():
            rows.append({"lower": float(lower), "upper": float(upper), "count": float(inside.sum()),
                         "mean_score": float(s[inside].mean()), "observed": float(y[inside].mean())})
    return rows


def expected_calibration_error(labels: Sequence[int], scores: Sequence[float], bins: int = 10) -> float:
    """Return ECE = sum_bins (count / n) * |observed - mean_score|."""
    rows = calibration_bins(labels, scores, bins)
    n = sum(row["count"] for row in rows)
    return float(sum(row["count"] / n * abs(row["observed"] - row["mean_score"]) for row in rows)) if n else math.nan
