"""One budgeted training run: build the model and the optimizer, train for T steps, record curves and diagnostics.

A run never raises on divergence: when the training loss turns NaN or infinite
it stops, records the step in `diverged_step` and returns what it has, so a grid
of runs goes on.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import AdamW, Optimizer

from components.models.transformer import GPT, MLP, TransformerConfig, ViT, count_parameters
from components.optim.data import CharCorpus, ImageSplit
from components.optim.schedules import Schedule, build_scheduler
from components.optim.sgdw import MSGDW
from components.optim.shampoo import Shampoo
from components.optim.stats import excess_kurtosis, hill_tail_index

logger = logging.getLogger(__name__)

MODELS = ("gpt-dnt", "gpt-vanilla", "vit-dnt", "vit-vanilla", "mlp")
OPTIMIZERS = ("adamw", "shampoo2", "shampoo1", "msgdw")


@dataclass(frozen=True)
class OptimizerSettings:
    """Hyperparameters shared by the optimizers; `lr` is the peak learning rate eta_max."""

    lr: float
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    epsilon: float = 1e-8
    momentum: float = 0.9
    precondition_frequency: int = 10
    max_precond_dim: int = 256


@dataclass(frozen=True)
class ModelSettings:
    """Sizes of the models; GPT and ViT share the transformer sizes."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    mlp_hidden: int = 128
    mlp_layers: int = 2
    patch_size: int = 2


@dataclass
class RunResult:
    """Curves and summary of one run. `val` contains one dict per evaluation, with its `step`."""

    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val: list[dict[str, float]] = field(default_factory=list)
    grad_tail: list[dict[str, float]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    diverged_step: int | None = None
    n_parameters: int = 0
    root_seconds: float = 0.0
    root_failures: int = 0

    def summary(self) -> dict[str, float]:
        """Return flat final metrics: last validation values, tail statistics and the median step time."""
        out: dict[str, float] = {"steps_done": float(len(self.train_loss)), "n_parameters": float(self.n_parameters)}
        finite_val = [v for v in self.val if all(math.isfinite(x) for x in v.values())]
        if finite_val:
            out.update({f"final_{k}": v for k, v in finite_val[-1].items() if k != "step"})
        if self.grad_tail:
            for key in ("kurtosis", "tail_index"):
                values = [g[key] for g in self.grad_tail if math.isfinite(g[key])]
                out[f"grad_{key}"] = float(np.median(values)) if values else math.nan
        out["seconds_per_step"] = statistics.median(self.step_seconds) if self.step_seconds else math.nan
        out["root_seconds"] = self.root_seconds
        out["diverged"] = float(self.diverged_step is not None)
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(name: str, settings: ModelSettings, *, vocab_size: int = 0, seq_len: int = 0,
                image_size: int = 8, n_classes: int = 10) -> nn.Module:
    """Return a freshly initialised model by grid name (see MODELS)."""
    if name not in MODELS:
        raise ValueError(f"invalid model = {name!r}; allowed: {', '.join(MODELS)}")
    if name == "mlp":
        return MLP(image_size * image_size, settings.mlp_hidden, settings.mlp_layers, n_classes)
    family, layout = name.split("-")
    config = TransformerConfig(layout=layout, d_model=settings.d_model, n_layers=settings.n_layers,
                               n_heads=settings.n_heads, max_len=max(seq_len, 1), vocab_size=max(vocab_size, 1))
    if family == "gpt":
        return GPT(config)
    return ViT(config, image_size=image_size, patch_size=settings.patch_size, n_classes=n_classes)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices and embeddings only; biases and norm gains (1-D) get no weight decay."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(name: str, model: nn.Module, settings: OptimizerSettings) -> Optimizer:
    """Return the optimizer by grid name: adamw, shampoo2 (two-sided), shampoo1 (one-sided) or msgdw."""
    groups = parameter_groups(model, settings.weight_decay)
    if name == "adamw":
        return AdamW(groups, lr=settings.lr, betas=settings.betas, eps=settings.epsilon)
    if name in ("shampoo2", "shampoo1"):
        return Shampoo(groups, lr=settings.lr, betas=settings.betas, epsilon=settings.epsilon,
                       preconditioning="two_sided" if name == "shampoo2" else "one_sided",
                       precondition_frequency=settings.precondition_frequency,
                       max_precond_dim=settings.max_precond_dim)
    if name == "msgdw":
        return MSGDW(groups, lr=settings.lr, momentum=settings.momentum)
    raise ValueError(f"invalid optimizer = {name!r}; allowed: {', '.join(OPTIMIZERS)}")


# Tasks: a batch sampler and an evaluation per data set.


def text_task(corpus: CharCorpus, seq_len: int, batch_size: int, eval_windows: int, seed: int):
    """Return (sample(step) -> (x, y), evaluate(model) -> {"val_loss"}) for next-character prediction."""
    train = torch.from_numpy(corpus.train)
    val = torch.from_numpy(corpus.val)
    generator = torch.Generator().manual_seed(seed)
    starts_val = torch.linspace(0, len(val) - seq_len - 1, eval_windows).long()
    val_x = torch.stack([val[s : s + seq_len] for s in starts_val])
    val_y = torch.stack([val[s + 1 : s + seq_len + 1] for s in starts_val])

    def sample(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(0, len(train) - seq_len - 1, (batch_size,), generator=generator)
        x = torch.stack([train[s : s + seq_len] for s in starts])  # B, T
        y = torch.stack([train[s + 1 : s + seq_len + 1] for s in starts])
        return x, y

    @torch.no_grad()
    def evaluate(model: nn.Module) -> dict[str, float]:
        losses = []
        for start in range(0, len(val_x), batch_size):
            logits = model(val_x[start : start + batch_size])
            losses.append(F.cross_entropy(logits.flatten(0, 1), val_y[start : start + batch_size].flatten(), reduction="sum"))
        return {"val_loss": float(torch.stack(losses).sum()) / val_y.numel()}

    return sample, evaluate


def image_task(split: ImageSplit, batch_size: int, seed: int):
    """Return (sample, evaluate) for image classification; evaluate gives val_loss and val_accuracy."""
    train_x, train_y = torch.from_numpy(split.train_x), torch.from_numpy(split.train_y)
    val_x, val_y = torch.from_numpy(split.val_x), torch.from_numpy(split.val_y)
    generator = torch.Generator().manual_seed(seed)

    def sample(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(0, len(train_x), (batch_size,), generator=generator)
        return train_x[index], train_y[index]

    @torch.no_grad()
    def evaluate(model: nn.Module) -> dict[str, float]:
        logits = model(val_x)
        return {"val_loss": float(F.cross_entropy(logits, val_y)),
                "val_accuracy": float((logits.argmax(-1) == val_y).float().mean())}

    return sample, evaluate


def loss_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(x)
    return F.cross_entropy(logits.flatten(0, -2) if logits.dim() > 2 else logits, y.flatten())


def gradient_tail(model: nn.Module) -> dict[str, float]:
    """Return kurtosis and Hill tail index of all gradient entries, pooled over parameters."""
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return {"kurtosis": excess_kurtosis(grads), "tail_index": hill_tail_index(grads)}


def train_run(
    model: nn.Module,
    optimizer: Optimizer,
    schedule: Schedule,
    sample: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    evaluate: Callable[[nn.Module], dict[str, float]],
    *,
    eval_every: int,
    grad_clip: float | None = None,
    progress: bool = False,
) -> RunResult:
    """Train for schedule.budget steps; evaluate every `eval_every` steps and at the end.

    Each training step (forward, backward, clip, optimizer and scheduler step) is
    timed on its own; evaluation and gradient statistics are outside the timing.
    """
    scheduler = build_scheduler(optimizer, schedule)
    result = RunResult(n_parameters=count_parameters(model))
    steps = range(schedule.budget)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="train", leave=False)

    model.train()
    for step in steps:
        started = time.perf_counter()
        x, y = sample(step)
        loss = loss_of(model, x, y)
        value = float(loss.detach())

        # Stop a diverged run and record where it happened.
        if not math.isfinite(value):
            result.diverged_step = step
            logger.warning("training loss is %s at step %d; stopping this run", value, step)
            break

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        elapsed = time.perf_counter() - started

        # Tail statistics of the (clipped) gradient, outside the timed region.
        evaluating = (step + 1) % eval_every == 0 or step + 1 == schedule.budget
        if evaluating:
            result.grad_tail.append({"step": step + 1, **gradient_tail(model)})

        started = time.perf_counter()
        result.lr.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        result.step_seconds.append(elapsed + time.perf_counter() - started)
        result.train_loss.append(value)

        if evaluating:
            model.eval()
            result.val.append({"step": step + 1, **evaluate(model)})
            model.train()

    result.root_seconds = getattr(optimizer, "root_seconds", 0.0)
    result.root_failures = getattr(optimizer, "root_failures", 0)
    return result
