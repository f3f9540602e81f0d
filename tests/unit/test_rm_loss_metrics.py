"""Balanced loss and evaluation metrics against references computed by explicit loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from components.rm.loss import fit_class_weights, reward_loss
from components.rm.metrics import best_of_n, best_threshold, calibration_bins, classification_metrics, expected_calibration_error


def bce(logit: float, label: float) -> float:
    p = 1.0 / (1.0 + math.exp(-logit))
    return -(label * math.log(p) + (1 - label) * math.log(1 - p))


def test_class_weights_balance_proofs_and_steps():
    # Three correct proofs, one incorrect; step labels: a 4-step correct proof and a 2-step proof with one error.
    weights = fit_class_weights([1, 1, 1, 0], [(1, 1, 1, 1), None, None, (1, 0)])
    assert weights.outcome == pytest.approx((4 / 2, 4 / 6))
    # Proof-normalised counts: correct = 1 + 0.5, incorrect = 0.5.
    assert weights.step == pytest.approx((2.0 / 1.0, 2.0 / 3.0))


def test_reward_loss_matches_loop_reference():
    rng = np.random.default_rng(0)
    outcome_logits = rng.normal(size=3)
    process_logits = rng.normal(size=(3, 4))
    outcome_labels = np.array([1, 0, 0])
    step_labels = np.array([[1, 1, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1]])
    known = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)  # proof 3: unknown steps
    weights = fit_class_weights(list(outcome_labels), [(1, 1, 1), (1, 0, 1, 1), None])

    # Reference by loops, written from the formula in the module docstring.
    numerator = denominator = 0.0
    for b in range(3):
        w = weights.outcome[outcome_labels[b]]
        numerator += w * bce(outcome_logits[b], outcome_labels[b])
        denominator += w
    expected_outcome = numerator / denominator
    numerator = denominator = 0.0
    for b in range(3):
        n = known[b].sum()
        for i in range(4):
            if known[b, i]:
                a = weights.step[step_labels[b, i]] / n
                numerator += a * bce(process_logits[b, i], step_labels[b, i])
                denominator += a
    expected_process = numerator / denominator

    total, parts = reward_loss(
        torch.tensor(outcome_logits, dtype=torch.float32),
        torch.tensor(process_logits, dtype=torch.float32),
        torch.tensor(outcome_labels),
        torch.tensor(step_labels),
        torch.tensor(known),
        weights,
        process_weight=0.5,
    )
    assert parts["loss_outcome"] == pytest.approx(expected_outcome, rel=1e-5)
    assert parts["loss_process"] == pytest.approx(expected_process, rel=1e-5)
    assert float(total) == pytest.approx(expected_outcome + 0.5 * expected_process, rel=1e-5)


def test_long_proof_weighs_as_much_as_short_one():
    # Same per-step loss: a 2-step and a 20-step proof contribute equally to the process term.
    weights = fit_class_weights([1, 1], [(1,) * 2, (1,) * 20])
    logits = torch.zeros(2, 20)
    logits[0, :2] = 3.0  # confident, low loss on the short proof
    known = torch.zeros(2, 20, dtype=torch.bool)
    known[0, :2] = True
    known[1, :] = True
    _, parts = reward_loss(torch.zeros(2), logits, torch.ones(2), torch.ones(2, 20), known, weights, 1.0)
    expected = (bce(3.0, 1) + bce(0.0, 1)) / 2
    assert parts["loss_process"] == pytest.approx(expected, rel=1e-5)


def test_classification_metrics_by_hand():
    labels = [1, 1, 0, 0, 0]
    scores = [0.9, 0.4, 0.3, 0.6, 0.1]
    metrics = classification_metrics(labels, scores, threshold=0.5)
    # Predictions: correct, incorrect, incorrect, correct, incorrect.
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # Incorrect class: tp = 2, fp = 1, fn = 1.
    assert metrics["f1_incorrect"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    # AUROC for "incorrect" on 1 - score: pairs (incorrect, correct) ranked right: 5 of 6.
    assert metrics["auroc"] == pytest.approx(5 / 6)


def test_metrics_one_class_auroc_nan():
    metrics = classification_metrics([1, 1], [0.2, 0.8])
    assert math.isnan(metrics["auroc"])


def test_metrics_reject_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        classification_metrics([1, 0], [float("nan"), 0.1])


def test_best_threshold_separates_classes():
    threshold = best_threshold([1, 1, 0, 0], [0.8, 0.7, 0.3, 0.2])
    assert 0.3 < threshold <= 0.7


def test_best_of_n_against_random_and_oracle():
    problems = ["a", "a", "a", "b", "b", "c"]  # c has one proof and is ignored
    labels = [0, 1, 0, 0, 0, 1]
    scores = [0.2, 0.9, 0.1, 0.5, 0.4, 0.7]
    result = best_of_n(problems, labels, scores)
    assert result["problems"] == 2
    assert result["reward_model"] == pytest.approx(0.5)  # right on a, nothing correct on b
    assert result["random_expected"] == pytest.approx((1 / 3 + 0) / 2)
    assert result["oracle"] == pytest.approx(0.5)


def test_calibration_bins_and_ece():
    labels = [1, 0, 1, 1]
    scores = [0.95, 0.05, 0.85, 0.15]
    rows = calibration_bins(labels, scores, bins=2)
    assert [row["count"] for row in rows] == [2, 2]
    # Bin [0, 0.5): mean score 0.1, observed 0.5; bin [0.5, 1]: mean 0.9, observed 1.
    assert expected_calibration_error(labels, scores, bins=2) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
