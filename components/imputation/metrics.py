"""Imputation metrics on the evaluation mask only.

MAE, MSE and MRE (sum |error| / sum |truth|, CSDI's definition) on the entries that were
observed and then hidden; CRPS of a sample set, approximated as in CSDI by the quantile
(pinball) loss averaged over the quantile levels 0.05, 0.10, ..., 0.95 and normalised by
sum |truth|.
"""

from __future__ import annotations

import numpy as np

from components.errors import InputError

QUANTILES = np.arange(0.05, 1.0, 0.05)


def _check(truth: np.ndarray, eval_mask: np.ndarray) -> None:
    if not eval_mask.any():
        raise InputError("the evaluation mask is empty, so there is nothing to score", field="mask.rates")
    if not np.isfinite(truth[eval_mask]).all():
        raise InputError("evaluation mask covers raw-missing (NaN) entries", field="mask")


def point_metrics(prediction: np.ndarray, truth: np.ndarray, eval_mask: np.ndarray) -> dict[str, float]:
    """Return MAE, MSE and MRE over eval_mask entries; all arrays share one shape."""
    _check(truth, eval_mask)
    error = prediction[eval_mask] - truth[eval_mask]
    return {
        "mae": float(np.abs(error).mean()),
        "mse": float((error**2).mean()),
        "mre": float(np.abs(error).sum() / max(np.abs(truth[eval_mask]).sum(), 1e-12)),
    }


def crps(samples: np.ndarray, truth: np.ndarray, eval_mask: np.ndarray) -> float:
    """CRPS of samples (S, ...) against truth (...), by the normalised quantile loss (CSDI's estimator)."""
    _check(truth, eval_mask)
    target = truth[eval_mask]
    draws = samples[:, eval_mask]  # (S, N)
    denominator = max(np.abs(target).sum(), 1e-12)
    total = 0.0
    for q in QUANTILES:
        quantile = np.quantile(draws, q, axis=0)
        total += 2 * np.sum(np.abs((quantile - target) * ((target <= quantile) - q))) / denominator
    return float(total / len(QUANTILES))
