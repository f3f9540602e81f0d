"""Configuration of the online-learning pipeline (partial-feedback online learning)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from flows.config import StrictModel

STAGES = ("sample", "dimensions", "play", "separation", "version", "report")


class ClassesConfig(StrictModel):
    """Random hypothesis classes: how many of each family and how large."""

    per_family: int = Field(4, ge=1, le=200, description="classes drawn per family (random, nested, helly2-intervals)")
    n_hypotheses: int = Field(6, ge=1, le=64, description="hypotheses per class")
    n_instances: int = Field(3, ge=1, le=16, description="size of the instance space X")
    n_labels: int = Field(3, ge=2, le=12, description="size of the label space Y")
    density: float = Field(0.5, gt=0.0, le=1.0, description="probability that a label is in h(x) (random family)")
    max_width: int = Field(2, ge=1, le=12, description="longest interval h(x) in the helly2-intervals family")
    seed: int = 0

    @model_validator(mode="after")
    def _width_fits(self) -> "ClassesConfig":
        if self.max_width > self.n_labels:
            raise ValueError(f"max_width ({self.max_width}) must not exceed n_labels ({self.n_labels})")
        return self


class DimensionsConfig(StrictModel):
    """Exact game-tree searches and their limits."""

    resolution: int = Field(6, ge=1, le=24, description="grid m of the randomized learner: probabilities are multiples of 1/m")
    max_seconds: float = Field(60.0, gt=0.0, le=86400.0, description="time limit of one search in seconds")
    max_states: int = Field(2_000_000, ge=1000, le=100_000_000, description="limit on memoised states of one search")


class PlayConfig(StrictModel):
    """Learners against adversaries."""

    horizon: int = Field(40, ge=1, le=100_000, description="rounds of each random set-realizable sequence")
    n_sequences: int = Field(10, ge=1, le=10_000, description="random sequences per class")
    exhaustive: bool = Field(True, description="check every learner against an exhaustive adversary search")
    seed: int = 0


class SeparationConfig(StrictModel):
    """The two-hypothesis class outside set realizability."""

    horizon: int = Field(200, ge=2, le=1_000_000, description="rounds per sequence")
    n_sequences: int = Field(10, ge=1, le=10_000, description="sequences per hypothesis and regime")
    n_extra_labels: int = Field(2, ge=1, le=16, description="labels no hypothesis accepts, used as witnesses")
    seed: int = 0


class OnlineTrackingConfig(StrictModel):
    experiment: str = Field("online-learning", min_length=1)


class OnlineLearningConfig(StrictModel):
    """Configuration of the online-learning pipeline."""

    preset: str = Field("default", description="name of the preset this config came from")
    classes: ClassesConfig = Field(default_factory=ClassesConfig)
    dimensions: DimensionsConfig = Field(default_factory=DimensionsConfig)
    play: PlayConfig = Field(default_factory=PlayConfig)
    separation: SeparationConfig = Field(default_factory=SeparationConfig)
    tracking: OnlineTrackingConfig = Field(default_factory=OnlineTrackingConfig)
    refresh: Literal[STAGES] | None = Field(  # type: ignore[valid-type]
        None, description="force this stage and every later one to recompute"
    )
