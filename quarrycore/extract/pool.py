"""Running extraction off the event loop, on every core, with a time limit per page.

Each extraction process is owned by one :class:`_Worker` and gets one page at a time
over a pipe, so the parent knows which page a process is working on: a page that runs
past ``extract_timeout`` gets its process killed (nothing else can stop a C extension
stuck in a loop) and becomes an ``ExtractTimeout`` failure; a page that kills its
process (a segfault in lxml, the OOM killer) becomes ``ExtractFailed``. Either way the
worker starts a fresh process and the rest of the batch goes on.

The processes are forked from a fork server that has imported what extraction needs
(quarrycore/extract/warm.py: trafilatura, py3langid's model, spaCy's tokenizer), so they
share those pages instead of each loading a copy, and a replacement process starts in
milliseconds; where there is no fork server (Windows), each is spawned. After each page
a process returns its free C heap to the system (lxml's trees of a large page).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.context import (
    ForkServerContext,
    ForkServerProcess,
    SpawnContext,
    SpawnProcess,
)

from quarrycore.exceptions import ExtractFailed, ExtractTimeout
from quarrycore.extract.options import ExtractOptions
from quarrycore.procutil import die_with_parent, release_free_memory
from quarrycore.records import Batch, Document, Failure, FetchedPage

logger = logging.getLogger(__name__)

_READY = "ready"
_START_TIMEOUT = 120.0  # importing trafilatura and the language model on a busy machine
_MAX_START_FAILURES = 3
_PRELOAD = "quarrycore.extract.warm"

Context = ForkServerContext | SpawnContext


def process_context() -> Context:
    """A fork server's context with extraction's modules preloaded, else spawn's (never
    plain fork: the flow process runs threads)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # Global to this process and read when the server starts (with the first pool).
        context.set_forkserver_preload([_PRELOAD])
        return context
    return multiprocessing.get_context("spawn")


class _StartFailed(Exception):
    """An extraction process died or hung before it could take work."""


def _serve(conn: Connection, options: ExtractOptions) -> None:
    """The extraction process: extract each page received until the pipe closes."""
    # A terminal's Ctrl-C goes to the whole process group; the flow decides how to stop,
    # so workers leave the group and ignore SIGINT instead of dying mid-page.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.setsid()
    die_with_parent()
    # Already imported and loaded by the fork server (warm.py); a spawned process loads
    # them here, before the first page's extract_timeout starts.
    from quarrycore.extract.page import preload_language_model
    from quarrycore.extract.step import extract_one
    from quarrycore.extract.wordsplit import preload as preload_words

    preload_language_model()
    if options.quality is not None and options.quality.enabled:
        preload_words()  # spaCy (~1 s)

    conn.send(_READY)
    while True:
        try:
            page = conn.recv()
        except EOFError:
            return
        if page is None:
            return
        conn.send(extract_one(page, options))
        del page
        release_free_memory()


class _Worker:
    """One extraction process and its pipe; used from one thread at a time."""

    def __init__(self, context: Context, options: ExtractOptions) -> None:
        self._context = context
        self._options = options
        self._process: ForkServerProcess | SpawnProcess | None = None
        self._conn: Connection | None = None
        self._ready = False

    def start(self) -> None:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve, args=(child, self._options), name="quarry-extract", daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn, self._ready = process, parent, False

    def extract(self, page: FetchedPage, limit: float) -> Document | Failure:
        conn = self._ready_connection()
        try:
            conn.send(page)
            if conn.poll(limit):
                outcome: Document | Failure = conn.recv()
                return outcome
        except (EOFError, OSError):
            code = self.stop()
            logger.warning("extraction process died (exit code %s) on %s", code, page.url)
            return Failure.from_error(
                page.url, ExtractFailed(f"the extraction process died (exit code {code})")
            )
        self.stop()
        logger.warning("extraction of %s took over %g s; its process was killed", page.url, limit)
        return Failure.from_error(
            page.url, ExtractTimeout(f"extraction took over {limit:g} s; its process was killed")
        )

    def _ready_connection(self) -> Connection:
        if self._process is None:
            self.start()
        assert self._conn is not None
        if not self._ready:
            try:
                if not self._conn.poll(_START_TIMEOUT):
                    raise _StartFailed(f"no answer in {_START_TIMEOUT:g} s")
                self._conn.recv()
            except (EOFError, OSError) as exc:
                code = self.stop()
                raise _StartFailed(f"exit code {code}") from exc
            except _StartFailed:
                self.stop()
                raise
            self._ready = True
        return self._conn

    def stop(self) -> int | None:
        """Kill the process (it holds no state worth a graceful stop); its exit code."""
        process, conn = self._process, self._conn
        self._process, self._conn, self._ready = None, None, False
        if conn is not None:
            conn.close()
        if process is None:
            return None
        if process.is_alive():
            process.kill()
        process.join(timeout=10)
        return process.exitcode


def _extract_here(page: FetchedPage, options: ExtractOptions) -> Document | Failure:
    """Extract in this process. The step's libraries (trafilatura, lxml's HTML cleaner,
    datasketch and scipy: ~90 MB) are imported on the first such page only: a flow
    process whose pages go to extraction processes never loads them."""
    from quarrycore.extract.step import extract_one

    return extract_one(page, options)


class ExtractorPool:
    """Extracts batches in ``workers`` processes, or in one thread when ``workers`` is 0.

    Extraction is CPU-bound (~14 ms a page here); in processes it runs beside the
    fetching event loop instead of stalling it, on every core. The time limit needs
    processes: a thread cannot be stopped.
    """

    def __init__(
        self, *, workers: int, options: ExtractOptions, page_timeout: float = 30.0
    ) -> None:
        self._options = options
        self._page_timeout = page_timeout
        context = process_context()
        self._workers = [_Worker(context, self._options) for _ in range(workers)]
        for worker in self._workers:
            worker.start()  # import trafilatura while the first batch is fetched
        self._threads = ThreadPoolExecutor(
            max_workers=max(1, workers), thread_name_prefix="extract"
        )
        self._start_failures = 0

    async def extract(self, batch: Batch) -> Batch:
        """The batch with each fetched page extracted: a document, or a failure."""
        pages = batch.pages
        loop = asyncio.get_running_loop()
        if not self._workers:
            from quarrycore.extract.step import extract_pages  # see _extract_here

            outcomes = await loop.run_in_executor(
                self._threads, extract_pages, pages, self._options
            )
        else:
            slots: list[Document | Failure | None] = [None] * len(pages)
            queue = iter(range(len(pages)))

            async def drain(worker: _Worker) -> None:
                # One page at a time from a shared queue: every process stays busy
                # whatever the pages cost, and a slow page holds up only its own process.
                for i in queue:
                    slots[i] = await loop.run_in_executor(
                        self._threads, self._extract_on, worker, pages[i]
                    )

            await asyncio.gather(*(drain(worker) for worker in self._workers))
            outcomes = [outcome for outcome in slots if outcome is not None]
        return batch.advance(outcomes)

    def _extract_on(self, worker: _Worker, page: FetchedPage) -> Document | Failure:
        if self._start_failures < _MAX_START_FAILURES:
            try:
                outcome = worker.extract(page, self._page_timeout)
                self._start_failures = 0
                return outcome
            except _StartFailed as exc:
                self._start_failures += 1
                logger.warning(
                    "an extraction process failed to start (%s); %s",
                    exc,
                    "extracting in a thread from now on"
                    if self._start_failures >= _MAX_START_FAILURES
                    else "trying a new one",
                )
        # Processes cannot start here (an unimportable __main__, a process limit):
        # extract in this thread rather than lose the job; there is no time limit then.
        return _extract_here(page, self._options)

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._threads.shutdown(wait=False, cancel_futures=True)
