"""Evaluation reports for any scorer of triplets, and the reference baselines.

A scorer maps triplets to P(correct). The report holds overall metrics,
breakdowns by source, generation method and error type, best-of-n selection
and calibration rows, as plain dicts that a task logs and a page renders.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from components.proofs.schema import Triplet
from components.rm.metrics import (
    best_of_n,
    breakdown,
    calibration_bins,
    classification_metrics,
    expected_calibration_error,
)


@dataclass
class EvalReport:
    """Metrics of one scorer on one data set."""

    name: str
    metrics: dict[str, float]
    by_source: list[dict[str, Any]] = field(default_factory=list)
    by_method: list[dict[str, Any]] = field(default_factory=list)
    by_error_type: list[dict[str, Any]] = field(default_factory=list)
    best_of_n: dict[str, float] = field(default_factory=dict)
    calibration: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metrics": self.metrics,
            "by_source": self.by_source,
            "by_method": self.by_method,
            "by_error_type": self.by_error_type,
            "best_of_n": self.best_of_n,
            "calibration": self.calibration,
        }


def labels_of(triplets: Sequence[Triplet]) -> list[int]:
    """Return 1 for a correct proof and 0 for an incorrect one, after review."""
    return [1 if t.final_label == "correct" else 0 for t in triplets]


def build_report(name: str, triplets: Sequence[Triplet], scores: Sequence[float], *, threshold: float = 0.5, seed: int = 0) -> EvalReport:
    """Compute every metric of the evaluation page for `scores` (P(correct)) on `triplets`."""
    labels = labels_of(triplets)
    metrics = classification_metrics(labels, scores, threshold=threshold)
    metrics["ece"] = expected_calibration_error(labels, scores)
    metrics["threshold"] = threshold
    # Error types: correct proofs form their own group, so each row has both classes only when mixed.
    error_keys = [t.error_type.value if t.error_type else ("none" if t.final_label == "correct" else "unknown") for t in triplets]
    return EvalReport(
        name=name,
        metrics=metrics,
        by_source=breakdown([t.source for t in triplets], labels, scores, threshold=threshold),
        by_method=breakdown([t.method.value for t in triplets], labels, scores, threshold=threshold),
        by_error_type=breakdown(error_keys, labels, scores, threshold=threshold),
        best_of_n=best_of_n([t.problem_id for t in triplets], labels, scores, seed=seed),
        calibration=calibration_bins(labels, scores),
    )


def proof_text(triplet: Triplet) -> str:
    return f"{triplet.question}\n\n{triplet.proof}"


class MajorityBaseline:
    """Predicts the training set's majority class with its frequency as the score."""

    name = "majority"

    def fit(self, triplets: Sequence[Triplet]) -> "MajorityBaseline":
        self.rate = float(np.mean(labels_of(triplets))) if triplets else 0.5
        return self

    def score(self, triplets: Sequence[Triplet]) -> list[float]:
        return [self.rate] * len(triplets)

    @property
    def threshold(self) -> float:
        # Predicts the majority class for every proof.
        return 0.0 if self.rate >= 0.5 else 1.0 + 1e-9


class RandomBaseline:
    """Uniform random scores under a seed."""

    name = "random"
    threshold = 0.5

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, triplets: Sequence[Triplet]) -> "RandomBaseline":
        return self

    def score(self, triplets: Sequence[Triplet]) -> list[float]:
        rng = random.Random(self.seed)
        return [rng.random() for _ in triplets]


class TfidfBaseline:
    """TF-IDF of question and proof (word 1-2 grams) with class-balanced logistic regression."""

    name = "tfidf_logreg"
    threshold = 0.5

    def __init__(self, seed: int = 0, max_features: int = 50_000) -> None:
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, max_features=max_features, sublinear_tf=True)
        self.model = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)

    def fit(self, triplets: Sequence[Triplet]) -> "TfidfBaseline":
        features = self.vectorizer.fit_transform([proof_text(t) for t in triplets])
        self.model.fit(features, labels_of(triplets))
        return self

    def score(self, triplets: Sequence[Triplet]) -> list[float]:
        features = self.vectorizer.transform([proof_text(t) for t in triplets])
        correct_column = list(self.model.classes_).index(1)
        return self.model.predict_proba(features)[:, correct_column].tolist()


def fit_baselines(train: Sequence[Triplet], seed: int = 0) -> list[MajorityBaseline | RandomBaseline | TfidfBaseline]:
    """Fit the majority, random and TF-IDF baselines on the reward model's training data."""
    return [MajorityBaseline().fit(train), RandomBaseline(seed).fit(train), TfidfBaseline(seed).fit(train)]


def finite_or_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
