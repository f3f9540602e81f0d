"""Gradual domain adaptation methods over one data set: the intermediate domains each builds, and its evaluation.

| method       | domains self-trained on, in order                                   |
|--------------|---------------------------------------------------------------------|
| source_only  | none: the source classifier is evaluated on the target              |
| self_train   | the target directly                                                 |
| gst          | the real intermediate domains, then the target (Kumar et al., 2020) |
| goat         | K domains along the discrete OT plan, then the target               |
| esuot        | K domains along the learned E-SUOT map, then the target             |
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from components.adaptation.domains import GeneratedDomains, esuot_domains, goat_domains
from components.adaptation.esuot import ESUOTSettings, fit_esuot
from components.adaptation.selftrain import (
    DomainStep,
    TrainSettings,
    accuracy,
    gradual_self_train,
    train_source,
)
from components.errors import InputError

METHODS: tuple[str, ...] = ("source_only", "self_train", "gst", "goat", "esuot")


@dataclass
class BuiltDomains:
    """The intermediate domains of one method, and what building them cost."""

    method: str
    generated: GeneratedDomains | None  # None for methods that build no domains
    seconds: float
    diagnostics: dict[str, float]
    history: list[dict[str, float]]


def build_domains(method: str, source: np.ndarray, target: np.ndarray, intermediates: list[np.ndarray], k: int,
                  esuot: ESUOTSettings) -> BuiltDomains:
    """Build the intermediate domains of `method` between source (N, d) and target (M, d) features."""
    started = time.perf_counter()
    if method in ("source_only", "self_train"):
        return BuiltDomains(method, None, 0.0, {}, [])
    if method == "gst":
        if not intermediates:
            raise InputError("the data set has no real intermediate domains, so GST cannot run", field="methods",
                             hint="Remove 'gst' from methods or give a data set with intermediate domain indices")
        generated = GeneratedDomains(list(intermediates), [np.ones(len(x)) for x in intermediates],
                                     [float(i + 1) for i in range(len(intermediates))])
        return BuiltDomains(method, generated, time.perf_counter() - started, {}, [])
    if method == "goat":
        generated = goat_domains(source, target, k)
        return BuiltDomains(method, generated, time.perf_counter() - started, {"pairs": float(len(generated.weights[0]))}, [])
    if method == "esuot":
        model = fit_esuot(source, target, esuot)
        generated = esuot_domains(model, source, k)
        image = model.transport(source)
        history = model.history
        diagnostics = {
            "objective_start": history[0]["objective"],
            "objective_end": history[-1]["objective"],
            "cost_scale": model.cost_scale,
            "mean_displacement": float(np.linalg.norm(image - source, axis=1).mean()),
            "weight_min": float(generated.weights[0].min()),
            "weight_max": float(generated.weights[0].max()),
            "diverged": float(model.diverged_at is not None),
        }
        return BuiltDomains(method, generated, time.perf_counter() - started, diagnostics, history)
    raise InputError(f"unknown method '{method}'; choose from {', '.join(METHODS)}", field="methods")


def adapt_and_evaluate(built: BuiltDomains, source: tuple[np.ndarray, np.ndarray], target_adapt: tuple[np.ndarray, np.ndarray],
                       target_test: tuple[np.ndarray, np.ndarray], n_classes: int, settings: TrainSettings,
                       keep: dict | None = None) -> dict[str, float]:
    """Train on the source, self-train through the method's domains and the target, and return accuracies.

    Target labels are only read to compute `target_accuracy` (adaptation samples, transductive) and
    `target_test_accuracy` (held-out target samples). When `keep` is a dict, the adapted
    classifier is stored in it under "model".
    """
    model = train_source(source[0], source[1], n_classes, settings)
    metrics = {"source_accuracy": accuracy(model, *source),
               "target_accuracy_before": accuracy(model, *target_adapt),
               "target_test_accuracy_before": accuracy(model, *target_test)}
    steps: list[DomainStep] = []
    if built.generated is not None:
        steps += [DomainStep(f"domain_{i + 1}", x, w) for i, (x, w) in
                  enumerate(zip(built.generated.features, built.generated.weights))]
    if built.method != "source_only":
        steps.append(DomainStep("target", target_adapt[0]))

    started = time.perf_counter()
    log = gradual_self_train(model, steps, settings)
    metrics["self_train_seconds"] = time.perf_counter() - started
    metrics["target_accuracy"] = accuracy(model, *target_adapt)
    metrics["target_test_accuracy"] = accuracy(model, *target_test)
    metrics["domains"] = float(len(steps))
    if log:
        metrics["final_mean_confidence"] = log[-1]["mean_confidence"]
    if keep is not None:
        keep["model"] = model
    return metrics
