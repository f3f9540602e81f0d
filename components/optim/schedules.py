"""Learning-rate schedules for a fixed budget of T steps, each with an optional linear warmup.

Every schedule is a factor f(t) in [eta_min / eta_max, 1] that multiplies the
optimizer's base learning rate eta_max. After W warmup steps (f rises linearly
from 1/W to 1) the decay runs over the remaining T - W steps with progress
s = (t - W) / (T - W) in [0, 1]:

    constant   f = 1
    step       f = gamma^k, k = number of milestones (fractions of the decay phase) passed
    cosine     f = r + (1 - r) (1 + cos(pi s)) / 2                       with r = eta_min / eta_max
    wsd        f = 1 until s = 1 - decay_fraction, then linear to r      (warmup-stable-decay)
    uba        f = r + (1 - r) 2 (1 + cos(pi s)) / (2 phi + (2 - phi)(1 + cos(pi s)))

UBA is the Unified Budget-Aware schedule ("Unified Budget-Aware Learning Rate
Schedule", NeurIPS 2025, arXiv 2505.24452). The paper's own statement of the
formula was not available to us; the closed form above is the one used by a
public re-implementation. With u = (1 + cos(pi s)) / 2 it reads
u / (u + (phi / 2)(1 - u)): a monotone reshaping of the cosine curve by a single
parameter phi > 0, equal to 1 at s = 0 and 0 at s = 1 for every phi, equal to
the cosine schedule at phi = 2 and tending to a constant as phi -> 0. Larger phi
(a worse-conditioned problem, in the paper's reading) decays earlier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

SCHEDULES = ("constant", "step", "cosine", "wsd", "uba")


def uba_factor(progress: float, phi: float) -> float:
    """Return the UBA decay factor (0 at progress 1, 1 at progress 0) for progress in [0, 1]."""
    one_plus_cos = 1.0 + math.cos(math.pi * progress)
    return 2.0 * one_plus_cos / (2.0 * phi + (2.0 - phi) * one_plus_cos)


@dataclass(frozen=True)
class Schedule:
    """A budgeted schedule: its name, the budget T in steps and the shape parameters.

    Raises ValueError naming the value and the allowed range for an invalid setting.
    """

    name: str
    budget: int
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    phi: float = 1.0
    gamma: float = 0.1
    milestones: tuple[float, ...] = field(default=(0.5, 0.75))
    decay_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ValueError(f"invalid schedule name = {self.name!r}; allowed: {', '.join(SCHEDULES)}")
        if not (isinstance(self.budget, int) and self.budget >= 1):
            raise ValueError(f"invalid budget = {self.budget!r}; it must be an integer >= 1 (steps)")
        if not (isinstance(self.warmup_steps, int) and 0 <= self.warmup_steps < self.budget):
            raise ValueError(f"invalid warmup_steps = {self.warmup_steps!r}; the allowed range is [0, budget - 1 = {self.budget - 1}]")
        if not (0.0 <= self.min_lr_ratio <= 1.0):
            raise ValueError(f"invalid min_lr_ratio = {self.min_lr_ratio!r}; the allowed range is [0, 1]")
        if not (math.isfinite(self.phi) and self.phi > 0.0):
            raise ValueError(f"invalid phi = {self.phi!r}; it must be a finite number > 0")
        if not (0.0 < self.gamma <= 1.0):
            raise ValueError(f"invalid gamma = {self.gamma!r}; the allowed range is (0, 1]")
        if not all(0.0 < m < 1.0 for m in self.milestones):
            raise ValueError(f"invalid milestones = {self.milestones!r}; each must lie in (0, 1)")
        if not (0.0 < self.decay_fraction <= 1.0):
            raise ValueError(f"invalid decay_fraction = {self.decay_fraction!r}; the allowed range is (0, 1]")

    def progress(self, step: int) -> float:
        """Return s in [0, 1], the position of `step` (0-based) in the decay phase."""
        span = self.budget - self.warmup_steps
        return min(max(step - self.warmup_steps, 0) / span, 1.0) if span > 0 else 1.0

    def factor(self, step: int) -> float:
        """Return the multiplier of the base learning rate at `step` (0-based)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        s = self.progress(step)
        r = self.min_lr_ratio
        if self.name == "constant":
            return 1.0
        if self.name == "step":
            return self.gamma ** sum(s >= m for m in self.milestones)
        if self.name == "cosine":
            return r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * s))
        if self.name == "wsd":
            start = 1.0 - self.decay_fraction
            return 1.0 if s <= start else 1.0 - (1.0 - r) * (s - start) / self.decay_fraction
        return r + (1.0 - r) * uba_factor(s, self.phi)

    __call__ = factor

    @property
    def label(self) -> str:
        return f"uba-phi{self.phi:g}" if self.name == "uba" else self.name


def build_scheduler(optimizer: Optimizer, schedule: Schedule) -> LambdaLR:
    """Return a torch LR scheduler that sets lr = base_lr * schedule.factor(t) at step t."""
    return LambdaLR(optimizer, schedule.factor)


class UBA(LambdaLR):
    """The UBA schedule as a torch LR scheduler (see the module docstring), with optional linear warmup."""

    def __init__(self, optimizer: Optimizer, budget: int, phi: float, *, warmup_steps: int = 0,
                 min_lr_ratio: float = 0.0, last_epoch: int = -1) -> None:
        self.schedule = Schedule("uba", budget, warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio, phi=phi)
        super().__init__(optimizer, self.schedule.factor, last_epoch=last_epoch)
