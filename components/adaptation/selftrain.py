"""Classifier, source-trained encoder and gradual self-training with confidence filtering.

Gradual self-training follows Kumar et al., "Understanding Self-Training for Gradual Domain
Adaptation" (ICML 2020). It starts from a classifier trained on the labelled source. For each
domain in order, it labels the samples with the current classifier, keeps the `keep_fraction`
most confident of them, and continues training the classifier on those pseudo-labels. The last
domain is the unlabelled target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(kw_only=True)
class TrainSettings:
    """Classifier training: epochs per domain, optimiser and filtering."""

    hidden: int = 64
    epochs: int = 20  # on the labelled source
    self_train_epochs: int = 10  # on each pseudo-labelled domain
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    keep_fraction: float = 0.9  # most confident share of each domain that is kept for self-training
    seed: int = 0


class Classifier(nn.Module):
    """A one-hidden-layer MLP over (N, d) features returning (N, C) logits."""

    def __init__(self, dim: int, n_classes: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.eval()
        return torch.softmax(self(torch.as_tensor(x, dtype=torch.float32)), dim=1).numpy()


def fit(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, settings: TrainSettings,
        weights: np.ndarray | None = None) -> list[float]:
    """Train `model` in place with weighted cross-entropy; return the mean loss of each epoch."""
    generator = torch.Generator().manual_seed(settings.seed)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.int64)
    wt = torch.ones(len(x)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    wt = wt / wt.mean()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=generator)
        total = 0.0
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            loss = (nn.functional.cross_entropy(model(xt[idx]), yt[idx], reduction="none") * wt[idx]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(xt))
    model.eval()
    return losses


def train_source(x: np.ndarray, y: np.ndarray, n_classes: int, settings: TrainSettings) -> Classifier:
    """Train a classifier on the labelled source."""
    torch.manual_seed(settings.seed)
    model = Classifier(x.shape[1], n_classes, settings.hidden)
    fit(model, x, y, settings.epochs, settings)
    return model


def accuracy(model: Classifier, x: np.ndarray, y: np.ndarray) -> float:
    return float((model.predict_proba(x).argmax(1) == y).mean()) if len(y) else float("nan")


def confident_subset(probs: np.ndarray, keep_fraction: float) -> np.ndarray:
    """Return the indices of the `keep_fraction` samples with the highest max-probability (at least one)."""
    n_keep = max(1, int(round(keep_fraction * len(probs))))
    return np.argsort(-probs.max(1), kind="stable")[:n_keep]


@dataclass
class DomainStep:
    """One domain of a gradual self-training sequence: its features and optional sample weights."""

    name: str
    features: np.ndarray  # (N, d)
    weights: np.ndarray | None = None  # (N,), for example the mass E-SUOT keeps at each source point


def gradual_self_train(model: Classifier, steps: list[DomainStep], settings: TrainSettings) -> list[dict[str, float]]:
    """Self-train `model` in place through `steps` in order; return per-step diagnostics.

    At each step: pseudo-label with the current model, keep the most confident
    `keep_fraction`, then train for `self_train_epochs` on the kept samples (with their weights).
    """
    log = []
    for index, step in enumerate(steps):
        probs = model.predict_proba(step.features)
        kept = confident_subset(probs, settings.keep_fraction)
        pseudo = probs.argmax(1)
        weights = None if step.weights is None else step.weights[kept]
        losses = fit(model, step.features[kept], pseudo[kept], settings.self_train_epochs,
                     TrainSettings(**{**settings.__dict__, "seed": settings.seed + index + 1}), weights)
        log.append({"step": index + 1, "kept": float(len(kept)), "mean_confidence": float(probs.max(1).mean()),
                    "loss": losses[-1] if losses else float("nan")})
    return log


class Encoder(nn.Module):
    """A small MLP trained on the labelled source; its hidden layer is the encoded feature space."""

    def __init__(self, dim: int, n_classes: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim), nn.ReLU())
        self.head = nn.Linear(out_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def encode(self, x: np.ndarray) -> np.ndarray:
        self.eval()
        return self.body(torch.as_tensor(x, dtype=torch.float32)).numpy()


def train_encoder(x: np.ndarray, y: np.ndarray, n_classes: int, out_dim: int, settings: TrainSettings) -> Encoder:
    """Train an encoder with a linear head on the labelled source only (target labels are never seen)."""
    torch.manual_seed(settings.seed)
    encoder = Encoder(x.shape[1], n_classes, max(settings.hidden, out_dim), out_dim)
    fit(encoder, x, y, settings.epochs, settings)
    return encoder
