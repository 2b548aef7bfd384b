"""The failure-hook: a task that failed as a whole, after Prefect's retries, writes every
URL of its batch still open to the dead letters, so no URL of a failed task goes
missing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from quarrycore.tasks.policy import exception_of

from quarrycore.deadletters import DeadLetterStore
from quarrycore.exceptions import Stage, is_transient
from quarrycore.records import Batch, Failure

logger = logging.getLogger("quarrycore.deadletters")
Hook = Callable[[Task[Any, Any], TaskRun, State[Any]], None]


def record_failed_batch(dead_letters: DeadLetterStore, stage: Stage) -> Hook:
    """An ``on_failure`` hook for the task of ``stage`` (its first parameter a batch)."""

    def hook(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> None:
        context = TaskRunContext.get()
        parameters = context.parameters if context and context.parameters else {}
        exc = exception_of(state) or RuntimeError(state.message or "task failed")
        batch: Batch = parameters["batch"]
        urls = [record.url for record in batch.records if record.open]
        dead_letters.record(
            batch.job_id,
            [Failure.from_stage_error(url, stage, exc) for url in urls],
            flow_run_id=str(flow_run.id) if flow_run.id else None,
            task_run_id=str(task_run.id),
            metadata={"batch": batch.index, "task": task.name, "transient": is_transient(exc)},
        )
        logger.error(
            "%s task of batch %d failed: %d URLs written to the dead letters",
            stage,
            batch.index,
            len(urls),
        )

    return hook
