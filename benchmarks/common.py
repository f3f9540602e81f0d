"""Helpers the benchmark scripts share: running `reprolab` in a project home of its own, and naming the machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or what the platform reports."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine(*, torch_threads: bool = False) -> str:
    """Describe the machine for a results page: cores, CPU, system, Python, and optionally torch and its threads."""
    text = (f"{os.cpu_count()} CPU cores ({cpu_model()}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")
    if torch_threads:
        import torch

        text += f", torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    return text


def isolated_env(home: Path) -> dict[str, str]:
    """Return the environment for a `reprolab` run whose project home, Prefect home and MLflow store are in `home`."""
    env = {**os.environ, "REPROLAB_HOME": str(home), "PREFECT_HOME": str(home / ".prefect"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
    # Each run starts its own temporary Prefect server, which can take minutes on a loaded machine.
    env.pop("PREFECT_API_URL", None)
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "600")
    return env


def run_cli(args: list[str], home: Path) -> tuple[dict, float]:
    """Run `reprolab ARGS` (ending in --json) in `home`; return its JSON summary and the wall time in seconds.

    Exits with the command's error output when it fails.
    """
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=PROJECT_ROOT, env=isolated_env(home),
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-5000:])
        raise SystemExit(f"command failed ({result.returncode}): reprolab {' '.join(args)}")
    return json.loads(result.stdout.strip().splitlines()[-1]), seconds
