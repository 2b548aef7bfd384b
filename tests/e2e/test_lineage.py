"""Each batch task is linked to exactly the task whose result it was passed (tasks/lineage.py),
and the flow run keeps no entry for the batches it has finished."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext
from prefect.serializers import PickleSerializer

from quarrycore.pipeline.steps import Step
from quarrycore.records import Batch, BatchReport
from quarrycore.tasks.steps import TaskSink, TaskStep

BATCHES = 300


def _own_links() -> tuple[str, list[str]]:
    """This task run's id and the ids of the task runs its ``batch`` came from."""
    context = TaskRunContext.get()
    assert context is not None
    inputs = context.task_run.task_inputs.get("batch", [])
    return str(context.task_run.id), sorted(str(getattr(i, "id", i)) for i in inputs)


class Recorded(Step):
    """The inner step of the tasks below: where each notes the links it was given."""

    stage = "crawl"

    def __init__(self) -> None:
        self.links: dict[tuple[str, int], tuple[str, list[str]]] = {}

    async def run(self, batch: Batch) -> Batch:
        raise AssertionError("run through its task")


@task(
    cache_policy=NO_CACHE,
    persist_result=True,
    cache_result_in_memory=False,
    result_serializer=PickleSerializer(),
)
async def first(batch: Batch, seen: Recorded) -> Batch:
    seen.links["first", batch.index] = _own_links()
    return Batch.of(batch.job_id, batch.index, [record.url for record in batch.records])


@task(cache_policy=NO_CACHE, persist_result=False)
async def second(batch: Batch, seen: Recorded) -> Batch:
    seen.links["second", batch.index] = _own_links()
    return Batch.of(batch.job_id, batch.index, [record.url for record in batch.records])


@task(cache_policy=NO_CACHE, persist_result=False)
async def last(batch: Batch, seen: Recorded) -> BatchReport:
    seen.links["last", batch.index] = _own_links()
    return BatchReport(batch_index=batch.index, stored=len(batch.records), failed=0)


async def test_every_batch_task_links_to_its_producer_only(tmp_path: Path) -> None:
    seen = Recorded()
    entries_left: list[int] = []

    @flow(persist_result=False)
    async def chain() -> None:
        steps = [
            TaskStep(first.with_options(result_storage=tmp_path), seen),
            TaskStep(second, seen),
        ]
        sink = TaskSink(last, seen)
        for index in range(300, 300 + BATCHES):  # ints past 256 are objects of their own
            # One URL a batch: its record tuple is the size of the wrapper passed to a
            # task, so a freed one's address is soon reused by a new wrapper.
            batch = Batch.of("job", index, [f"http://127.0.0.1/{index}"])
            for step in steps:
                batch = await step.run(batch)
            await sink.commit(batch)
            del batch
        context = FlowRunContext.get()
        assert context is not None
        entries_left.append(len(context.run_results))

    await chain()

    wrong: list[Any] = []
    for index in range(300, 300 + BATCHES):
        first_id, first_inputs = seen.links["first", index]
        second_id, second_inputs = seen.links["second", index]
        _, last_inputs = seen.links["last", index]
        if first_inputs or second_inputs != [first_id] or last_inputs != [second_id]:
            wrong.append((index, first_inputs, second_inputs, last_inputs))
    assert not wrong, f"{len(wrong)} of {BATCHES} batches linked wrongly: {wrong[:3]}"
    assert entries_left == [0]
