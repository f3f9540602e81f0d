"""Matplotlib figures for reward-model evaluation (ROC curve and reliability diagram)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are saved as PNG, never shown

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from components.rm.metrics import calibration_bins  # noqa: E402


def roc_figure(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]], title: str) -> Figure:
    """ROC curves for detecting incorrect proofs; `curves` maps a name to (labels, P(correct))."""
    figure, axis = plt.subplots(figsize=(5, 5))
    for name, (labels, scores) in curves.items():
        if len(set(labels)) < 2:
            continue
        fpr, tpr, _ = roc_curve([1 - y for y in labels], [1.0 - s for s in scores])
        axis.plot(fpr, tpr, label=name)
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    axis.set_xlabel("false positive rate (correct proofs flagged)")
    axis.set_ylabel("true positive rate (incorrect proofs flagged)")
    axis.set_title(title)
    axis.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return figure


def calibration_figure(labels: Sequence[int], scores: Sequence[float], title: str) -> Figure:
    """Reliability diagram: observed rate of correct proofs against mean predicted P(correct)."""
    rows = calibration_bins(labels, scores)
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    axis.plot([r["mean_score"] for r in rows], [r["observed"] for r in rows], marker="o")
    for row in rows:
        axis.annotate(str(int(row["count"])), (row["mean_score"], row["observed"]), fontsize=7)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("mean predicted P(correct)")
    axis.set_ylabel("observed fraction correct")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def training_figure(history: Sequence[Mapping[str, float]]) -> Figure:
    """Training loss and validation AUROC per epoch."""
    figure, axis = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(history) + 1)
    axis.plot(epochs, [h["loss"] for h in history], label="train loss")
    if history and "val_auroc" in history[0]:
        twin = axis.twinx()
        twin.plot(epochs, [h["val_auroc"] for h in history], color="tab:orange", label="val AUROC")
        twin.set_ylabel("validation AUROC")
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss")
    figure.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    return figure
