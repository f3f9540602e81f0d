"""Figures of the symmetry pipeline."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def singular_value_figure(singular_values: np.ndarray, threshold: float, n_true: int, title: str):
    """Plot the normalised singular values (log scale, ascending) with the threshold and the true null dimension."""
    values = np.sort(np.maximum(np.asarray(singular_values, dtype=float), 1e-18))
    figure, axis = plt.subplots(figsize=(6, 3.5))
    index = np.arange(1, values.size + 1)
    axis.semilogy(index, values, "o-", markersize=3, label="singular values / largest")
    axis.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
    axis.axvline(n_true + 0.5, color="tab:green", linestyle=":", label=f"true null dimension {n_true}")
    axis.set_xlabel("index (ascending)")
    axis.set_ylabel("normalised singular value")
    axis.set_title(title)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure
