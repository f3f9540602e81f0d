"""Project home and environment defaults, applied before Prefect, MLflow or DVC are imported.

The project home holds everything a run writes: `data/` (DVC-tracked),
`mlflow.db` and `mlartifacts/` (MLflow), `.prefect/` (Prefect's database and
cached task results), `.reprolab/store/` (content-addressed stage outputs)
and `review.db` (the review queue). It is the source checkout unless
REPROLAB_HOME names another folder.

Telemetry and update checks of Prefect, MLflow and DVC are off by default,
because users often work offline; an explicit environment variable wins.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def project_home() -> Path:
    """Return the folder that runs write into (REPROLAB_HOME, else the source checkout)."""
    return Path(os.environ.get("REPROLAB_HOME", PROJECT_ROOT)).expanduser().resolve()


def environment_defaults(home: Path) -> dict[str, str]:
    """Return the environment variables the project sets unless the user already has."""
    return {
        # Prefect: state under the project, no telemetry, patient ephemeral start on 2 cores.
        "PREFECT_HOME": str(home / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        # MLflow: local SQLite store, no telemetry.
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # DVC: no analytics (the update check is off in .dvc/config).
        "DVC_NO_ANALYTICS": "1",
        # Hugging Face: weights come from installed packages, never from the hub.
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def configure_environment() -> Path:
    """Apply `environment_defaults` without overriding variables the user set; return the home."""
    home = project_home()
    for key, value in environment_defaults(home).items():
        os.environ.setdefault(key, value)
    return home
