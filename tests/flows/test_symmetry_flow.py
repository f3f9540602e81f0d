"""The symmetry flow end to end with the smoke preset, under the session's Prefect harness."""

from __future__ import annotations

import json

import pytest
import yaml

pytestmark = pytest.mark.slow

PDE_NAMES = ("heat", "burgers", "kdv", "wave", "lambda_omega")


@pytest.fixture(scope="module")
def smoke_run(prefect_harness, session_home):
    from flows.config import load_config
    from flows.symmetry import symmetry

    return symmetry(load_config("symmetry", "smoke"))


def test_summary_lists_every_pde(smoke_run):
    assert smoke_run["flow"] == "symmetry"
    for name in PDE_NAMES:
        assert smoke_run["metrics"][f"{name}.true"] >= 3
        assert smoke_run["metrics"][f"{name}.found"] >= 0
        assert smoke_run["metrics"][f"{name}.grassmann_distance"] >= 0
        assert isinstance(smoke_run["generators"][name], list)
    json.dumps(smoke_run)


def test_translations_always_found(smoke_run):
    # d/dt and d/dx annihilate the criterion identically, so they survive any fit error.
    for name in PDE_NAMES:
        assert "d/dt" in smoke_run["generators"][name]
        assert "d/dx" in smoke_run["generators"][name]


def test_mlflow_run_has_plots_and_generators(smoke_run, session_home):
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run = client.get_run(smoke_run["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dvc.data_md5"] == smoke_run["dvc_data_md5"]
    assert run.data.params["preset"] == "smoke"
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    for name in PDE_NAMES:
        assert f"plots/singular_values_{name}.png" in plots
    generators = {a.path for a in client.list_artifacts(run.info.run_id, "generators")}
    assert "generators/heat.txt" in generators


def test_datasets_versioned(smoke_run, session_home):
    data = session_home / "data" / "symmetry"
    manifest = json.loads((data / "manifest.json").read_text())
    for name in PDE_NAMES:
        assert f"{name}.npz" in manifest["files"]
    dvc_meta = yaml.safe_load((session_home / "data.dvc").read_text())
    assert dvc_meta["outs"][0]["md5"] == smoke_run["dvc_data_md5"]


def test_rerun_is_cached(smoke_run):
    from flows.config import load_config
    from flows.symmetry import symmetry

    again = symmetry(load_config("symmetry", "smoke"))
    assert again["metrics"] == smoke_run["metrics"]
