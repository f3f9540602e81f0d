"""The network fit d^m u / dt^m = F(u, u_x, ..., u_{x^n}) and its Jacobian at the samples."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)


class DynamicsMLP(nn.Module):
    """MLP on standardised inputs; outputs are standardised targets (SiLU keeps the Jacobian smooth)."""

    def __init__(self, n_in: int, n_out: int, hidden: int, layers: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = n_in
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        blocks.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*blocks)
        self.register_buffer("in_mean", torch.zeros(n_in))
        self.register_buffer("in_std", torch.ones(n_in))
        self.register_buffer("out_mean", torch.zeros(n_out))
        self.register_buffer("out_std", torch.ones(n_out))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net((inputs - self.in_mean) / self.in_std) * self.out_std + self.out_mean


@dataclass
class FitResult:
    model: DynamicsMLP
    history: list[dict[str, float]]
    val_relative_mse: float


def fit_dynamics(inputs: np.ndarray, targets: np.ndarray, *, hidden: int, layers: int, epochs: int, batch_size: int,
                 lr: float, val_fraction: float, seed: int, lbfgs_steps: int = 0) -> FitResult:
    """Fit F on the mean squared error; returns the model, per-epoch history and validation relative MSE.

    inputs: (N, n_in) spatial jets; targets: (N, q) time derivatives of order m.
    Adam runs `epochs` epochs with a cosine schedule to lr / 100, then full-batch
    L-BFGS refines for `lbfgs_steps` iterations. The criterion uses the network's
    Jacobian, whose error limits the gap in the singular values, and on these
    small smooth regressions L-BFGS reached validation errors about 100 to 1000
    times lower than Adam alone in smoke-preset runs of the five PDEs.
    """
    with single_thread():
        return _fit(inputs, targets, hidden, layers, epochs, batch_size, lr, val_fraction, seed, lbfgs_steps)


@contextmanager
def single_thread():
    """Run torch on one thread: these models are tiny, and intra-op threads only contend on a shared machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _fit(inputs, targets, hidden, layers, epochs, batch_size, lr, val_fraction, seed, lbfgs_steps) -> FitResult:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(inputs))
    n_val = max(1, int(val_fraction * len(inputs)))
    val, train = order[:n_val], order[n_val:]
    x_train, y_train = torch.tensor(inputs[train], dtype=torch.float32), torch.tensor(targets[train], dtype=torch.float32)
    x_val, y_val = torch.tensor(inputs[val], dtype=torch.float32), torch.tensor(targets[val], dtype=torch.float32)

    model = DynamicsMLP(inputs.shape[1], targets.shape[1], hidden, layers)
    model.in_mean.copy_(x_train.mean(0))
    model.in_std.copy_(x_train.std(0).clamp_min(1e-8))
    model.out_mean.copy_(y_train.mean(0))
    model.out_std.copy_(y_train.std(0).clamp_min(1e-8))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = max(1, -(-len(train) // batch_size))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch, eta_min=lr / 100)
    target_var = y_val.var(0).clamp_min(1e-12)

    history = []
    for epoch in range(epochs):
        model.train()
        permutation = torch.randperm(len(x_train))
        total = 0.0
        for start in range(0, len(x_train), batch_size):
            batch = permutation[start : start + batch_size]
            loss = (((model(x_train[batch]) - y_train[batch]) / model.out_std) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        if not np.isfinite(total):
            logger.warning("training diverged at epoch %d (loss %s); keeping the current weights", epoch, total)
            break
        model.eval()
        with torch.no_grad():
            val_rel = float((((model(x_val) - y_val) ** 2).mean(0) / target_var).mean())
        history.append({"train_loss": total / len(x_train), "val_relative_mse": val_rel})

    if lbfgs_steps:
        model.train()
        optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=lbfgs_steps, history_size=50,
                                      tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = (((model(x_train) - y_train) / model.out_std) ** 2).mean()
            loss.backward()
            return loss

        optimizer.step(closure)
        model.eval()
        with torch.no_grad():
            loss = float((((model(x_train) - y_train) / model.out_std) ** 2).mean())
            val_rel = float((((model(x_val) - y_val) ** 2).mean(0) / target_var).mean())
        if np.isfinite(loss) and np.isfinite(val_rel):
            history.append({"train_loss": loss, "val_relative_mse": val_rel})
        else:
            logger.warning("L-BFGS diverged (loss %s); the Jacobian of this fit is unreliable", loss)
    return FitResult(model=model, history=history, val_relative_mse=history[-1]["val_relative_mse"] if history else float("nan"))


def network_jacobian(model: DynamicsMLP, inputs: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Return dF_f / d input_s at each sample, shape (N, q, n_in)."""
    model.eval()
    with single_thread():
        parts = _jacobian_chunks(model, inputs, chunk)
    return np.concatenate(parts).astype(float)


def _jacobian_chunks(model: DynamicsMLP, inputs: np.ndarray, chunk: int) -> list[np.ndarray]:
    parts = []
    for start in range(0, len(inputs), chunk):
        x = torch.tensor(inputs[start : start + chunk], dtype=torch.float32, requires_grad=True)
        y = model(x)
        rows = []
        for f in range(y.shape[1]):
            (grad,) = torch.autograd.grad(y[:, f].sum(), x, retain_graph=f + 1 < y.shape[1])
            rows.append(grad.detach().numpy())
        parts.append(np.stack(rows, axis=1))
    return parts
