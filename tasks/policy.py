"""Retry policy shared by the tasks: Prefect retries only what may succeed next time."""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import exponential_backoff

from quarrycore.exceptions import is_transient
from quarrycore.settings import QuarrySettings


def exception_of(state: State[Any]) -> BaseException | None:
    """The exception a Failed state carries: as its data, or in its result record."""
    data = state.data
    if isinstance(data, BaseException):
        return data
    result = getattr(data, "result", None)  # a ResultRecord once the state is final
    return result if isinstance(result, BaseException) else None


def retry_on_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """``retry_condition_fn``: retry timeouts, connection and database-lock errors only."""
    exc = exception_of(state)
    return exc is not None and is_transient(exc)


def retry_options(settings: QuarrySettings) -> dict[str, Any]:
    """Task options that make Prefect retry with exponential backoff and jitter."""
    return {
        "retries": settings.task_retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=settings.task_retry_delay),
        "retry_jitter_factor": settings.task_retry_jitter,
        "retry_condition_fn": retry_on_transient,
    }
