"""Convex conjugates of the f-divergences that relax the source marginal in unbalanced OT.

A relaxed marginal costs D_psi(p | mu) = tau * integral of psi(dp/dmu) dmu. The semi-dual
objective only needs the conjugate of that cost, which for a scale tau is
Psi*(s) = tau * psi*(s / tau), and its derivative, which is the density ratio dp/dmu
of the optimal marginal. Every generator satisfies psi(1) = 0 and psi'(1) = 0, so
psi*(0) = 0 and psi*'(0) = 1: with a zero potential no mass is created or destroyed.

| name      | psi(t)                         | psi*(s)                         | range of dp/dmu |
|-----------|--------------------------------|---------------------------------|-----------------|
| kl        | t log t - t + 1                | exp(s) - 1                      | (0, inf)        |
| chi2      | (t - 1)^2                      | s + s^2/4 for s >= -2, else -1  | [0, inf)        |
| softplus  | t log t + (2 - t) log(2 - t)   | 2 log(1 + exp(s)) - 2 log 2     | (0, 2)          |

The softplus row is the conjugate pair behind the softplus choice of UOTM (Choi et al.,
"Generative Modeling through the Semi-dual Formulation of Unbalanced Optimal Transport",
NeurIPS 2023), rescaled so that psi*'(0) = 1; it caps how much a source point can be
up-weighted at a factor of 2.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

Divergence = Literal["kl", "chi2", "softplus"]
DIVERGENCES: tuple[str, ...] = ("kl", "chi2", "softplus")


def psi_star(s: torch.Tensor, divergence: Divergence) -> torch.Tensor:
    """Return psi*(s), the conjugate of the divergence generator, elementwise."""
    if divergence == "kl":
        return torch.expm1(s)
    if divergence == "chi2":
        return torch.where(s >= -2.0, s + s.square() / 4.0, torch.full_like(s, -1.0))
    if divergence == "softplus":
        return 2.0 * F.softplus(s) - 2.0 * math.log(2.0)
    raise ValueError(f"unknown divergence '{divergence}'; choose one of {', '.join(DIVERGENCES)}")


def psi_star_grad(s: torch.Tensor, divergence: Divergence) -> torch.Tensor:
    """Return d psi*/ds, the density ratio dp/dmu that the conjugate variable s selects."""
    if divergence == "kl":
        return torch.exp(s)
    if divergence == "chi2":
        return torch.clamp(1.0 + s / 2.0, min=0.0)
    if divergence == "softplus":
        return 2.0 * torch.sigmoid(s)
    raise ValueError(f"unknown divergence '{divergence}'; choose one of {', '.join(DIVERGENCES)}")


def scaled_psi_star(s: torch.Tensor, divergence: Divergence, tau: float) -> torch.Tensor:
    """Return Psi*(s) = tau * psi*(s / tau), the conjugate of tau * D_psi."""
    return tau * psi_star(s / tau, divergence)


def psi(t: torch.Tensor, divergence: Divergence) -> torch.Tensor:
    """Return the generator psi(t) itself (used by tests to check the conjugate pairs)."""
    if divergence == "kl":
        return torch.special.xlogy(t, t) - t + 1.0
    if divergence == "chi2":
        return (t - 1.0).square()
    if divergence == "softplus":
        return torch.special.xlogy(t, t) + torch.special.xlogy(2.0 - t, 2.0 - t)
    raise ValueError(f"unknown divergence '{divergence}'; choose one of {', '.join(DIVERGENCES)}")
