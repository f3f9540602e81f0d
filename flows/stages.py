"""Helpers every pipeline flow shares: which stages --refresh recomputes, and the flow run's id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prefect.context import get_run_context


def refreshed_stages(stages: Sequence[str], refresh: str | None) -> set[str]:
    """Return the stage named by --refresh and every stage after it in `stages` (none without --refresh)."""
    if refresh is None:
        return set()
    return set(stages[list(stages).index(refresh) :])


def stage_runner(refresh: set[str]) -> Callable[[Any, str], Any]:
    """Return `stage(task, name)`, which gives the task with its cache refreshed when `name` is in `refresh`."""

    def stage(task_fn: Any, name: str) -> Any:
        return task_fn.with_options(refresh_cache=name in refresh)

    return stage


def current_flow_run_id() -> str:
    """Return the id of the running Prefect flow run, for MLflow tags and summaries."""
    return str(get_run_context().flow_run.id)
