"""Retry policy shared by the tasks: Prefect retries only what may succeed next time."""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import exponential_backoff

from quarrycore.exceptions import is_transient
from quarrycore.settings import QuarrySettings


def retry_on_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """``retry_condition_fn``: retry timeouts, connection and database-lock errors only."""
    exc = state.data if isinstance(state.data, BaseException) else None
    return exc is not None and is_transient(exc)


def retry_options(settings: QuarrySettings) -> dict[str, Any]:
    """Task options that make Prefect retry with exponential backoff and jitter."""
    return {
        "retries": settings.task_retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=settings.task_retry_delay),
        "retry_jitter_factor": settings.task_retry_jitter,
        "retry_condition_fn": retry_on_transient,
    }
