"""A Prefect task as a pipeline step: the core's batch loop calls it like any step.

When the task fails past its retries, its ``on_failure`` hook writes the batch's open
URLs to the dead letters; the step then fails them with the task's own error, marked
recorded when (and only when) the hook's write succeeded, so the commit writes each
failure exactly once.
"""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State
from prefect.utilities.annotations import opaque

from quarrycore.exceptions import StageFailed
from quarrycore.pipeline.steps import Sink, Step
from quarrycore.records import Batch, BatchReport
from quarrycore.tasks.hooks import take_recorded
from quarrycore.tasks.lineage import keep_result_only, release
from quarrycore.tasks.policy import exception_of


async def _run_task(task: Task[..., Any], batch: Batch, *args: Any) -> Any:
    # An async task called with return_state=True gives an awaitable of its final state.
    # opaque: Prefect links the batch to the task that returned it (the run graph) but
    # does not walk into it; walking every page of every batch, twice a task, was a fifth
    # of the flow process's time on a crawl of small pages (the process that limits it).
    # lineage: the links stay exact (an id-only match can link a batch to another's task)
    # and the flow run does not keep an entry for every batch it ever ran.
    state: State[Any] = await task(opaque(batch), *args, return_state=True)
    if state.is_failed():
        error = exception_of(state) or RuntimeError(state.message or "task failed")
        task_run_id = state.state_details.task_run_id
        recorded = task_run_id is not None and take_recorded(str(task_run_id))
        raise StageFailed(error, recorded=recorded)
    release(batch)  # kept on failure: a store that comes back is passed it again
    result = await state.aresult()
    keep_result_only(result)
    if not isinstance(result, Batch):  # a report: no task is passed it
        release(result)
    return result


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

    def __init__(self, task: Task[..., Any], *args: Any, outage_wait: float = 0.0) -> None:
        self.task = task
        self.args = args
        self.outage_wait = outage_wait

    async def commit(self, batch: Batch) -> BatchReport:
        report: BatchReport = await _run_task(self.task, batch, *self.args)
        return report
