"""Configuration of the imputation pipeline (SPIRIT and baselines)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from flows.config import StrictModel
from flows.settings import PROJECT_ROOT

MODELS = ("mean", "locf", "linear", "psw", "diffusion", "spirit")
DIFFUSION_MODELS = ("diffusion", "spirit")
STAGES = ("load", "mask", "train", "impute", "evaluate", "report")


class DataConfig(StrictModel):
    """Series, splits and windows."""

    path: Path | None = Field(
        None, description="CSV or parquet series; empty: ETTh1 from the shared data folder, else a synthetic series"
    )
    date_column: str | None = Field("date", description="column dropped before reading values, when present")
    columns: list[str] | None = Field(None, description="value columns to keep (default: all but the date column)")
    train_fraction: float = Field(0.6, gt=0.0, lt=1.0, description="leading share used for training and the scaler")
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share between train and test, left unused as a gap")
    window: int = Field(24, ge=2, le=1024, description="window length L in steps")
    train_stride: int = Field(12, ge=1, le=1024, description="steps between training window starts")
    max_train_windows: int | None = Field(None, ge=1, description="keep at most this many training windows (evenly spaced)")
    max_test_windows: int | None = Field(None, ge=1, description="keep at most this many test windows (the first ones)")
    synthetic_length: int = Field(3000, ge=16, le=1_000_000, description="steps of the built-in series")
    synthetic_features: int = Field(5, ge=1, le=64)
    seed: int = 0

    @field_validator("path")
    @classmethod
    def _exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.exists():
            raise ValueError(f"path '{path}' does not exist; give a CSV or parquet file or leave it empty")
        return path

    @model_validator(mode="after")
    def _fractions(self) -> "DataConfig":
        if self.train_fraction + self.val_fraction >= 1.0:
            raise ValueError(f"train_fraction + val_fraction = {self.train_fraction + self.val_fraction} must stay below 1")
        return self


def _rates_in_open_interval(rates: list[float]) -> list[float]:
    for rate in rates:
        if not (math.isfinite(rate) and 0.0 < rate < 1.0):
            raise ValueError(f"missing rate {rate} must lie in the open interval (0, 1)")
    return rates


class MaskConfig(StrictModel):
    """Simulated missingness on the test windows."""

    rates: list[float] = Field(default_factory=lambda: [0.1, 0.3, 0.5], min_length=1)
    pattern: Literal["point", "block", "subsequence"] = "point"
    block: int = Field(6, ge=1, le=1024, description="run length of the block pattern, in steps")
    seed: int = 0

    _rates = field_validator("rates")(_rates_in_open_interval)


class RobustnessConfig(StrictModel):
    """Non-stationarities injected into the test windows."""

    kinds: list[Literal["level_shift", "trend_change", "outlier"]] = Field(
        default_factory=lambda: ["level_shift", "trend_change", "outlier"]
    )
    rate: float = Field(0.3, gt=0.0, lt=1.0, description="missing rate of the perturbed evaluations")
    magnitude: float = Field(2.0, ge=0.0, le=100.0, description="shift size in training standard deviations")
    outlier_rate: float = Field(0.02, ge=0.0, le=0.5)
    seed: int = 0


class DiffusionConfig(StrictModel):
    """The CSDI-style denoiser and its training and sampling."""

    n_steps: int = Field(50, ge=2, le=1000, description="diffusion steps T")
    epochs: int = Field(20, ge=1, le=10000)
    batch_size: int = Field(32, ge=1, le=4096)
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    n_samples: int = Field(10, ge=1, le=1000, description="imputations drawn per window (median = point estimate)")
    channels: int = Field(32, ge=4, le=512)
    layers: int = Field(2, ge=1, le=16)
    heads: int = Field(4, ge=1, le=32)
    threads: int = Field(
        1, ge=1, le=256,
        description="torch intra-op threads for training and imputation; on shared cores more threads can run far slower",
    )
    seed: int = 0

    @model_validator(mode="after")
    def _heads_divide(self) -> "DiffusionConfig":
        if self.channels % self.heads:
            raise ValueError(f"channels ({self.channels}) must be divisible by heads ({self.heads})")
        return self


class SPTConfig(StrictModel):
    """Semi-proximal transport in SPIRIT's training loss and proximal sampling step."""

    reg: float = Field(0.05, gt=0.0, le=10.0, description="entropic regularisation, relative to the normalised cost")
    reg_m: float = Field(0.5, gt=0.0, le=1e6, description="lambda: KL penalty on the relaxed (target) marginal")
    n_iter: int = Field(30, ge=1, le=10000, description="log-domain Sinkhorn iterations")
    time_scale: float = Field(1.0, ge=0.0, le=100.0, description="weight of the time coordinate in the point clouds")
    weight: float = Field(0.5, ge=0.0, le=100.0, description="weight of the SPT term in the training loss")
    prox_gamma: float = Field(0.5, ge=0.0, le=100.0, description="weight of SPT in the proximal objective")
    prox_steps: int = Field(2, ge=0, le=100, description="gradient steps of the proximal refinement per reverse step")
    prox_lr: float = Field(0.5, gt=0.0, le=10.0)


class PSWConfig(StrictModel):
    """The PSW-style unbalanced OT imputer."""

    epochs: int = Field(200, ge=1, le=100000)
    batch_size: int = Field(64, ge=2, le=4096)
    lr: float = Field(0.01, gt=0.0, le=10.0)
    reg: float = Field(0.05, gt=0.0, le=10.0)
    reg_m: float = Field(1.0, gt=0.0, le=1e6)
    n_iter: int = Field(50, ge=1, le=10000)


class TrackingConfig(StrictModel):
    experiment: str = Field("imputation", min_length=1)


class ImputationConfig(StrictModel):
    """Configuration of the imputation pipeline."""

    preset: str = Field("default", description="name of the preset this config came from")
    shared_data: Path = Field(PROJECT_ROOT.parent / "shared" / "data", description="folder with the public data sets")
    models: list[Literal[MODELS]] = Field(default_factory=lambda: list(MODELS), min_length=1)  # type: ignore[valid-type]
    data: DataConfig = Field(default_factory=DataConfig)
    mask: MaskConfig = Field(default_factory=MaskConfig)
    robustness: RobustnessConfig = Field(default_factory=RobustnessConfig)
    diffusion: DiffusionConfig = Field(default_factory=DiffusionConfig)
    spt: SPTConfig = Field(default_factory=SPTConfig)
    psw: PSWConfig = Field(default_factory=PSWConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    refresh: Literal[STAGES] | None = Field(  # type: ignore[valid-type]
        None, description="force this stage and every later one to recompute"
    )
