"""Figures: 2-D projections of source, target and intermediate domains, and the E-SUOT objective."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402


def domains_figure(source: np.ndarray, target: np.ndarray, domains: list[np.ndarray], title: str,
                   max_points: int = 400, seed: int = 0) -> plt.Figure:
    """Plot every domain on the first two principal axes of source plus target (identity for 2-D data)."""
    rng = np.random.default_rng(seed)

    def sample(x: np.ndarray) -> np.ndarray:
        return x[rng.choice(len(x), size=min(max_points, len(x)), replace=False)]

    if source.shape[1] > 2:
        project = PCA(n_components=2, random_state=seed).fit(np.vstack([source, target])).transform
    else:
        def project(x: np.ndarray) -> np.ndarray:
            return x

    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    colours = plt.cm.viridis(np.linspace(0.15, 0.85, max(1, len(domains))))
    axis.scatter(*project(sample(source)).T, s=6, c="tab:blue", alpha=0.5, label="source")
    for k, (x, colour) in enumerate(zip(domains, colours), start=1):
        axis.scatter(*project(sample(x)).T, s=4, color=colour, alpha=0.4, label=f"domain {k}")
    axis.scatter(*project(sample(target)).T, s=6, c="tab:red", alpha=0.5, label="target")
    axis.set_title(title)
    axis.set_xlabel("component 1" if source.shape[1] > 2 else "x1")
    axis.set_ylabel("component 2" if source.shape[1] > 2 else "x2")
    axis.legend(fontsize=7, markerscale=2, loc="best")
    figure.tight_layout()
    return figure


def objective_figure(histories: dict[str, list[dict[str, float]]]) -> plt.Figure:
    """Plot the semi-dual objective J(v) against the iteration, one line per run."""
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    for name, history in histories.items():
        axis.plot([h["step"] for h in history], [h["objective"] for h in history], label=name)
    axis.set_xlabel("iteration")
    axis.set_ylabel("semi-dual objective J(v)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure
