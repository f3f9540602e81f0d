"""AdamW-style Shampoo with one- or two-sided preconditioning and Adam grafting.

For a matrix parameter W (m x n) with gradient G, step t, betas (beta1, beta2):

    M_t = beta1 M_{t-1} + (1 - beta1) G                       momentum (first moment)
    V_t = beta2 V_{t-1} + (1 - beta2) G * G                   Adam second moment, for grafting only
    L_t = beta2 L_{t-1} + (1 - beta2) G G^T                   left statistic  (m x m)
    R_t = beta2 R_{t-1} + (1 - beta2) G^T G                   right statistic (n x n)
    M^ = M_t / (1 - beta1^t),  V^ = V_t / (1 - beta2^t),  L^, R^ likewise with beta2
    D  = (L^ + eps I)^{-1/(2p)} M^ (R^ + eps I)^{-1/(2q)},    1/p + 1/q = 1
    A  = M^ / (sqrt(V^) + graft_eps)                          the AdamW direction
    W <- W (1 - lr wd) - lr (||A||_F / ||D||_F) D             decoupled decay, Adam-grafted step size

Two-sided preconditioning takes p = q = 2 (exponent -1/4 on each side, the
original Shampoo); one-sided takes p = 1, q = infinity (exponent -1/2 on one
side, the other the identity). This is the family that "Shampoo, one-sided and
two-sided, converges in nuclear norm" (arXiv 2601.07326) analyses; the AdamW-
style moments, bias correction and grafting follow the Distributed Shampoo
submission that won AlgoPerf's external-tuning track (Shi et al., arXiv 2309.06497).

The inverse roots come from a symmetric eigendecomposition in float64, recomputed
every `precondition_frequency` steps (and at the first step). When it fails or
returns non-finite values the previous root is kept (the identity before the
first success) and a warning names the parameter and the step. A side longer
than `max_precond_dim` stays the identity; the other side keeps its exponent.
Tensors of order 3 or more are reshaped to (shape[0], prod(shape[1:])); 1-D
parameters (biases, norm gains) get plain AdamW.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterable
from typing import Any, Literal

import torch
from torch.optim import Optimizer

logger = logging.getLogger(__name__)

Preconditioning = Literal["two_sided", "one_sided", "left", "right"]
PRECONDITIONING = ("two_sided", "one_sided", "left", "right")


def check_betas(betas: tuple[float, float]) -> None:
    """Raise ValueError unless both betas lie in [0, 1)."""
    for index, beta in enumerate(betas):
        if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
            raise ValueError(f"invalid betas[{index}] = {beta!r}; the allowed range is [0, 1)")


def check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0.0):
        raise ValueError(f"invalid {name} = {value!r}; it must be a finite number > 0")


def check_non_negative(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0.0):
        raise ValueError(f"invalid {name} = {value!r}; it must be a finite number >= 0")


def matrix_inverse_root(statistic: torch.Tensor, exponent: float, epsilon: float) -> torch.Tensor:
    """Return (S + epsilon I)^(-exponent) of a symmetric PSD matrix S by eigendecomposition in float64.

    Eigenvalues below zero (rounding) are clipped to zero before epsilon is added.
    NOTE: the float64 decomposition keeps the roots accurate but costs the most time; with roots
    every 10 steps on the default GPT, two-sided Shampoo's mean step is above 1.5x AdamW's on two cores.
    Raises torch.linalg.LinAlgError when the decomposition fails and ValueError
    when it returns non-finite values.
    """
    matrix = statistic.to(torch.float64)
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    if not (torch.isfinite(eigenvalues).all() and torch.isfinite(eigenvectors).all()):
        raise ValueError("eigendecomposition returned non-finite values")
    scaled = (eigenvalues.clamp_min(0.0) + epsilon).pow(-exponent)
    root = (eigenvectors * scaled) @ eigenvectors.T
    if not torch.isfinite(root).all():
        raise ValueError("inverse root is not finite")
    return root.to(statistic.dtype)


def side_exponents(shape: tuple[int, int], preconditioning: str, max_precond_dim: int) -> tuple[float | None, float | None]:
    """Return the root exponents 1/(2p) and 1/(2q) of the left and right sides, None for an identity side."""
    m, n = shape
    if preconditioning == "two_sided":
        left, right = 0.25, 0.25
    elif preconditioning == "left" or (preconditioning == "one_sided" and m <= n):
        left, right = 0.5, None
    else:
        left, right = None, 0.5
    if left is not None and m > max_precond_dim:
        left = None
    if right is not None and n > max_precond_dim:
        right = None
    return left, right


class Shampoo(Optimizer):
    """AdamW-style Shampoo (see the module docstring for the update).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0).
        betas: (beta1, beta2) for the momentum and for the second moment and Kronecker statistics, in [0, 1).
        epsilon: added to the statistics' eigenvalues before the inverse root (> 0).
        weight_decay: decoupled weight decay (>= 0), applied as W <- W (1 - lr wd).
        preconditioning: "two_sided" (p = q = 2), "one_sided" (the smaller side, p = 1), "left" or "right".
        precondition_frequency: steps between inverse-root recomputations (>= 1).
        max_precond_dim: a side longer than this stays the identity (>= 1).
        graft_epsilon: epsilon of the Adam grafting direction and of the 1-D AdamW update (> 0).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        preconditioning: Preconditioning = "two_sided",
        precondition_frequency: int = 10,
        max_precond_dim: int = 1024,
        graft_epsilon: float = 1e-8,
    ) -> None:
        check_non_negative("lr", lr)
        check_betas(betas)
        check_positive("epsilon", epsilon)
        check_non_negative("weight_decay", weight_decay)
        check_positive("graft_epsilon", graft_epsilon)
        if preconditioning not in PRECONDITIONING:
            raise ValueError(f"invalid preconditioning = {preconditioning!r}; allowed: {', '.join(PRECONDITIONING)}")
        if not (isinstance(precondition_frequency, int) and precondition_frequency >= 1):
            raise ValueError(f"invalid precondition_frequency = {precondition_frequency!r}; it must be an integer >= 1")
        if not (isinstance(max_precond_dim, int) and max_precond_dim >= 1):
            raise ValueError(f"invalid max_precond_dim = {max_precond_dim!r}; it must be an integer >= 1")
        defaults = dict(lr=lr, betas=tuple(betas), epsilon=epsilon, weight_decay=weight_decay,
                        preconditioning=preconditioning, precondition_frequency=precondition_frequency,
                        max_precond_dim=max_precond_dim, graft_epsilon=graft_epsilon)
        super().__init__(params, defaults)
        self.root_seconds = 0.0  # wall time spent in inverse roots, for benchmarks
        self.root_failures = 0

    def _init_state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[param]
        state["step"] = torch.tensor(0.0)
        state["exp_avg"] = torch.zeros_like(param)
        state["exp_avg_sq"] = torch.zeros_like(param)
        if param.dim() >= 2:
            shape = (param.shape[0], param.numel() // param.shape[0])
            left, right = side_exponents(shape, group["preconditioning"], group["max_precond_dim"])
            for side, exponent, size in (("left", left, shape[0]), ("right", right, shape[1])):
                if exponent is not None:
                    state[f"{side}_stat"] = torch.zeros(size, size, dtype=param.dtype)
                    state[f"{side}_root"] = torch.eye(size, dtype=param.dtype)
        return state

    def _refresh_root(self, state: dict[str, Any], side: str, exponent: float, bias: float,
                      epsilon: float, step: int, name: str) -> None:
        started = time.perf_counter()
        try:
            state[f"{side}_root"] = matrix_inverse_root(state[f"{side}_stat"] / bias, exponent, epsilon)
        except (torch.linalg.LinAlgError, ValueError, RuntimeError) as exc:
            self.root_failures += 1
            message = f"Shampoo: {side} inverse root of parameter {name} failed at step {step} ({exc}); keeping the previous root"
            logger.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        self.root_seconds += time.perf_counter() - started

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - signature fixed by torch.optim.Optimizer
        """Perform one optimisation step; return the closure's loss when a closure is given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group_index, group in enumerate(self.param_groups):
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            for param_index, param in enumerate(group["params"]):
                if param.grad is None:
                    continue
                grad = param.grad
                if grad.is_sparse:
                    raise RuntimeError("Shampoo does not support sparse gradients")
                state = self.state[param] if self.state[param] else self._init_state(param, group)
                state["step"] += 1
                step = int(state["step"].item())
                bias1 = 1.0 - beta1**step
                bias2 = 1.0 - beta2**step

                # M <- beta1 M + (1 - beta1) G ;  V <- beta2 V + (1 - beta2) G^2
                state["exp_avg"].lerp_(grad, 1.0 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                adam = (state["exp_avg"] / bias1) / ((state["exp_avg_sq"] / bias2).sqrt() + group["graft_epsilon"])

                # Decoupled weight decay: W <- W (1 - lr wd)
                if wd:
                    param.mul_(1.0 - lr * wd)

                if param.dim() < 2:
                    param.add_(adam, alpha=-lr)
                    continue

                # L <- beta2 L + (1 - beta2) G G^T ;  R <- beta2 R + (1 - beta2) G^T G
                matrix = grad.reshape(param.shape[0], -1)  # m x n
                shape = (matrix.shape[0], matrix.shape[1])
                left, right = side_exponents(shape, group["preconditioning"], group["max_precond_dim"])
                if left is not None:
                    state["left_stat"].mul_(beta2).add_(matrix @ matrix.T, alpha=1.0 - beta2)
                if right is not None:
                    state["right_stat"].mul_(beta2).add_(matrix.T @ matrix, alpha=1.0 - beta2)

                # Roots of the bias-corrected statistics, every precondition_frequency steps.
                if step == 1 or step % group["precondition_frequency"] == 0:
                    name = f"group {group_index} index {param_index} shape {tuple(param.shape)}"
                    for side, exponent in (("left", left), ("right", right)):
                        if exponent is not None:
                            self._refresh_root(state, side, exponent, bias2, group["epsilon"], step, name)

                # D = L^{-1/(2p)} M^ R^{-1/(2q)}, rescaled to the Frobenius norm of the AdamW direction.
                direction = state["exp_avg"].reshape(shape) / bias1
                if left is not None:
                    direction = state["left_root"] @ direction
                if right is not None:
                    direction = direction @ state["right_root"]
                direction_norm = direction.norm()
                if direction_norm > 0:
                    direction = direction * (adam.norm() / direction_norm)
                param.add_(direction.reshape(param.shape), alpha=-lr)
        return loss
