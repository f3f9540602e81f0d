"""Training loop for the proof reward model."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from components.errors import InputError
from components.proofs.schema import Triplet
from components.rm.loss import ClassWeights, fit_class_weights, reward_loss
from components.rm.metrics import best_threshold, classification_metrics
from components.rm.model import ProofRewardModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One training proof: label 1 = correct; step_labels 1 = correct step, None when unknown."""

    question: str
    steps: tuple[str, ...]
    label: int
    step_labels: tuple[int, ...] | None


def example_from_triplet(triplet: Triplet) -> Example:
    """Build an Example from the reviewed label; step labels are known for correct proofs and typed errors."""
    label = 1 if triplet.final_label == "correct" else 0
    if label == 1:
        step_labels: tuple[int, ...] | None = tuple(1 for _ in triplet.steps)
    elif triplet.error_steps:
        wrong = set(triplet.error_steps)
        step_labels = tuple(0 if i in wrong else 1 for i in range(1, len(triplet.steps) + 1))
    else:
        step_labels = None
    return Example(triplet.question, tuple(triplet.steps), label, step_labels)


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of `train_reward_model`."""

    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    encoder_lr: float = 2e-5
    weight_decay: float = 0.01
    process_weight: float = 0.5
    grad_clip: float = 1.0
    seed: int = 0


@dataclass
class TrainResult:
    """History of per-epoch metrics, the selected epoch and its decision threshold."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    threshold: float = 0.5
    class_weights: ClassWeights | None = None


def _tensors(examples: Sequence[Example], longest: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    outcome = torch.tensor([e.label for e in examples], dtype=torch.float32)
    steps = torch.ones(len(examples), longest)
    known = torch.zeros(len(examples), longest, dtype=torch.bool)
    for row, example in enumerate(examples):
        if example.step_labels is not None:
            n = len(example.step_labels)
            steps[row, :n] = torch.tensor(example.step_labels, dtype=torch.float32)
            known[row, :n] = True
    return outcome, steps, known


def train_reward_model(
    model: ProofRewardModel,
    train: Sequence[Example],
    val: Sequence[Example],
    settings: TrainSettings,
    *,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train the heads (and any unfrozen encoder layers); keep the epoch with the best validation AUROC.

    The model is left holding the weights of the best epoch. With a frozen
    encoder every text is embedded once up front, so epochs cost only the
    aggregator.
    """
    if not train:
        raise InputError("the training split is empty", field="train", hint="Add problems or lower the test fraction")
    if len({e.label for e in train}) < 2:
        raise InputError(
            "the training split holds only one class; the reward model needs correct and incorrect proofs",
            field="train",
        )
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    result = TrainResult(class_weights=fit_class_weights([e.label for e in train], [e.step_labels for e in train]))

    # Embed every text once when the encoder is frozen.
    if model.encoder.trainable_layers == 0:
        texts = [t for e in (*train, *val) for t in (e.question, *e.steps)]
        logger.info("embedding %d texts with the frozen encoder", len(texts))
        model.encoder.token_states(texts, cache=True, progress=progress)

    # Optimiser: heads at lr, unfrozen encoder layers at encoder_lr.
    groups = [{"params": list(model.aggregator.parameters()), "lr": settings.lr}]
    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    if encoder_params:
        groups.append({"params": encoder_params, "lr": settings.encoder_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=settings.weight_decay)

    best_state: dict[str, torch.Tensor] | None = None
    generator = random.Random(settings.seed)
    for epoch in range(1, settings.epochs + 1):
        model.train()
        order = list(range(len(train)))
        generator.shuffle(order)
        totals = {"loss": 0.0, "loss_outcome": 0.0, "loss_process": 0.0}
        batches = range(0, len(order), settings.batch_size)
        for start in tqdm(batches, desc=f"epoch {epoch}/{settings.epochs}", unit="batch", disable=not progress):
            chunk = [train[i] for i in order[start : start + settings.batch_size]]
            batch = model.batch([(e.question, e.steps) for e in chunk])
            outcome_labels, step_labels, known = _tensors(chunk, batch.step_mask.shape[1])
            outcome_logits, process_logits = model(batch)
            loss, parts = reward_loss(
                outcome_logits, process_logits, outcome_labels, step_labels, known,
                result.class_weights, settings.process_weight,
            )
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {float(loss.detach())} at epoch {epoch}, batch {start // settings.batch_size}; lower lr")

            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], settings.grad_clip)
            optimizer.step()

            totals["loss"] += float(loss.detach()) * len(chunk)
            for key, value in parts.items():
                totals[key] += value * len(chunk)

        # Validation: select the epoch by AUROC, which does not depend on a threshold.
        metrics = {key: value / len(train) for key, value in totals.items()}
        if val:
            scores = [s.outcome for s in model.score([(e.question, e.steps) for e in val])]
            labels = [e.label for e in val]
            threshold = best_threshold(labels, scores)
            val_metrics = classification_metrics(labels, scores, threshold=threshold)
            metrics.update({f"val_{k}": v for k, v in val_metrics.items()})
            selection = val_metrics["auroc"] if not math.isnan(val_metrics["auroc"]) else -metrics["loss"]
        else:
            threshold, selection = 0.5, -metrics["loss"]
        result.history.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

        if selection > result.best_score:
            result.best_score, result.best_epoch, result.threshold = selection, epoch, threshold
            best_state = {
                key: value.detach().clone()
                for key, value in model.state_dict().items()
                if key.startswith("aggregator.") or encoder_params  # encoder weights only when trained
            }

    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.threshold = result.threshold
    model.eval()
    return result
