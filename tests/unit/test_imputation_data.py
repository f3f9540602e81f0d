"""Imputation data, masks, perturbations, baselines and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from components.errors import InputError
from components.imputation.baselines import linear_impute, locf_impute, mean_impute, psw_impute
from components.imputation.data import Scaler, load_series, perturb, simulate_missing, sliding_windows, split_series, synthetic_series
from components.imputation.metrics import crps, point_metrics


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run torch on one thread: on shared cores two threads make the small PSW problems far slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture()
def csv_series(tmp_path):
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=50, freq="h").astype(str),
                          "a": np.arange(50.0), "b": np.sin(np.arange(50.0))})
    frame.loc[3, "a"] = np.nan
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    return path


def test_load_csv_drops_date_keeps_gaps(csv_series):
    values, columns = load_series(csv_series)
    assert columns == ["a", "b"]
    assert values.shape == (50, 2)
    assert np.isnan(values[3, 0])


def test_load_parquet(csv_series, tmp_path):
    path = tmp_path / "series.parquet"
    pd.read_csv(csv_series).to_parquet(path)
    values, _ = load_series(path)
    assert values.shape == (50, 2)


def test_load_rejects_non_numeric_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(InputError, match=r"bad\.csv, line 3, field 'b'.*not numeric.*oops"):
        load_series(path)


def test_load_rejects_all_nan_column(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n1,\n3,\n")
    with pytest.raises(InputError, match=r"field 'b'.*all NaN"):
        load_series(path)


def test_load_rejects_missing_file_and_format(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_series(tmp_path / "missing.csv")
    other = tmp_path / "series.txt"
    other.write_text("1\n")
    with pytest.raises(InputError, match="unsupported file type"):
        load_series(other)


def test_window_longer_than_series_raises():
    with pytest.raises(InputError, match="longer than the test part"):
        sliding_windows(np.zeros((10, 2)), 24, 24, "test")


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.2, 1.5])
def test_rate_outside_open_interval_raises(rate):
    with pytest.raises(InputError, match=r"open interval \(0, 1\)"):
        simulate_missing(np.ones((2, 8, 3), dtype=bool), rate, "point", 0)


@pytest.mark.parametrize("pattern", ["point", "block", "subsequence"])
def test_mask_skips_raw_missing_and_hits_rate(pattern):
    rng = np.random.default_rng(0)
    observed = rng.random((200, 24, 4)) > 0.1
    mask = simulate_missing(observed, 0.3, pattern, seed=0)
    assert not (mask & ~observed).any()
    assert 0.15 < mask.sum() / observed.sum() < 0.4
    again = simulate_missing(observed, 0.3, pattern, seed=0)
    assert np.array_equal(mask, again)


def test_subsequence_mask_is_contiguous():
    mask = simulate_missing(np.ones((5, 20, 3), dtype=bool), 0.25, "subsequence", seed=1)
    for w in range(5):
        for k in range(3):
            steps = np.flatnonzero(mask[w, :, k])
            assert len(steps) == 5
            assert steps[-1] - steps[0] == 4


def test_scaler_uses_training_part_only():
    values = np.concatenate([np.zeros((60, 1)), 100 * np.ones((40, 1))])
    values[:60:2] = 2.0
    parts = split_series(values, 0.6, 0.2)
    scaler = Scaler.fit(parts["train"])
    assert scaler.mean[0] == pytest.approx(1.0)
    assert scaler.std[0] == pytest.approx(1.0)
    assert len(parts["test"]) == 20


@pytest.mark.parametrize("kind", ["level_shift", "trend_change", "outlier"])
def test_perturbations_change_test_windows(kind):
    windows = np.zeros((20, 16, 3))
    perturbed, outliers = perturb(windows, kind, seed=0, magnitude=2.0)
    assert np.abs(perturbed).max() > 1.0
    if kind == "outlier":
        assert np.array_equal(perturbed != 0, outliers)
    else:
        assert not outliers.any()
        assert np.all(perturbed[:, 0] == 0)  # shifts start after the first step


def test_synthetic_series_is_non_stationary():
    series = synthetic_series(3000, 3, seed=0)
    assert series.shape == (3000, 3)
    assert np.abs(series[:500].mean(0) - series[-500:].mean(0)).max() > 0.3


def test_linear_locf_mean_on_simple_windows():
    steps = np.arange(10, dtype=float)
    windows = np.stack([steps, 3 * np.ones(10)], axis=-1)[None]
    cond = np.ones_like(windows, dtype=bool)
    cond[0, [2, 3, 7], :] = False
    assert np.allclose(linear_impute(windows, cond), windows)
    locf = locf_impute(windows, cond)
    assert locf[0, 3, 0] == 1.0
    assert locf[0, 7, 0] == 6.0
    assert np.allclose(locf[..., 1], 3.0)
    mean = mean_impute(windows, cond)
    assert mean[0, 2, 0] == pytest.approx(steps[cond[0, :, 0]].mean())


def test_locf_leading_gap_uses_first_observation():
    windows = np.arange(6, dtype=float).reshape(1, 6, 1)
    cond = np.array([False, False, True, True, False, True]).reshape(1, 6, 1)
    assert locf_impute(windows, cond)[0, :, 0].tolist() == [2.0, 2.0, 2.0, 3.0, 3.0, 5.0]


def test_psw_keeps_observed_and_improves_on_its_start():
    # Identical sine windows: the other windows' spectra tell each window what its gaps hold.
    rng = np.random.default_rng(0)
    t = np.arange(16)
    windows = np.repeat(np.sin(2 * np.pi * t / 5)[None, :, None], 32, axis=0).repeat(2, axis=2)
    cond = rng.random(windows.shape) > 0.3
    start = linear_impute(windows, cond)
    completed, losses = psw_impute(windows, cond, epochs=150, batch_size=8, lr=0.02)
    assert np.array_equal(completed[cond], windows[cond])
    assert len(losses) == 150
    assert np.isfinite(completed).all()
    start_error = point_metrics(start, windows, ~cond)["mae"]
    assert point_metrics(completed, windows, ~cond)["mae"] < start_error


def test_point_metrics_ignore_observed_entries():
    truth = np.array([[1.0, 2.0, 4.0]])
    eval_mask = np.array([[False, True, True]])
    prediction = np.array([[100.0, 3.0, 2.0]])  # the observed entry is wildly wrong but unscored
    metrics = point_metrics(prediction, truth, eval_mask)
    assert metrics["mae"] == pytest.approx(1.5)
    assert metrics["mse"] == pytest.approx(2.5)
    assert metrics["mre"] == pytest.approx(3.0 / 6.0)


def test_crps_of_point_mass_equals_mre():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(4, 5))
    prediction = truth + rng.normal(size=(4, 5))
    eval_mask = rng.random((4, 5)) > 0.3
    samples = np.repeat(prediction[None], 7, axis=0)
    assert crps(samples, truth, eval_mask) == pytest.approx(point_metrics(prediction, truth, eval_mask)["mre"])


def test_crps_rewards_calibrated_spread():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=2000)
    eval_mask = np.ones(2000, dtype=bool)
    calibrated = rng.normal(size=(200, 2000))
    collapsed = np.zeros((200, 2000))
    assert crps(calibrated, truth, eval_mask) < crps(collapsed, truth, eval_mask)


def test_metrics_reject_empty_mask_and_nan_truth():
    with pytest.raises(InputError, match="empty"):
        point_metrics(np.zeros(3), np.zeros(3), np.zeros(3, dtype=bool))
    with pytest.raises(InputError, match="raw-missing"):
        point_metrics(np.zeros(3), np.array([np.nan, 1.0, 2.0]), np.ones(3, dtype=bool))
