"""The batch loop without Prefect: overlap, and failures of whole stages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from quarrycore.exceptions import Stage
from quarrycore.pipeline.loop import Pipeline, run_batches
from quarrycore.pipeline.steps import Sink, Step
from quarrycore.records import Batch, BatchReport, Document, FetchedPage

StepFn = Callable[[Batch], Awaitable[Batch]]


class FnStep(Step):
    """A step that runs a plain coroutine function."""

    def __init__(self, stage: Stage, fn: StepFn) -> None:
        self.stage = stage
        self.fn = fn

    async def run(self, batch: Batch) -> Batch:
        return await self.fn(batch)


class FnSink(Sink):
    def __init__(self, fn: Callable[[Batch], Awaitable[BatchReport]]) -> None:
        self.fn = fn

    async def commit(self, batch: Batch) -> BatchReport:
        return await self.fn(batch)


def stages(
    crawl: StepFn, extract: StepFn, store: Callable[[Batch], Awaitable[BatchReport]]
) -> Pipeline:
    return Pipeline(
        source=FnStep("crawl", crawl), steps=[FnStep("extract", extract)], sink=FnSink(store)
    )


def page(url: str) -> FetchedPage:
    return FetchedPage(
        url=url,
        final_url=url,
        status_code=200,
        content_type="text/html",
        html="<p>x</p>",
        encoding="utf-8",
        fetched_at=datetime.now(UTC),
    )


def document(url: str) -> Document:
    return Document(
        url=url,
        final_url=url,
        status_code=200,
        fetched_at=datetime.now(UTC),
        text="x",
        content_hash="h",
        word_count=1,
    )


async def batches(n: int, size: int = 2) -> AsyncIterator[Batch]:
    for i in range(n):
        yield Batch.of("j", i, [f"http://x/{i}/{k}" for k in range(size)])


async def test_next_batch_is_fetched_while_the_previous_one_is_stored() -> None:
    events: list[str] = []
    release_store = asyncio.Event()
    second_crawl_started = asyncio.Event()

    async def crawl(batch: Batch) -> Batch:
        events.append(f"crawl {batch.index}")
        if batch.index == 1:
            second_crawl_started.set()
        return batch.advance([page(u) for u in batch.urls])

    async def extract(crawled: Batch) -> Batch:
        return crawled.advance([document(p.url) for p in crawled.pages])

    async def store(extracted: Batch) -> BatchReport:
        if extracted.index == 0:
            # Batch 0 cannot commit until batch 1's fetch has begun: only overlap ends this.
            await asyncio.wait_for(second_crawl_started.wait(), timeout=5)
            release_store.set()
        events.append(f"store {extracted.index}")
        return BatchReport(extracted.index, len(extracted.documents), 0)

    reports: list[BatchReport] = []

    async def on_done(report: BatchReport) -> None:
        reports.append(report)

    await run_batches(batches(3), stages(crawl, extract, store), on_done=on_done)
    assert events.index("crawl 1") < events.index("store 0")
    assert [r.batch_index for r in reports] == [0, 1, 2]
    assert sum(r.stored for r in reports) == 6


async def test_a_stage_that_fails_as_a_whole_fails_every_url_of_its_batch() -> None:
    committed: list[Batch] = []

    async def crawl(batch: Batch) -> Batch:
        if batch.index == 0:
            raise TimeoutError("the whole crawl task died")
        return batch.advance([page(u) for u in batch.urls])

    async def extract(crawled: Batch) -> Batch:
        raise ValueError("extractor bug")

    async def store(extracted: Batch) -> BatchReport:
        committed.append(extracted)
        return BatchReport(extracted.index, len(extracted.documents), len(extracted.failures))

    async def on_done(report: BatchReport) -> None:
        pass

    await run_batches(batches(2), stages(crawl, extract, store), on_done=on_done)
    first, second = committed
    assert [(f.stage, f.error_type, f.retryable) for f in first.failures] == [
        ("crawl", "TimeoutError", True)
    ] * 2
    assert [(f.stage, f.error_type, f.retryable) for f in second.failures] == [
        ("extract", "ValueError", False)
    ] * 2
    assert not first.documents and not second.documents


async def test_stop_request_ends_the_loop_before_the_next_batch() -> None:
    crawled: list[int] = []

    async def crawl(batch: Batch) -> Batch:
        crawled.append(batch.index)
        return batch

    async def extract(c: Batch) -> Batch:
        return c

    async def store(e: Batch) -> BatchReport:
        return BatchReport(e.index, 0, 0)

    async def on_done(report: BatchReport) -> None:
        pass

    await run_batches(
        batches(5),
        stages(crawl, extract, store),
        on_done=on_done,
        should_stop=lambda: len(crawled) >= 2,
    )
    assert crawled == [0, 1]


async def test_a_cancellation_that_is_no_stop_fails_the_batch_not_the_run() -> None:
    committed: list[Batch] = []

    async def crawl(batch: Batch) -> Batch:
        if batch.index == 0:
            raise asyncio.CancelledError  # leaked from a shared future, say; nobody stopped
        return batch.advance([page(u) for u in batch.urls])

    async def extract(crawled: Batch) -> Batch:
        return crawled.advance([document(p.url) for p in crawled.pages])

    async def store(extracted: Batch) -> BatchReport:
        committed.append(extracted)
        return BatchReport(extracted.index, len(extracted.documents), len(extracted.failures))

    async def on_done(report: BatchReport) -> None:
        pass

    await run_batches(batches(2), stages(crawl, extract, store), on_done=on_done)
    first, second = committed
    assert {f.error_type for f in first.failures} == {"CancelledError"}
    assert len(second.documents) == 2  # the run went on
