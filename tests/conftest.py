"""Shared fixtures: an isolated project home, one Prefect test harness per session, the shared data folder.

The environment is set in `pytest_configure`, before any project module is
imported, so Prefect, MLflow and DVC state of the tests never touches the
checkout or the user's home.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_SESSION_HOME: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _SESSION_HOME
    _SESSION_HOME = Path(tempfile.mkdtemp(prefix="reprolab-test-home-"))
    os.environ["REPROLAB_HOME"] = str(_SESSION_HOME)
    os.environ["PREFECT_HOME"] = str(_SESSION_HOME / ".prefect")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_HOME / 'mlflow.db'}"
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_HOME is not None:
        shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def session_home() -> Path:
    assert _SESSION_HOME is not None
    return _SESSION_HOME


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server for the whole session (starting one costs about 10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public data sets beside the project; tests that need them skip when they are absent."""
    path = Path(os.environ.get("REPROLAB_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
    if not path.exists():
        pytest.skip(f"shared data folder {path} not found; set REPROLAB_SHARED_DATA to run data tests")
    return path


@pytest.fixture(scope="session")
def postgres_cluster():
    """One throwaway PostgreSQL server on 127.0.0.1 for the session (starting one takes about a second).

    Tests that need it skip when PostgreSQL is not installed, unless
    REPROLAB_REQUIRE_POSTGRES is set (as `.ci/run` does), where they fail.
    """
    from components.review.testing import PostgresCluster, PostgresUnavailable

    try:
        cluster = PostgresCluster(durable=False)
    except PostgresUnavailable as exc:
        if os.environ.get("REPROLAB_REQUIRE_POSTGRES"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    with cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster) -> str:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    import uuid

    name = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A new review store location on each back end: an SQLite file, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "review.db"
    return request.getfixturevalue("postgres_url")
