"""The `reprolab` command line runs domain-adaptation in a subprocess: the --json contract and invalid input."""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.test_cli import reprolab


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory):
    return tmp_path_factory.mktemp("da-cli-home")


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--set", "domains.k=0"], r"domains\.k.*greater than or equal to 1"),
        (["--set", "data.dataset=arrays", "--set", "data.path=/missing/domains.npz"], r"/missing/domains\.npz.*does not exist"),
        (["--set", "methods=[esuot, magic]"], r"methods"),
    ],
)
def test_invalid_input_exits_2(args, pattern, cli_home):
    result = reprolab("run", "domain-adaptation", "--preset", "smoke", *args, home=cli_home, timeout=120)
    assert result.returncode == 2, result.stderr
    assert re.search(pattern, result.stderr), result.stderr


@pytest.mark.slow
def test_smoke_run_json(cli_home):
    result = reprolab("run", "domain-adaptation", "--preset", "smoke", "--json", home=cli_home)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("mlflow_run_id", "dvc_data_md5", "metrics", "artifacts", "wall_seconds"):
        assert key in summary
    assert 0.0 <= summary["metrics"]["esuot.target_test_accuracy.mean"] <= 1.0
    assert summary["artifacts"]["data"].endswith("domain-adaptation")
