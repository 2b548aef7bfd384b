"""A Prefect task as a pipeline step: the core's batch loop calls it like any step.

When the task fails past its retries, its ``on_failure`` hook has written the batch's
open URLs to the dead letters; the step then fails them with the task's own error,
marked as recorded, so the commit does not count them twice.
"""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State
from quarrycore.tasks.policy import exception_of

from quarrycore.exceptions import StageFailed
from quarrycore.pipeline.steps import Sink, Step
from quarrycore.records import Batch, BatchReport


async def _run_task(task: Task[..., Any], batch: Batch, *args: Any) -> Any:
    # An async task called with return_state=True gives an awaitable of its final state.
    state: State[Any] = await task(batch, *args, return_state=True)
    if state.is_failed():
        error = exception_of(state) or RuntimeError(state.message or "task failed")
        raise StageFailed(error, recorded=True)
    return await state.aresult()


class TaskStep(Step):
    """``inner``'s stage, run as ``task(batch, inner)``."""

    def __init__(self, task: Task[..., Any], inner: Step) -> None:
        self.task = task
        self.inner = inner
        self.stage = inner.stage

    async def run(self, batch: Batch) -> Batch:
        result: Batch = await _run_task(self.task, batch, self.inner)
        return result


class TaskSink(Sink):
    """A commit run as ``task(batch, *args)``."""

    def __init__(self, task: Task[..., Any], *args: Any) -> None:
        self.task = task
        self.args = args

    async def commit(self, batch: Batch) -> BatchReport:
        report: BatchReport = await _run_task(self.task, batch, *self.args)
        return report
