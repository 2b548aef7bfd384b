"""The failure-hook: a task that failed as a whole, after Prefect's retries, writes every
URL of its batch to the dead letters, so no URL of a failed task goes missing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from quarrycore.tasks.policy import exception_of

from quarrycore.deadletters.store import DeadLetterStore
from quarrycore.exceptions import Stage, is_transient
from quarrycore.pipeline.loop import batch_failures
from quarrycore.records import Batch, CrawlOutput, ExtractOutput

logger = logging.getLogger("quarrycore.deadletters")
Hook = Callable[[Task[Any, Any], TaskRun, State[Any]], None]


def batch_urls(stage: Stage, parameters: dict[str, Any]) -> tuple[Batch, list[str]]:
    """The URLs a task of ``stage`` was working on, from its parameters."""
    if stage == "crawl":
        batch: Batch = parameters["batch"]
        return batch, list(batch.urls)
    if stage == "extract":
        crawled: CrawlOutput = parameters["crawled"]
        return crawled.batch, [page.url for page in crawled.pages]
    extracted: ExtractOutput = parameters["extracted"]
    return extracted.batch, [doc.url for doc in extracted.documents]


def record_failed_batch(dead_letters: DeadLetterStore, stage: Stage) -> Hook:
    """An ``on_failure`` hook for the task of ``stage``."""

    def hook(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> None:
        context = TaskRunContext.get()
        parameters = context.parameters if context and context.parameters else {}
        exc = exception_of(state) or RuntimeError(state.message or "task failed")
        batch, urls = batch_urls(stage, parameters)
        dead_letters.record(
            batch.job_id,
            batch_failures(urls, stage, exc),
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
