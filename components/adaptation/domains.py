"""Intermediate domains between source and target: along the E-SUOT map, or along a discrete OT plan (GOAT).

Both generators place K domains at t_k = k / (K + 1), k = 1..K, on straight lines between a
source point x and its image, x_k = (1 - t_k) x + t_k y (displacement interpolation). For E-SUOT
the image is y = T(x) of the learned map and each point carries the mass that the relaxed
marginal keeps there. For GOAT (He et al., "Gradual Domain Adaptation: Theory and Algorithms",
2023) the pairs (x_i, y_j) are the support of the exact OT plan between the empirical measures,
computed with POT's `ot.emd`, each weighted by its plan mass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.adaptation.esuot import ESUOTResult, check_pair
from components.errors import InputError


@dataclass
class GeneratedDomains:
    """K generated domains: `features[k]` is (N, d), `weights[k]` is (N,) with mean 1."""

    features: list[np.ndarray]
    weights: list[np.ndarray]
    times: list[float]


def interpolation_times(k: int) -> list[float]:
    """Return t_k = k / (K + 1) for k = 1..K; raise InputError when K < 1."""
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"the number of intermediate domains K is {k}; it must be an integer of at least 1",
                         field="domains.k", hint="Set K to 1 or more, or use a method without generated domains")
    return [step / (k + 1) for step in range(1, k + 1)]


def _normalised(weights: np.ndarray) -> np.ndarray:
    total = float(weights.mean())
    return weights / total if total > 0 else np.ones_like(weights)


def esuot_domains(model: ESUOTResult, source: np.ndarray, k: int) -> GeneratedDomains:
    """Generate K domains along the learned map, x_k = (1 - t_k) x + t_k T(x), weighted by the kept mass."""
    times = interpolation_times(k)
    check_pair(source, model.target.numpy())
    image = model.transport(source)
    weights = _normalised(model.source_weights(source).astype(np.float64))
    features = [((1 - t) * source + t * image).astype(np.float32) for t in times]
    return GeneratedDomains(features, [weights] * k, times)


def ot_plan(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Return the exact OT plan (N, M) between uniform empirical measures with squared Euclidean cost (POT)."""
    import ot

    check_pair(source, target)
    a = np.full(len(source), 1.0 / len(source))
    b = np.full(len(target), 1.0 / len(target))
    return ot.emd(a, b, ot.dist(source.astype(np.float64), target.astype(np.float64), metric="sqeuclidean"))


def goat_domains(source: np.ndarray, target: np.ndarray, k: int) -> GeneratedDomains:
    """Generate K domains on the segments between the pairs that the discrete OT plan couples."""
    times = interpolation_times(k)
    plan = ot_plan(source, target)
    rows, cols = np.nonzero(plan > 1e-12)
    weights = _normalised(plan[rows, cols])
    features = [((1 - t) * source[rows] + t * target[cols]).astype(np.float32) for t in times]
    return GeneratedDomains(features, [weights] * k, times)


def barycentric_map(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Return the barycentric projection of the discrete OT plan, T(x_i) = sum_j P_ij y_j / sum_j P_ij."""
    plan = ot_plan(source, target)
    return (plan @ target) / plan.sum(1, keepdims=True)
