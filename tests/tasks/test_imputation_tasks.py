"""Imputation tasks through .fn(): load and mask on a small series, and scoring only hidden entries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prefect.logging import disable_run_logger

from components.errors import InputError
from flows.imputation_config import DataConfig, MaskConfig, RobustnessConfig


@pytest.fixture()
def series_file(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"date": np.arange(200), "a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame.loc[150, "b"] = np.nan
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    return path


def test_load_and_mask(series_file, session_home):
    from tasks.imputation import load_task, mask_task, read_arrays

    with disable_run_logger():
        data = load_task.fn(DataConfig(path=series_file, window=10, train_stride=5), series_file, "x")
        masks = mask_task.fn(data, MaskConfig(rates=[0.2, 0.4]), RobustnessConfig(kinds=["outlier"]))
    arrays, meta = read_arrays(data)
    assert meta["columns"] == ["a", "b"]
    assert arrays["train"].shape[1:] == (10, 2)
    assert np.nanmean(arrays["train"]) == pytest.approx(0.0, abs=0.2)

    mask_arrays, mask_meta = read_arrays(masks)
    assert [c["name"] for c in mask_meta["conditions"]] == ["clean_20pct", "clean_40pct", "outlier_30pct"]
    for condition in mask_meta["conditions"]:
        eval_mask = mask_arrays[f"{condition['name']}/eval"]
        assert not (eval_mask & ~np.isfinite(arrays["test"])).any()


def test_load_rejects_window_longer_than_test(series_file, session_home):
    from tasks.imputation import load_task

    with disable_run_logger(), pytest.raises(InputError, match="longer than the test part"):
        load_task.fn(DataConfig(path=series_file, window=50, train_stride=5), series_file, "x")


def test_evaluate_scores_hidden_entries_only(session_home):
    from tasks.imputation import evaluate_task, put_arrays

    truth = np.arange(24.0).reshape(1, 6, 4)
    eval_mask = np.zeros_like(truth, dtype=bool)
    eval_mask[0, 2:4, 1] = True
    masks = put_arrays("imputation-masks", {"c/truth": truth, "c/eval": eval_mask},
                       {"conditions": [{"name": "c", "rate": 0.1, "perturbation": "none"}]})
    wrong_elsewhere = np.where(eval_mask, truth + 1.0, -1000.0)
    predictions = {"m": put_arrays("imputation-predictions", {"c/point": wrong_elsewhere}, {})}
    with disable_run_logger():
        report_ref = evaluate_task.fn(masks, predictions)
    from components.artifacts import ArtifactStore
    from flows.settings import project_home

    report = ArtifactStore(project_home()).read_json(report_ref)
    assert report["metrics"]["c"]["m"]["mae"] == pytest.approx(1.0)
    assert report["metrics"]["c"]["m"]["mse"] == pytest.approx(1.0)
