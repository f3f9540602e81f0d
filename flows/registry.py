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


FLOWS: dict[str, FlowSpec] = {
    "proof-rm": FlowSpec(
        flow="flows.proof_rm:proof_rm",
        config="flows.config:ProofRMConfig",
        description="proof-checking reward model from generated, reviewed triplets",
        stages=PROOF_RM_STAGES,
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
