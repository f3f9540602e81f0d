"""The pipelines the command line knows: where each flow and its config model live, and its stages.

Modules are named by import path and imported only when a pipeline is used,
so listing pipelines or rejecting a bad setting stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from components.errors import InputError
from flows.config import STAGES as PROOF_RM_STAGES


@dataclass(frozen=True)
class FlowSpec:
    """One pipeline: its flow function and config model as `module:attribute`, and its stage names."""

    flow: str
    config: str
    description: str
    stages: tuple[str, ...]
    # `module:attribute` of a check that `reprolab run` calls with the config before the
    # flow starts, so that an unusable setting fails in a second instead of mid-run.
    preflight: str | None = None


FLOWS: dict[str, FlowSpec] = {
    "proof-rm": FlowSpec(
        flow="flows.proof_rm:proof_rm",
        config="flows.config:ProofRMConfig",
        description="proof-checking reward model from generated, reviewed triplets",
        stages=PROOF_RM_STAGES,
        preflight="flows.proof_rm:check_review_store",
    ),
    "online-learning": FlowSpec(
        flow="flows.online_learning:online_learning",
        config="flows.online_learning_config:OnlineLearningConfig",
        description="partial-feedback online learning: exact PFLdim, optimal learners and their regret",
        # A test checks that these equal STAGES in flows.online_learning_config.
        stages=("sample", "dimensions", "play", "separation", "version", "report"),
    ),
    "optimizers": FlowSpec(
        flow="flows.optimizers:optimizers",
        config="flows.optimizers_config:OptimizersConfig",
        description="AdamW, Shampoo and mSGDW under budgeted schedules (UBA, cosine, ...) on DNT and vanilla models",
        # Written out because importing flows.optimizers_config loads torch; a test checks it equals STAGES there.
        stages=("data", "version", "grid", "report"),
    ),
    "symmetry": FlowSpec(
        flow="flows.symmetry:symmetry",
        config="flows.symmetry_config:SymmetryConfig",
        description="LieNLSD: Lie point symmetries of heat, Burgers, KdV, wave and lambda-omega from simulated data",
        # Written out so listing flows does not import the config; a test checks it equals SYMMETRY_STAGES.
        stages=("simulate", "version", "fit", "system", "svd", "sparsify", "compare"),
    ),
    "domain-adaptation": FlowSpec(
        flow="flows.domain_adaptation:domain_adaptation",
        config="flows.domain_adaptation_config:DomainAdaptationConfig",
        description="E-SUOT gradual domain adaptation through generated intermediate domains, with baselines",
        # A test checks that these equal STAGES in flows.domain_adaptation_config.
        stages=("load", "encode", "build", "self_train", "evaluate"),
    ),
    "imputation": FlowSpec(
        flow="flows.imputation:imputation",
        config="flows.imputation_config:ImputationConfig",
        description="SPIRIT time-series imputation with semi-proximal transport, against mean, LOCF, linear, PSW and CSDI-style diffusion",
        # A test checks that these equal STAGES in flows.imputation_config.
        stages=("load", "mask", "train", "impute", "evaluate", "report"),
    ),
}


def flow_spec(name: str) -> FlowSpec:
    if name not in FLOWS:
        raise InputError(f"unknown flow '{name}'; available: {', '.join(sorted(FLOWS))}", field="FLOW")
    return FLOWS[name]


def load_attribute(path: str) -> Any:
    """Import `module:attribute` and return the attribute."""
    module, _, attribute = path.partition(":")
    return getattr(import_module(module), attribute)
