"""`reprolab run optimizers` in subprocesses: the --json contract and invalid settings.

Each subprocess costs about 10 s of imports, so only a few invalid settings run here; the config
tests in tests/tasks/test_optimizers_tasks.py cover the other ranges.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.test_cli import reprolab


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory):
    return tmp_path_factory.mktemp("optimizers-cli-home")


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--set", "grid.uba_phis=[0.5, -1]"], r"grid\.uba_phis.*phi -1\.0 is out of range"),
        (["--set", "train.betas=[0.9, 1.5]"], r"train\.betas.*betas\[1\] is 1\.5.*\[0, 1\)"),
        (["--set", "data.text_path=/missing/corpus.txt"], r"/missing/corpus\.txt.*not found"),
    ],
)
def test_invalid_settings_exit_2(args, pattern, cli_home):
    result = reprolab("run", "optimizers", "--preset", "smoke", *args, home=cli_home, timeout=180)
    assert result.returncode == 2, result.stderr[-3000:]
    assert re.search(pattern, result.stderr), result.stderr[-3000:]


@pytest.mark.slow
def test_smoke_run_json(cli_home):
    result = reprolab("run", "optimizers", "--preset", "smoke", "--json", home=cli_home, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["flow"] == "optimizers"
    assert summary["metrics"]["cells.ok"] + summary["metrics"]["cells.diverged"] == 16
    assert (cli_home / summary["artifacts"]["report"] / "table.md").exists()
