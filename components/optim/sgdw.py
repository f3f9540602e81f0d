"""Momentum SGD with decoupled weight decay (mSGDW).

    m_t = mu m_{t-1} + g_t                       (heavy-ball momentum, no dampening)
    d_t = g_t + mu m_t   if nesterov else m_t
    w_t = w_{t-1} (1 - lr wd) - lr d_t           (decay decoupled from the gradient, as in AdamW)

Decoupling follows Loshchilov and Hutter, "Decoupled Weight Decay Regularization"
(ICLR 2019): the decay is not folded into g, so momentum never accumulates it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from components.optim.shampoo import check_non_negative


class MSGDW(Optimizer):
    """Momentum SGD with decoupled weight decay.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0).
        momentum: mu in [0, 1).
        weight_decay: decoupled decay (>= 0), applied as w <- w (1 - lr wd).
        nesterov: use the Nesterov form of the momentum direction.
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.1, momentum: float = 0.9,
                 weight_decay: float = 0.0, *, nesterov: bool = False) -> None:
        check_non_negative("lr", lr)
        if not (isinstance(momentum, (int, float)) and 0.0 <= momentum < 1.0):
            raise ValueError(f"invalid momentum = {momentum!r}; the allowed range is [0, 1)")
        check_non_negative("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - signature fixed by torch.optim.Optimizer
        """Perform one optimisation step; return the closure's loss when a closure is given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param)
                buffer = state["momentum_buffer"]

                # m <- mu m + g ;  w <- w (1 - lr wd) - lr d
                buffer.mul_(mu).add_(grad)
                direction = grad.add(buffer, alpha=mu) if group["nesterov"] else buffer
                if wd:
                    param.mul_(1.0 - lr * wd)
                param.add_(direction, alpha=-lr)
        return loss
