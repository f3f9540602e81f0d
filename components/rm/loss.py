"""Class- and length-balanced loss for the outcome and process heads.

Outcome loss (one term per proof b with label y_b, 1 = correct):

    L_o = sum_b w[y_b] * BCE(o_b, y_b) / sum_b w[y_b],   w[c] = N / (2 N_c)

Process loss (steps i of proof b with known labels r_bi, n_b of them):

    a_bi = v[r_bi] / n_b
    L_p  = sum_bi a_bi * BCE(p_bi, r_bi) / sum_bi a_bi

Dividing by n_b gives each proof the same total weight, so long proofs do
not dominate the step loss; v[r] = (M_0 + M_1) / (2 M_r), with M_r the
proof-normalised count sum_b #{i: r_bi = r} / n_b over the training set,
balances erroneous steps (rare) against correct ones. The total is
L = L_o + lambda * L_p. Proof-RM (arXiv 2602.02377) balances token weights
in the same spirit; here the unit is a step because the process head scores
steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ClassWeights:
    """w[c] for proof labels and v[r] for step labels, indexed by label (0 = incorrect, 1 = correct)."""

    outcome: tuple[float, float]
    step: tuple[float, float]


def balanced_weights(counts: Sequence[float]) -> tuple[float, float]:
    """Return (total / (2 * counts[0]), total / (2 * counts[1])); an absent class gets weight 0."""
    total = float(sum(counts))
    return tuple(total / (2.0 * c) if c > 0 else 0.0 for c in counts)  # type: ignore[return-value]


def fit_class_weights(
    outcome_labels: Sequence[int], step_labels: Sequence[Sequence[int] | None]
) -> ClassWeights:
    """Compute class weights from training labels; step label lists may be None (unknown)."""
    outcome_counts = [sum(1 for y in outcome_labels if y == c) for c in (0, 1)]
    step_counts = [0.0, 0.0]
    for labels in step_labels:
        if not labels:
            continue
        for r in labels:
            step_counts[r] += 1.0 / len(labels)
    return ClassWeights(balanced_weights(outcome_counts), balanced_weights(step_counts))


def reward_loss(
    outcome_logits: torch.Tensor,
    process_logits: torch.Tensor,
    outcome_labels: torch.Tensor,
    step_labels: torch.Tensor,
    step_label_mask: torch.Tensor,
    weights: ClassWeights,
    process_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Return the balanced loss and its parts.

    Shapes: outcome_logits (B,), process_logits (B, S), outcome_labels (B,),
    step_labels (B, S) in {0, 1}, step_label_mask (B, S) bool.
    """
    # Outcome term, class-weighted.
    w = torch.tensor(weights.outcome, device=outcome_logits.device)[outcome_labels.long()]
    outcome_terms = F.binary_cross_entropy_with_logits(outcome_logits, outcome_labels.float(), reduction="none")
    outcome_loss = (w * outcome_terms).sum() / w.sum().clamp(min=1e-12)

    # Process term: per-proof normalisation times step-class weight.
    mask = step_label_mask.float()
    steps_per_proof = mask.sum(1, keepdim=True).clamp(min=1.0)  # (B, 1)
    v = torch.tensor(weights.step, device=process_logits.device)[step_labels.long()]
    a = v * mask / steps_per_proof  # (B, S)
    process_terms = F.binary_cross_entropy_with_logits(process_logits, step_labels.float(), reduction="none")
    if a.sum() > 0:
        process_loss = (a * process_terms).sum() / a.sum()
    else:
        process_loss = process_logits.sum() * 0.0

    total = outcome_loss + process_weight * process_loss
    return total, {"loss_outcome": float(outcome_loss.detach()), "loss_process": float(process_loss.detach())}
