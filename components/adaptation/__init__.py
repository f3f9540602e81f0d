"""Gradual domain adaptation: E-SUOT intermediate domains, GOAT and GST baselines, self-training, data sets."""

from components.adaptation.data import DomainData, load_arrays, rotated_moons, rotating_digits
from components.adaptation.domains import GeneratedDomains, esuot_domains, goat_domains
from components.adaptation.esuot import ESUOTResult, ESUOTSettings, fit_esuot, semi_dual_objective
from components.adaptation.methods import METHODS, adapt_and_evaluate, build_domains
from components.adaptation.selftrain import TrainSettings, gradual_self_train

__all__ = [
    "METHODS",
    "DomainData",
    "ESUOTResult",
    "ESUOTSettings",
    "GeneratedDomains",
    "TrainSettings",
    "adapt_and_evaluate",
    "build_domains",
    "esuot_domains",
    "fit_esuot",
    "goat_domains",
    "gradual_self_train",
    "load_arrays",
    "rotated_moons",
    "rotating_digits",
    "semi_dual_objective",
]
