"""Time-series data for imputation: loading, splits, standardisation, windows, masks and perturbations.

Conventions: a series is a float array (T, K) with NaN for values missing in the raw data.
Windows are arrays (B, L, K). `observed` marks entries present in the raw data; the
evaluation mask marks observed entries that are hidden from the imputers and scored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from components.errors import InputError

logger = logging.getLogger(__name__)

PATTERNS = ("point", "block", "subsequence")


def load_series(path: str | Path, date_column: str | None = "date", columns: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Read a CSV or parquet time series; return values (T, K) as float64 with NaN gaps, and column names.

    The date column is dropped when present. Every other column must be numeric and have at
    least one value; otherwise an InputError names the file and the column.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("series file not found", path=path, hint="Check data.path or leave it empty for the default")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
    elif path.suffix.lower() in {".parquet", ".pq"}:
        frame = pd.read_parquet(path)
    else:
        raise InputError(f"unsupported file type '{path.suffix}'", path=path, hint="Use a .csv or .parquet file")

    if date_column and date_column in frame.columns:
        frame = frame.drop(columns=[date_column])
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"columns {missing} not found; available: {list(frame.columns)}", path=path, field="data.columns")
        frame = frame[columns]
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise InputError("the series has no value columns or no rows", path=path)

    for name in frame.columns:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column):
            bad = column[pd.to_numeric(column, errors="coerce").isna() & column.notna()]
            row = int(bad.index[0]) + 2 if len(bad) else None  # +2: header line and 1-based lines
            raise InputError(
                f"column is not numeric (value {bad.iloc[0]!r})" if len(bad) else "column is not numeric",
                path=path, line=row if path.suffix.lower() == ".csv" else None, field=str(name),
                hint="Drop the column with data.columns or set data.date_column to it",
            )
        if column.isna().all():
            raise InputError("column has no values (all NaN)", path=path, field=str(name), hint="Drop it with data.columns")
    return frame.to_numpy(dtype=np.float64), [str(c) for c in frame.columns]


def synthetic_series(length: int = 4000, n_features: int = 5, seed: int = 0) -> np.ndarray:
    """Generate a non-stationary multivariate series (T, K): seasonal terms, drifting trends and regime shifts."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)[:, None]
    period = rng.uniform(12, 48, size=n_features)
    seasonal = np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi, n_features))
    daily = 0.5 * np.sin(2 * np.pi * t / 24.0)
    trend = np.cumsum(rng.normal(0, 0.02, (length, n_features)), axis=0)
    regimes = np.cumsum((rng.random((length, n_features)) < 0.002) * rng.normal(0, 1.0, (length, n_features)), axis=0)
    mixing = np.eye(n_features) + 0.3 * rng.normal(size=(n_features, n_features))
    noise = rng.normal(0, 0.1, (length, n_features))
    return (seasonal + daily + trend + regimes) @ mixing + noise


@dataclass(frozen=True)
class Scaler:
    """Per-feature standardisation fitted on the training part only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> "Scaler":
        mean = np.nanmean(values, axis=0)
        std = np.nanstd(values, axis=0)
        if not np.all(np.isfinite(mean)):
            column = int(np.flatnonzero(~np.isfinite(mean))[0])
            raise InputError(f"feature {column} has no values in the training part", field="data.train_fraction")
        return cls(mean=mean, std=np.where(std > 1e-12, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std


def split_series(values: np.ndarray, train_fraction: float, val_fraction: float) -> dict[str, np.ndarray]:
    """Split chronologically into train, validation and test parts."""
    n = len(values)
    n_train = int(n * train_fraction)
    n_val = int(n * val_fraction)
    return {"train": values[:n_train], "val": values[n_train : n_train + n_val], "test": values[n_train + n_val :]}


def sliding_windows(values: np.ndarray, length: int, stride: int, part: str = "series") -> np.ndarray:
    """Cut (T, K) into windows (B, length, K) starting every `stride` steps."""
    if length < 2:
        raise InputError(f"window length {length} must be at least 2", field="data.window")
    if length > len(values):
        raise InputError(
            f"window length {length} is longer than the {part} part ({len(values)} steps)",
            field="data.window", hint="Use a shorter window or a longer series",
        )
    starts = range(0, len(values) - length + 1, stride)
    return np.stack([values[s : s + length] for s in starts])


def simulate_missing(observed: np.ndarray, rate: float, pattern: str, seed: int, block: int = 6) -> np.ndarray:
    """Choose entries to hide among observed ones; return the evaluation mask (B, L, K) as bool.

    point: each observed entry independently with probability `rate`.
    block: contiguous runs of `block` steps in one feature, placed until about `rate` of the
    window's entries are covered. subsequence: one contiguous run of round(rate * L) steps per
    feature. Raw-missing entries (observed False) are never in the mask.
    """
    if not 0.0 < rate < 1.0:
        raise InputError(f"missing rate {rate} must lie in the open interval (0, 1)", field="mask.rates")
    if pattern not in PATTERNS:
        raise InputError(f"unknown missing pattern '{pattern}'; use one of {PATTERNS}", field="mask.pattern")
    rng = np.random.default_rng(seed)
    n_windows, length, n_features = observed.shape

    if pattern == "point":
        mask = rng.random(observed.shape) < rate
    elif pattern == "block":
        mask = np.zeros(observed.shape, dtype=bool)
        run = max(1, min(block, length))
        n_blocks = max(1, round(rate * length * n_features / run))
        for w in range(n_windows):
            for _ in range(n_blocks):
                start, feature = rng.integers(0, length - run + 1), rng.integers(0, n_features)
                mask[w, start : start + run, feature] = True
    else:
        run = max(1, round(rate * length))
        mask = np.zeros(observed.shape, dtype=bool)
        starts = rng.integers(0, length - run + 1, size=(n_windows, n_features))
        for w in range(n_windows):
            for k in range(n_features):
                mask[w, starts[w, k] : starts[w, k] + run, k] = True
    return mask & observed


def training_mask(observed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Self-supervised targets for training (CSDI's random strategy): hide a random share in [0, 1) per window."""
    ratios = rng.random((observed.shape[0], 1, 1))
    return (rng.random(observed.shape) < ratios) & observed


PERTURBATIONS = ("level_shift", "trend_change", "outlier")


def perturb(windows: np.ndarray, kind: str, seed: int, magnitude: float = 2.0, outlier_rate: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Inject a non-stationarity into standardised windows (B, L, K); return (perturbed, outlier mask).

    level_shift: from a random step in each window, every feature moves by +-magnitude.
    trend_change: from a random step, a ramp that reaches +-magnitude at the window's end.
    outlier: a share `outlier_rate` of entries jumps by +-3 * magnitude; the returned mask
    marks them so that evaluation can leave them out (a spike is not predictable from context).
    """
    if kind not in PERTURBATIONS:
        raise InputError(f"unknown perturbation '{kind}'; use one of {PERTURBATIONS}", field="robustness.kinds")
    rng = np.random.default_rng(seed)
    n_windows, length, n_features = windows.shape
    out = windows.copy()
    outliers = np.zeros(windows.shape, dtype=bool)
    steps = np.arange(length)[None, :, None]
    starts = rng.integers(1, length - 1, size=(n_windows, 1, 1))
    signs = rng.choice([-1.0, 1.0], size=(n_windows, 1, n_features))
    if kind == "level_shift":
        out += magnitude * signs * (steps >= starts)
    elif kind == "trend_change":
        ramp = np.clip((steps - starts) / np.maximum(length - 1 - starts, 1), 0, None)
        out += magnitude * signs * ramp
    else:
        outliers = rng.random(windows.shape) < outlier_rate
        out += 3 * magnitude * rng.choice([-1.0, 1.0], size=windows.shape) * outliers
    return out, outliers
