"""The failure-hook: a task that failed as a whole, after Prefect's retries, writes every
URL of its batch still open to the dead letters, so no URL of a failed task goes
missing.

Prefect only logs an exception raised in a hook, so a hook whose write failed must not
be taken for one that succeeded: the hook notes the task runs it has written, and the
step that ran the task (tasks/steps.py) marks the batch's failures recorded only then;
otherwise the commit writes them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.utilities.annotations import BaseAnnotation

from quarrycore.deadletters import DeadLetterStore
from quarrycore.exceptions import RunStopped, Stage, is_transient
from quarrycore.records import Batch, Failure
from quarrycore.tasks.policy import exception_of

logger = logging.getLogger("quarrycore.deadletters")
Hook = Callable[[Task[Any, Any], TaskRun, State[Any]], Awaitable[None]]

# Task runs (of this process) whose open URLs a failure hook has written.
_recorded: set[str] = set()


def take_recorded(task_run_id: str) -> bool:
    """Whether a failure hook wrote the open URLs of this task run's batch (asked once)."""
    try:
        _recorded.remove(task_run_id)
    except KeyError:
        return False
    return True


def record_failed_batch(dead_letters: DeadLetterStore, stage: Stage) -> Hook:
    """An ``on_failure`` hook for the task of ``stage`` (its first parameter a batch)."""

    async def hook(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> None:
        context = TaskRunContext.get()
        parameters = context.parameters if context and context.parameters else {}
        exc = exception_of(state) or RuntimeError(state.message or "task failed")
        if isinstance(exc, RunStopped) or (stage == "store" and is_transient(exc)):
            # The run stops, or the commit waits for the store to come back: the URLs
            # stay pending, none of them failed.
            return
        batch: Batch = parameters["batch"]
        if isinstance(batch, BaseAnnotation):  # passed opaque (steps.py): not unwrapped here
            batch = batch.unwrap()
        urls = [record.url for record in batch.records if record.open]
        # In a thread: the hook runs on the flow's event loop.
        await asyncio.to_thread(
            dead_letters.record,
            batch.job_id,
            [Failure.from_stage_error(url, stage, exc) for url in urls],
            flow_run_id=str(flow_run.id) if flow_run.id else None,
            task_run_id=str(task_run.id),
            metadata={"batch": batch.index, "task": task.name, "transient": is_transient(exc)},
        )
        _recorded.add(str(task_run.id))
        logger.error(
            "%s task of batch %d failed: %d URLs written to the dead letters",
            stage,
            batch.index,
            len(urls),
        )

    return hook
