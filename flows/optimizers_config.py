"""Configuration of the optimizers pipeline: data, model sizes, the grid and training settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.optim.experiment import MODELS, OPTIMIZERS
from components.optim.schedules import SCHEDULES
from flows.config import StrictModel
from flows.settings import PROJECT_ROOT

STAGES = ("data", "version", "grid", "report")
SHARED_TEXT = "text/tinyshakespeare.txt"


class DataSection(StrictModel):
    """The character corpus and the digits split."""

    text_path: Path | None = Field(
        None, description="UTF-8 text for the character-level GPT; unset: tinyshakespeare from the shared data "
        "folder when present, else a built-in corpus of four sonnets")
    max_chars: int | None = Field(None, ge=1000, description="use only the first max_chars characters of the text")
    val_fraction: float = Field(0.1, gt=0.0, lt=0.5, description="tail share of the text used for validation")
    digits_val_fraction: float = Field(0.2, gt=0.0, lt=0.9, description="share of the digits held out, stratified")
    seed: int = 0

    @field_validator("text_path")
    @classmethod
    def _text_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"text file '{path}' not found; give an existing UTF-8 file or leave data.text_path unset")
        return path


class ModelSection(StrictModel):
    """Model sizes; the DNT and vanilla variants of a family have the same sizes."""

    d_model: int = Field(64, ge=8, le=1024)
    n_layers: int = Field(2, ge=1, le=24)
    n_heads: int = Field(4, ge=1, le=32)
    mlp_hidden: int = Field(128, ge=4, le=4096, description="hidden width of the digits MLP")
    mlp_layers: int = Field(2, ge=1, le=16)
    patch_size: int = Field(2, description="ViT patch side in pixels; must divide 8")

    @model_validator(mode="after")
    def _check(self) -> "ModelSection":
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.patch_size not in (1, 2, 4, 8):
            raise ValueError(f"patch_size is {self.patch_size}; allowed: 1, 2, 4, 8 (divisors of the 8-pixel side)")
        return self


class GridSection(StrictModel):
    """The grid: every combination of model x optimizer x schedule x budget x seed is one cached run."""

    models: list[Literal[MODELS]] = Field(default_factory=lambda: ["gpt-dnt", "gpt-vanilla", "mlp"], min_length=1)  # type: ignore[valid-type]
    optimizers: list[Literal[OPTIMIZERS]] = Field(default_factory=lambda: list(OPTIMIZERS), min_length=1)  # type: ignore[valid-type]
    schedules: list[Literal[SCHEDULES]] = Field(default_factory=lambda: ["cosine", "uba"], min_length=1)  # type: ignore[valid-type]
    uba_phis: list[float] = Field(default_factory=lambda: [1.0], min_length=1, description="phi values of the UBA schedule, each > 0")
    budgets: list[int] = Field(default_factory=lambda: [100], min_length=1, description="training budgets T in steps")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("uba_phis")
    @classmethod
    def _phis(cls, phis: list[float]) -> list[float]:
        for phi in phis:
            if not 0.0 < phi <= 100.0:
                raise ValueError(f"phi {phi} is out of range; the allowed range is (0, 100]")
        return phis

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, budgets: list[int]) -> list[int]:
        for budget in budgets:
            if not 2 <= budget <= 1_000_000:
                raise ValueError(f"budget {budget} is out of range; the allowed range is 2..1000000 steps")
        return budgets


class TrainSection(StrictModel):
    """Training settings shared by every cell; `lr` gives the peak learning rate per optimizer."""

    lr: dict[Literal[OPTIMIZERS], float] = Field(  # type: ignore[valid-type]
        default_factory=lambda: {"adamw": 3e-3, "shampoo2": 3e-3, "shampoo1": 3e-3, "msgdw": 0.1},
        description="peak learning rate per optimizer")
    weight_decay: float = Field(0.01, ge=0.0, le=1.0, description="decoupled weight decay on matrices")
    betas: tuple[float, float] = Field((0.9, 0.95), description="AdamW and Shampoo betas, each in [0, 1)")
    epsilon: float = Field(1e-8, gt=0.0, le=1.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="mSGDW momentum")
    precondition_frequency: int = Field(10, ge=1, le=10_000)
    max_precond_dim: int = Field(256, ge=1, le=8192)
    warmup_fraction: float = Field(0.05, ge=0.0, lt=0.5, description="share of the budget spent in linear warmup")
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0, description="eta_min / eta_max of the decaying schedules")
    grad_clip: float | None = Field(1.0, gt=0.0, description="global gradient-norm clip; null turns it off")
    seq_len: int = Field(64, ge=4, le=4096, description="GPT context in characters")
    batch_size: int = Field(16, ge=1, le=4096, description="GPT batch size in sequences")
    image_batch_size: int = Field(64, ge=1, le=4096, description="digits batch size in images")
    eval_every: int = Field(20, ge=1, le=100_000, description="steps between validation evaluations")
    eval_windows: int = Field(64, ge=1, le=100_000, description="validation windows of seq_len characters")
    threads: int = Field(2, ge=1, le=256, description="torch CPU threads per run")

    @field_validator("betas")
    @classmethod
    def _betas(cls, betas: tuple[float, float]) -> tuple[float, float]:
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"betas[{index}] is {beta}; the allowed range is [0, 1)")
        return betas

    @field_validator("lr")
    @classmethod
    def _lr(cls, lr: dict[str, float]) -> dict[str, float]:
        for name, value in lr.items():
            if not 0.0 < value <= 1e6:
                raise ValueError(f"lr for {name} is {value}; the allowed range is (0, 1e6]")
        return lr


class TrackingSection(StrictModel):
    experiment: str = Field("optimizers", min_length=1)


class OptimizersConfig(StrictModel):
    """Configuration of the optimizers pipeline."""

    preset: str = Field("default", description="name of the preset this config came from")
    shared_data: Path = Field(PROJECT_ROOT.parent / "shared" / "data",
                              description="folder with the public data sets, used when present")
    data: DataSection = Field(default_factory=DataSection)
    model: ModelSection = Field(default_factory=ModelSection)
    grid: GridSection = Field(default_factory=GridSection)
    train: TrainSection = Field(default_factory=TrainSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    refresh: Literal[STAGES] | None = Field(  # type: ignore[valid-type]
        None, description="force this stage and every later one to recompute")

    @model_validator(mode="after")
    def _check(self) -> "OptimizersConfig":
        missing = sorted(set(self.grid.optimizers) - set(self.train.lr))
        if missing:
            raise ValueError(f"train.lr has no learning rate for {', '.join(missing)}; add train.lr.<name>")
        return self
