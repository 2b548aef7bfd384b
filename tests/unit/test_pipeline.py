"""The batch loop without Prefect: overlap, and failures of whole stages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from quarrycore.pipeline.loop import Stages, run_batches
from quarrycore.records import (
    Batch,
    BatchReport,
    CrawlOutput,
    Document,
    ExtractOutput,
    FetchedPage,
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
        yield Batch(job_id="j", index=i, urls=tuple(f"http://x/{i}/{k}" for k in range(size)))


async def test_next_batch_is_fetched_while_the_previous_one_is_stored() -> None:
    events: list[str] = []
    release_store = asyncio.Event()
    second_crawl_started = asyncio.Event()

    async def crawl(batch: Batch) -> CrawlOutput:
        events.append(f"crawl {batch.index}")
        if batch.index == 1:
            second_crawl_started.set()
        return CrawlOutput(batch=batch, pages=[page(u) for u in batch.urls])

    async def extract(crawled: CrawlOutput) -> ExtractOutput:
        return ExtractOutput(
            batch=crawled.batch, documents=[document(p.url) for p in crawled.pages]
        )

    async def store(extracted: ExtractOutput) -> BatchReport:
        if extracted.batch.index == 0:
            # Batch 0 cannot commit until batch 1's fetch has begun: only overlap ends this.
            await asyncio.wait_for(second_crawl_started.wait(), timeout=5)
            release_store.set()
        events.append(f"store {extracted.batch.index}")
        return BatchReport(extracted.batch.index, len(extracted.documents), 0)

    reports: list[BatchReport] = []

    async def on_done(report: BatchReport) -> None:
        reports.append(report)

    await run_batches(
        batches(3), Stages(crawl=crawl, extract=extract, store=store), on_done=on_done
    )
    assert events.index("crawl 1") < events.index("store 0")
    assert [r.batch_index for r in reports] == [0, 1, 2]
    assert sum(r.stored for r in reports) == 6


async def test_a_stage_that_fails_as_a_whole_fails_every_url_of_its_batch() -> None:
    committed: list[ExtractOutput] = []

    async def crawl(batch: Batch) -> CrawlOutput:
        if batch.index == 0:
            raise TimeoutError("the whole crawl task died")
        return CrawlOutput(batch=batch, pages=[page(u) for u in batch.urls])

    async def extract(crawled: CrawlOutput) -> ExtractOutput:
        raise ValueError("extractor bug")

    async def store(extracted: ExtractOutput) -> BatchReport:
        committed.append(extracted)
        return BatchReport(extracted.batch.index, len(extracted.documents), len(extracted.failures))

    async def on_done(report: BatchReport) -> None:
        pass

    await run_batches(
        batches(2), Stages(crawl=crawl, extract=extract, store=store), on_done=on_done
    )
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

    async def crawl(batch: Batch) -> CrawlOutput:
        crawled.append(batch.index)
        return CrawlOutput(batch=batch)

    async def extract(c: CrawlOutput) -> ExtractOutput:
        return ExtractOutput(batch=c.batch)

    async def store(e: ExtractOutput) -> BatchReport:
        return BatchReport(e.batch.index, 0, 0)

    async def on_done(report: BatchReport) -> None:
        pass

    await run_batches(
        batches(5),
        Stages(crawl=crawl, extract=extract, store=store),
        on_done=on_done,
        should_stop=lambda: len(crawled) >= 2,
    )
    assert crawled == [0, 1]
