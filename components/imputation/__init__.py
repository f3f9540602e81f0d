"""Time-series imputation: data windows and masks, a CSDI-style diffusion imputer, SPIRIT's semi-proximal transport, baselines and metrics."""

from components.imputation.baselines import linear_impute, locf_impute, mean_impute, psw_impute
from components.imputation.data import load_series, perturb, simulate_missing, sliding_windows, synthetic_series
from components.imputation.diffusion import DiffusionSettings, SPTSettings, sample_diffusion, train_diffusion
from components.imputation.metrics import crps, point_metrics
from components.imputation.spt import semi_relaxed_sinkhorn, spt_loss, spt_value

__all__ = [
    "DiffusionSettings", "SPTSettings", "crps", "linear_impute", "load_series", "locf_impute", "mean_impute",
    "perturb", "point_metrics", "psw_impute", "sample_diffusion", "semi_relaxed_sinkhorn", "simulate_missing",
    "sliding_windows", "spt_loss", "spt_value", "synthetic_series", "train_diffusion",
]
