"""Entropy-regularised semi-dual unbalanced optimal transport (E-SUOT) with a potential and a map network.

Method: "Rethinking the Flow-Based Gradual Domain Adaptation: A Semi-Dual Optimal Transport
Perspective" (arXiv 2602.01179). The derivation below is written out here because the code
follows it term by term.

NOTE: the objective is derived from the primal below. It was not checked term by term against the
paper's own loss, which may scale the terms differently or regularise a different entropy.

Primal. For a source measure mu, a target measure nu and a cost c, find a plan pi with marginals
pi_0 (on the source side) and pi_1 (on the target side) that minimises

    int c dpi + epsilon * KL(pi | pi_0 (x) nu) + D_1(pi_0 | mu) + D_2(pi_1 | nu),

where D_i = tau * D_psi is the relaxed-marginal penalty (components/adaptation/divergences.py).
The entropy term regularises every conditional plan pi(. | x) towards nu.

Semi-dual. Write D_2(pi_1 | nu) = sup_v [ -int v dpi_1 - int Psi*(-v) dnu ] and swap inf and sup.
For fixed v and pi_0, the inner problem over each conditional pi(. | x) is a Gibbs variational
problem whose value is the entropic c-transform

    v^{c,eps}(x) = -epsilon * log int exp((v(y) - c(x, y)) / epsilon) dnu(y),            (1)

attained by pi(y | x) proportional to exp((v(y) - c(x, y)) / epsilon) nu(y).                (2)

Minimising then over pi_0 gives -int Psi*(-v^{c,eps}) dmu, so the dual is sup_v of
-int Psi*(-v^{c,eps}) dmu - int Psi*(-v) dnu. The potential network v_theta minimises

    J(v) = E_{x~mu} Psi*(-v^{c,eps}(x)) + E_{y~nu} Psi*(-v(y)),                            (3)

which is convex in v: (1) is concave in v (minus a log-sum-exp), and Psi* is convex and
non-decreasing. So no min-max game remains, unlike the unregularised semi-dual (UOTM), where
the inner infimum over T makes training adversarial. The optimal source marginal has density
dpi_0/dmu = Psi*'(-v^{c,eps}(x)), the mass that each source point keeps.

Map. The transport map T_phi(x) = x + g_phi(x) is fitted to the barycentric projection of (2),
minimising E_x || T_phi(x) - E_{pi(y|x)}[y] ||^2. Training alternates: potential steps on (3),
then map steps against the current potential. The expectations over nu in (1) and (2) are taken
over a mini-batch of target samples, which is the usual plug-in (slightly biased) estimate.

The cost is c(x, y) = ||x - y||^2 / s, where s is the median squared distance between source and
target samples measured once before training, so that epsilon is on the same scale for any data.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from components.adaptation.divergences import DIVERGENCES, Divergence, psi_star_grad, scaled_psi_star
from components.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class ESUOTSettings:
    """Settings of E-SUOT training; `check` raises ValueError with the value and the allowed range."""

    divergence: Divergence = "kl"
    tau: float = 1.0  # strength of the relaxed-marginal penalty; large tau approaches balanced OT
    epsilon: float = 0.05  # entropy regularisation, in units of the median source-target cost
    hidden: int = 128
    iterations: int = 400
    potential_steps: int = 1  # potential updates per iteration
    map_steps: int = 1  # map updates per iteration
    batch_size: int = 256  # source samples per step
    target_batch: int = 1024  # target samples that estimate the expectations over nu
    lr_potential: float = 1e-3
    lr_map: float = 1e-3
    eval_every: int = 20
    seed: int = 0

    def check(self) -> "ESUOTSettings":
        if self.divergence not in DIVERGENCES:
            raise ValueError(f"divergence is '{self.divergence}'; choose one of {', '.join(DIVERGENCES)}")
        for name, value in (("tau", self.tau), ("epsilon", self.epsilon), ("lr_potential", self.lr_potential),
                            ("lr_map", self.lr_map)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} is {value}; it must be a finite number above 0")
        for name in ("hidden", "iterations", "potential_steps", "map_steps", "batch_size", "target_batch", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} is {getattr(self, name)}; it must be at least 1")
        return self


def mlp(d_in: int, d_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, d_out))


class PotentialNet(nn.Module):
    """The potential v_theta: R^d -> R of the semi-dual objective."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp(dim, 1, hidden)

    def forward(self, y: torch.Tensor) -> torch.Tensor:  # (N, d) -> (N,)
        return self.net(y).squeeze(-1)


class MapNet(nn.Module):
    """The transport map T_phi(x) = x + g_phi(x); the residual form starts at the identity map."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp(dim, dim, hidden)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, d) -> (N, d)
        return x + self.net(x)


def squared_cost(x: torch.Tensor, y: torch.Tensor, scale: float) -> torch.Tensor:
    """Return c(x, y) = ||x - y||^2 / scale for every pair, shape (N, M)."""
    return torch.cdist(x, y).square() / scale


def entropic_c_transform(potential_y: torch.Tensor, cost: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Return equation (1), v^{c,eps}(x_i) = -eps log mean_j exp((v(y_j) - c(x_i, y_j)) / eps), shape (N,)."""
    m = cost.shape[1]
    return -epsilon * (torch.logsumexp((potential_y[None, :] - cost) / epsilon, dim=1) - math.log(m))


def semi_dual_objective(
    potential_y: torch.Tensor, cost: torch.Tensor, settings: ESUOTSettings
) -> torch.Tensor:
    """Return equation (3), J(v) = mean Psi*(-v^{c,eps}(x)) + mean Psi*(-v(y)), on a batch.

    `potential_y` is v at the M target samples (M,), `cost` the (N, M) cost matrix to the batch of
    N source samples.
    """
    v_c = entropic_c_transform(potential_y, cost, settings.epsilon)
    source_term = scaled_psi_star(-v_c, settings.divergence, settings.tau).mean()
    target_term = scaled_psi_star(-potential_y, settings.divergence, settings.tau).mean()
    return source_term + target_term


def barycentric_targets(potential_y: torch.Tensor, cost: torch.Tensor, y: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Return E_{pi(y|x)}[y] under the conditional plan (2) for every source row, shape (N, d)."""
    weights = torch.softmax((potential_y[None, :] - cost) / epsilon, dim=1)  # (N, M)
    return weights @ y


def median_cost_scale(source: np.ndarray, target: np.ndarray, rng: np.random.Generator, n: int = 1000) -> float:
    """Return the median squared distance between random source and target samples (at least 1e-8)."""
    xs = source[rng.choice(len(source), size=min(n, len(source)), replace=False)]
    ys = target[rng.choice(len(target), size=min(n, len(target)), replace=False)]
    squared = ((xs[:, None, :] - ys[None, :, :]) ** 2).sum(-1)
    return max(float(np.median(squared)), 1e-8)


@dataclass
class ESUOTResult:
    """A trained E-SUOT model with its training diagnostics."""

    potential: PotentialNet
    transport_map: MapNet
    settings: ESUOTSettings
    cost_scale: float
    target: torch.Tensor  # (M, d) target samples that define nu
    history: list[dict[str, float]] = field(default_factory=list)
    diverged_at: int | None = None

    @torch.no_grad()
    def transport(self, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """Apply the learned map T to source samples (N, d); return (N, d)."""
        xt = torch.as_tensor(x, dtype=torch.float32)
        return torch.cat([self.transport_map(xt[i : i + chunk]) for i in range(0, len(xt), chunk)]).numpy()

    @torch.no_grad()
    def source_weights(self, x: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Return dpi_0/dmu = Psi*'(-v^{c,eps}(x)) per source sample (N,): the mass each point keeps."""
        xt = torch.as_tensor(x, dtype=torch.float32)
        potential_y = self.potential(self.target)
        out = []
        for i in range(0, len(xt), chunk):
            cost = squared_cost(xt[i : i + chunk], self.target, self.cost_scale)
            v_c = entropic_c_transform(potential_y, cost, self.settings.epsilon)
            out.append(psi_star_grad(-v_c / self.settings.tau, self.settings.divergence))
        return torch.cat(out).numpy()

    @torch.no_grad()
    def objective(self, x: np.ndarray) -> float:
        """Return J(v) of equation (3) with the full source `x` and the full stored target."""
        xt = torch.as_tensor(x, dtype=torch.float32)
        cost = squared_cost(xt, self.target, self.cost_scale)
        return float(semi_dual_objective(self.potential(self.target), cost, self.settings))


def check_pair(source: np.ndarray, target: np.ndarray) -> None:
    """Raise InputError unless source and target are finite 2-D arrays with the same feature dimension."""
    for name, array in (("source", source), ("target", target)):
        if array.ndim != 2 or len(array) == 0:
            raise InputError(f"{name} features must be a non-empty (samples, features) array, got shape {array.shape}",
                             field=name)
        if not np.isfinite(array).all():
            raise InputError(f"{name} features contain NaN or infinite values", field=name,
                             hint="Remove or impute those samples before adaptation")
    if source.shape[1] != target.shape[1]:
        raise InputError(
            f"source has {source.shape[1]} features but target has {target.shape[1]}",
            field="features",
            hint="Both domains must live in the same feature space; encode them with the same encoder",
        )


def fit_esuot(source: np.ndarray, target: np.ndarray, settings: ESUOTSettings, progress: bool = False) -> ESUOTResult:
    """Train the potential and the map of E-SUOT between source (N, d) and target (M, d) samples.

    Each iteration takes `potential_steps` Adam steps on J(v) of equation (3), then `map_steps`
    Adam steps of the map regression onto the barycentric projection of (2). J on a fixed
    evaluation batch is recorded every `eval_every` iterations. When the objective or a map loss
    becomes NaN or infinite, training warns with the iteration and value, restores the last finite
    state and stops. `diverged_at` records that iteration.
    """
    settings.check()
    check_pair(source, target)

    # Inputs, seeds and the cost scale.
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    dim = source.shape[1]
    scale = median_cost_scale(source, target, rng)
    xs = torch.as_tensor(source, dtype=torch.float32)
    ys = torch.as_tensor(target, dtype=torch.float32)
    eval_x = xs[torch.randperm(len(xs), generator=generator)[: min(len(xs), 1024)]]
    eval_y = ys[torch.randperm(len(ys), generator=generator)[: min(len(ys), settings.target_batch)]]

    potential, transport_map = PotentialNet(dim, settings.hidden), MapNet(dim, settings.hidden)
    opt_v = torch.optim.Adam(potential.parameters(), lr=settings.lr_potential)
    opt_t = torch.optim.Adam(transport_map.parameters(), lr=settings.lr_map)
    result = ESUOTResult(potential, transport_map, settings, scale, eval_y)
    good_state = (copy.deepcopy(potential.state_dict()), copy.deepcopy(transport_map.state_dict()))

    def batch(data: torch.Tensor, size: int) -> torch.Tensor:
        return data[torch.randint(len(data), (min(size, len(data)),), generator=generator)]

    def evaluate(step: int, map_loss: float) -> float:
        with torch.no_grad():
            cost = squared_cost(eval_x, eval_y, scale)
            value = float(semi_dual_objective(potential(eval_y), cost, settings))
        result.history.append({"step": step, "objective": value, "map_loss": map_loss})
        return value

    evaluate(0, math.nan)
    iterations = range(1, settings.iterations + 1)
    if progress:
        from tqdm import tqdm

        iterations = tqdm(iterations, desc="E-SUOT", leave=False)
    for step in iterations:
        # Potential: theta <- theta - lr * grad J(v_theta) on a source and a target batch.
        for _ in range(settings.potential_steps):
            x, y = batch(xs, settings.batch_size), batch(ys, settings.target_batch)
            loss_v = semi_dual_objective(potential(y), squared_cost(x, y, scale), settings)
            opt_v.zero_grad()
            loss_v.backward()
            opt_v.step()

        # Map: phi <- phi - lr * grad ||T_phi(x) - E_pi(y|x)[y]||^2 with v held fixed.
        for _ in range(settings.map_steps):
            x, y = batch(xs, settings.batch_size), batch(ys, settings.target_batch)
            with torch.no_grad():
                targets = barycentric_targets(potential(y), squared_cost(x, y, scale), y, settings.epsilon)
            loss_t = (transport_map(x) - targets).square().sum(-1).mean()
            opt_t.zero_grad()
            loss_t.backward()
            opt_t.step()

        # Divergence guard: keep the last finite state.
        values = (loss_v.item(), loss_t.item())
        if not all(math.isfinite(v) for v in values):
            logger.warning("E-SUOT diverged at iteration %d (objective %s, map loss %s); keeping the last finite state",
                           step, values[0], values[1])
            potential.load_state_dict(good_state[0])
            transport_map.load_state_dict(good_state[1])
            result.diverged_at = step
            break
        if step % settings.eval_every == 0 or step == settings.iterations:
            evaluate(step, values[1])
            good_state = (copy.deepcopy(potential.state_dict()), copy.deepcopy(transport_map.state_dict()))

    potential.eval()
    transport_map.eval()
    result.target = ys
    return result
