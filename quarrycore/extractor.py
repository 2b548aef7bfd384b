"""Running extraction off the event loop, on every core."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from quarrycore.extract import extract_pages
from quarrycore.procutil import die_with_parent
from quarrycore.records import CrawlOutput, Document, ExtractOutput, Failure, FetchedPage
from quarrycore.thresholds import QualityThresholds

logger = logging.getLogger(__name__)
_MAX_POOL_RESTARTS = 3


def _init_worker() -> None:
    # A terminal's Ctrl-C goes to the whole process group; the flow decides how to stop,
    # so workers leave the group and ignore SIGINT instead of dying mid-batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.setsid()
    die_with_parent()


def _warm_up() -> None:
    import py3langid  # noqa: F401  # load the model before the first page needs it


class ExtractorPool:
    """Extracts batches in worker processes (``workers`` > 0) or in one thread.

    Extraction is CPU-bound (trafilatura takes ~13-23 ms a page here); in processes it
    runs beside the fetching event loop instead of stalling it, on both cores.
    """

    def __init__(
        self,
        *,
        workers: int,
        min_words: int,
        drop_params: frozenset[str] = frozenset(),
        quality: QualityThresholds | None = None,
    ) -> None:
        self._min_words = min_words
        self._drop = drop_params
        self._quality = quality
        self._processes = workers
        self._workers = max(1, workers)
        self._restarts = 0
        self._executor = self._new_executor()

    def _new_executor(self) -> Executor:
        if self._processes <= 0 or self._restarts >= _MAX_POOL_RESTARTS:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract")
        # spawn, not fork: the flow process runs threads (Prefect, the event loop).
        executor = ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )
        for _ in range(self._processes):
            executor.submit(_warm_up)
        return executor

    async def extract(self, crawl: CrawlOutput) -> ExtractOutput:
        while True:
            try:
                results = await self._extract_chunks(crawl.pages)
                break
            except BrokenProcessPool:
                # A worker died (out of memory, a crash in a C extension, an unimportable
                # __main__): start a new pool, and after repeated deaths use a thread.
                self._restarts += 1
                logger.warning(
                    "extraction process pool broke (%d time(s)); restarting it", self._restarts
                )
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor()
        output = ExtractOutput(batch=crawl.batch, failures=list(crawl.failures))
        for chunk_result in results:
            for outcome in chunk_result:
                if isinstance(outcome, Document):
                    output.documents.append(outcome)
                else:
                    output.failures.append(outcome)
        return output

    async def _extract_chunks(self, pages: list[FetchedPage]) -> list[list[Document | Failure]]:
        loop = asyncio.get_running_loop()
        # One chunk per worker: fewer round trips than a page each, all cores busy.
        return list(
            await asyncio.gather(
                *(
                    loop.run_in_executor(
                        self._executor,
                        extract_pages,
                        chunk,
                        self._min_words,
                        self._drop,
                        self._quality,
                    )
                    for chunk in _split(pages, self._workers)
                )
            )
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _split(pages: list[FetchedPage], parts: int) -> list[list[FetchedPage]]:
    if not pages:
        return []
    parts = min(parts, len(pages))
    return [pages[i::parts] for i in range(parts)]
