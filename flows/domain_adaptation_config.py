"""Configuration of the domain-adaptation pipeline (E-SUOT gradual domain adaptation and its baselines)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from flows.config import StrictModel

STAGES = ("load", "encode", "build", "self_train", "evaluate")
Method = Literal["source_only", "self_train", "gst", "goat", "esuot"]


class DataConfig(StrictModel):
    """Data set and the layout of its domains."""

    dataset: Literal["rotating_digits", "rotated_moons", "arrays"] = Field(
        "rotating_digits", description="rotating sklearn digits, rotated two-moons, or arrays from an .npz file")
    target_angle: float = Field(45.0, ge=-180.0, le=180.0, description="target rotation in degrees (source is 0)")
    n_intermediate: int = Field(4, ge=0, le=20, description="real intermediate domains between source and target")
    n_per_domain: int = Field(300, ge=20, le=100_000, description="samples per domain (rotated_moons only)")
    noise: float = Field(0.1, ge=0.0, le=1.0, description="two-moons noise (rotated_moons only)")
    path: Path | None = Field(None, description="arrays: .npz file with features, labels and domain arrays")
    test_fraction: float = Field(0.3, ge=0.05, le=0.9, description="share of the target held out for testing")

    @model_validator(mode="after")
    def _path_for_arrays(self) -> "DataConfig":
        if self.dataset == "arrays" and self.path is None:
            raise ValueError("dataset 'arrays' needs data.path, the .npz file to read")
        if self.path is not None and not self.path.exists():
            raise ValueError(f"path '{self.path}' does not exist; check data.path")
        return self


class EncodeConfig(StrictModel):
    """Feature space of adaptation: raw features, or the hidden layer of an encoder trained on the source."""

    features: Literal["raw", "encoder"] = "raw"
    dim: int = Field(32, ge=2, le=1024, description="encoder output dimension")
    epochs: int = Field(30, ge=1, le=1000, description="encoder training epochs on the labelled source")


class DomainsConfig(StrictModel):
    """Generated intermediate domains (goat and esuot)."""

    k: int = Field(4, ge=1, le=50, description="K, the number of generated intermediate domains")


class ESUOTConfig(StrictModel):
    """E-SUOT potential and map training (components/adaptation/esuot.py)."""

    divergence: Literal["kl", "chi2", "softplus"] = Field("kl", description="divergence of the relaxed marginals")
    tau: float = Field(1.0, gt=0.0, le=1e4, description="marginal penalty strength; large tau approaches balanced OT")
    epsilon: float = Field(0.05, gt=0.0, le=10.0, description="entropy regularisation, in units of the median cost")
    hidden: int = Field(128, ge=4, le=4096)
    iterations: int = Field(300, ge=1, le=100_000)
    potential_steps: int = Field(1, ge=1, le=100)
    map_steps: int = Field(1, ge=1, le=100)
    batch_size: int = Field(256, ge=1, le=65_536)
    target_batch: int = Field(1024, ge=1, le=65_536)
    lr_potential: float = Field(1e-3, gt=0.0, le=1.0)
    lr_map: float = Field(1e-3, gt=0.0, le=1.0)
    eval_every: int = Field(20, ge=1, le=10_000)


class ClassifierConfig(StrictModel):
    """Classifier and gradual self-training."""

    hidden: int = Field(64, ge=2, le=4096)
    epochs: int = Field(30, ge=1, le=1000, description="epochs on the labelled source")
    self_train_epochs: int = Field(10, ge=1, le=1000, description="epochs on each pseudo-labelled domain")
    batch_size: int = Field(64, ge=1, le=65_536)
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0)
    keep_fraction: float = Field(0.9, gt=0.0, le=1.0, description="most confident share of each domain kept")


class DATrackingConfig(StrictModel):
    experiment: str = Field("domain-adaptation", min_length=1)


class DomainAdaptationConfig(StrictModel):
    """Configuration of the domain-adaptation pipeline."""

    preset: str = Field("default", description="name of the preset this config came from")
    methods: list[Method] = Field(default_factory=lambda: ["source_only", "self_train", "gst", "goat", "esuot"], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1, max_length=50)
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads; small networks run fastest on one")
    data: DataConfig = Field(default_factory=DataConfig)
    encode: EncodeConfig = Field(default_factory=EncodeConfig)
    domains: DomainsConfig = Field(default_factory=DomainsConfig)
    esuot: ESUOTConfig = Field(default_factory=ESUOTConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    tracking: DATrackingConfig = Field(default_factory=DATrackingConfig)
    refresh: Literal[STAGES] | None = Field(  # type: ignore[valid-type]
        None, description="force this stage and every later one to recompute")

    @field_validator("methods", "seeds")
    @classmethod
    def _unique(cls, values: list) -> list:
        if len(set(values)) != len(values):
            raise ValueError(f"entries must be unique, got {values}")
        return values
