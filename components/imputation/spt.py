"""Semi-proximal transport (SPT): optimal transport with one marginal relaxed by a KL divergence.

For source weights a (n,), target weights b (m,) and a cost matrix C (n, m), SPT solves

    SPT_lambda(a, b) = min_{P >= 0, P 1_m = a}  <C, P> + reg * KL(P | a b^T) + reg_m * KL(P^T 1_n | b)

The source marginal is exact, so every unit of source mass is transported; the target
marginal is only penalised, so target mass that no source point is near can stay
unmatched. As reg_m -> inf the problem becomes balanced entropic OT; as reg_m -> 0 the
target marginal is free and each source point goes to its nearest targets (a soft-min).
This is POT's `sinkhorn_unbalanced(a, b, C, reg, reg_m=(inf, reg_m))` with the default
`reg_type="kl"`, solved here in the log domain and batched over many small problems.

Log-domain Sinkhorn (derivation). Write P_ij = a_i b_j exp((f_i + g_j - C_ij) / reg).
The first-order conditions of the dual give, alternately,

    f_i = -reg * LSE_j( log b_j + (g_j - C_ij) / reg )                     (P 1 = a exactly)
    g_j = -phi * reg * LSE_i( log a_i + (f_i - C_ij) / reg ),  phi = reg_m / (reg_m + reg)

which are the logarithms of the scaling updates u = a / (K v), v = (b / K^T u)^phi of
Chizat et al., "Scaling algorithms for unbalanced optimal transport problems" (2018), with
K = exp(-C / reg) * a b^T. LSE never overflows, so small `reg` stays finite.

Gradient. By Danskin's theorem the derivative of the minimum with respect to C is the
optimal plan P*, because the regularisers do not depend on C. `spt_loss` therefore returns
<C, P*.detach()>, whose gradient with respect to the points that C is built from equals the
gradient of the regularised SPT value, without back-propagating through the iterations.
"""

from __future__ import annotations

import logging
import math

import torch

from components.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["semi_relaxed_sinkhorn", "spt_loss", "sqeuclidean_cost", "spt_value"]


def _weight_logs(weights: torch.Tensor) -> torch.Tensor:
    return torch.where(weights > 0, torch.log(weights.clamp_min(1e-300)), torch.full_like(weights, -math.inf))


def semi_relaxed_sinkhorn(
    a: torch.Tensor, b: torch.Tensor, cost: torch.Tensor, reg: float, reg_m: float,
    n_iter: int = 100, tol: float = 1e-6,
) -> torch.Tensor:
    """Solve a batch of SPT problems and return the plans.

    Shapes: a (N, n), b (N, m), cost (N, n, m); returns P (N, n, m). Weights may be zero
    (absent points); each row of a and b is rescaled to sum to one. A problem whose a or b
    has no mass returns a zero plan. `reg_m=math.inf` gives balanced entropic OT.
    """
    if reg <= 0 or reg_m <= 0:
        raise InputError(f"reg={reg} and reg_m={reg_m} must both be positive", field="spt")
    if not (torch.isfinite(cost).all() and torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise InputError("SPT inputs contain NaN or infinite values; remove them before the solve", field="spt")

    # Normalise the histograms; empty problems keep zero mass and get a zero plan.
    a_mass, b_mass = a.sum(-1, keepdim=True), b.sum(-1, keepdim=True)
    active = (a_mass > 0) & (b_mass > 0)  # (N, 1)
    a = torch.where(active, a / a_mass.clamp_min(1e-300), torch.zeros_like(a))
    b = torch.where(active, b / b_mass.clamp_min(1e-300), torch.zeros_like(b))
    log_a, log_b = _weight_logs(a), _weight_logs(b)
    phi = 1.0 if math.isinf(reg_m) else reg_m / (reg_m + reg)

    # Alternate the two potential updates; potentials of absent points are kept at zero.
    f = torch.zeros_like(a)
    g = torch.zeros_like(b)
    scaled = cost / reg
    for step in range(n_iter):
        f_prev = f
        f = -reg * torch.logsumexp(log_b[:, None, :] + g[:, None, :] / reg - scaled, dim=-1)
        f = torch.where(torch.isfinite(f) & (a > 0), f, torch.zeros_like(f))
        g = -phi * reg * torch.logsumexp(log_a[:, :, None] + f[:, :, None] / reg - scaled, dim=-2)
        g = torch.where(torch.isfinite(g) & (b > 0), g, torch.zeros_like(g))
        if step % 10 == 9 and (f - f_prev).abs().max() <= tol * max(1.0, float(f.abs().max())):
            break

    log_plan = log_a[:, :, None] + log_b[:, None, :] + (f[:, :, None] + g[:, None, :]) / reg - scaled
    plan = torch.exp(log_plan)
    if not torch.isfinite(plan).all():
        logger.warning("SPT plan has non-finite entries after %d iterations; zeroing them", step + 1)
        plan = torch.nan_to_num(plan, nan=0.0, posinf=0.0)
    return plan


def sqeuclidean_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean cost between point clouds x (N, n, d) and y (N, m, d): (N, n, m)."""
    return ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)


def spt_loss(
    x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
    reg: float = 0.05, reg_m: float = 1.0, n_iter: int = 100, normalise: bool = True,
) -> torch.Tensor:
    """Return the SPT transport cost <C, P*> per problem, (N,), between clouds x (N, n, d) and y (N, m, d).

    The cost is divided by its detached maximum over each problem when `normalise` is set,
    so `reg` is relative to the largest squared distance and the gradient scale stays bounded
    whatever the data scale. Gradients flow to x and y through C only (see the module docstring).
    """
    cost = sqeuclidean_cost(x, y)
    if normalise:
        scale = cost.detach().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-8)
        cost = cost / scale
    plan = semi_relaxed_sinkhorn(a.detach(), b.detach(), cost.detach(), reg, reg_m, n_iter)
    return (plan * cost).sum((-2, -1))


def spt_value(a: torch.Tensor, b: torch.Tensor, cost: torch.Tensor, reg: float, reg_m: float, n_iter: int = 1000) -> torch.Tensor:
    """Return the full regularised SPT objective per problem, (N,), for checks against references."""
    plan = semi_relaxed_sinkhorn(a, b, cost, reg, reg_m, n_iter)
    a = a / a.sum(-1, keepdim=True)
    b = b / b.sum(-1, keepdim=True)
    reference = a[:, :, None] * b[:, None, :]
    value = (plan * cost).sum((-2, -1)) + reg * _kl(plan, reference, (-2, -1))
    if not math.isinf(reg_m):
        value = value + reg_m * _kl(plan.sum(-2), b, (-1,))
    return value


def _kl(p: torch.Tensor, q: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Generalised KL divergence sum p log(p / q) - p + q, with 0 log 0 = 0."""
    ratio = torch.where(p > 0, p * (torch.log(p.clamp_min(1e-300)) - torch.log(q.clamp_min(1e-300))), torch.zeros_like(p))
    return (ratio - p + q).sum(dims)
