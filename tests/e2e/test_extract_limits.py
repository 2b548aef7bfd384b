"""The per-page extraction time limit and dying extraction processes, with real
processes, real pages and (last test) the whole flow with its dead letters."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from quarrycore.deadletters import DeadLetterFilter, DeadLetterStore
from quarrycore.extract.page import extract_page
from quarrycore.extract.pool import ExtractorPool
from quarrycore.flows.crawl import quarry_crawl
from quarrycore.records import Batch, Document
from quarrycore.settings import TRACKING_PARAMS
from quarrycore.store import DocumentStore
from tests.support.sites import HTML, slow_to_extract_page
from tests.support.siteserver import Response, SiteServer
from tests.unit.test_extract import OPTIONS, fetched, fetched_batch

LIMIT = 3.0  # seconds; a normal page takes ~15 ms, the slowest benchmark page ~1.7 s
SLOW_MB = 8.0  # ~15 s to extract here, far past the limit


def small_articles(benchmark_pages: dict[str, tuple[bytes, str]], n: int) -> list[bytes]:
    """Articles that take milliseconds to extract, so only the slow page meets the limit."""
    small = [html for html, _ in benchmark_pages.values() if len(html) < 100_000]
    return small[:n]


def batch(pages: list[bytes], prefix: str) -> Batch:
    return fetched_batch(
        [
            fetched(html.decode("utf-8"), url=f"http://x/{prefix}{i}")
            for i, html in enumerate(pages)
        ],
        "limits",
    )


def test_the_slow_page_is_real_work_for_the_extractor() -> None:
    # Without a limit the page is extracted (it only takes long): a timeout below is
    # the limit's doing, not a page the extractor rejects.
    page = fetched(slow_to_extract_page(0.3).decode("utf-8"))
    started = time.perf_counter()
    assert isinstance(extract_page(page, drop=TRACKING_PARAMS), Document)
    per_mb = (time.perf_counter() - started) / 0.3
    assert per_mb * SLOW_MB > 2 * LIMIT, f"{per_mb:.2f} s/MB: the slow page is not slow here"


async def test_a_page_past_the_time_limit_is_cut_off_and_the_pool_goes_on(
    benchmark_pages: dict[str, tuple[bytes, str]],
) -> None:
    articles = small_articles(benchmark_pages, 6)
    pool = ExtractorPool(workers=2, options=OPTIONS, page_timeout=LIMIT)
    try:
        first = await pool.extract(batch([*articles[:3], slow_to_extract_page(SLOW_MB)], "a"))
        # The killed process is replaced: the next batch is extracted on both workers.
        second = await pool.extract(batch(articles[3:], "b"))
    finally:
        pool.close()

    assert sorted(d.url for d in first.documents) == ["http://x/a0", "http://x/a1", "http://x/a2"]
    [timeout] = first.failures
    assert (timeout.url, timeout.stage, timeout.error_type) == (
        "http://x/a3",
        "extract",
        "ExtractTimeout",
    )
    assert f"over {LIMIT:g} s" in timeout.message and not timeout.retryable
    assert sorted(d.url for d in second.documents) == ["http://x/b0", "http://x/b1", "http://x/b2"]
    assert not second.failures


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc: clock ticks)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads process states from /proc")
async def test_a_process_killed_mid_page_fails_that_page_only(
    benchmark_pages: dict[str, tuple[bytes, str]],
) -> None:
    articles = small_articles(benchmark_pages, 2)
    pool = ExtractorPool(workers=1, options=OPTIONS, page_timeout=120)
    try:
        await pool.extract(batch(articles[:1], "warm"))  # the process is up and idle
        [worker] = multiprocessing.active_children()
        idle = _cpu_seconds(worker.pid or 0)
        job = asyncio.create_task(
            pool.extract(batch([slow_to_extract_page(SLOW_MB), articles[1]], "k"))
        )
        # Wait until the process is busy on the slow page (a second of CPU spent on it:
        # it takes ~15 s), then kill it as the OOM killer would.
        deadline = time.monotonic() + 60
        while _cpu_seconds(worker.pid or 0) < idle + 1.0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert _cpu_seconds(worker.pid or 0) >= idle + 1.0
        worker.kill()
        out = await asyncio.wait_for(job, timeout=60)
    finally:
        pool.close()

    [died] = out.failures
    assert (died.url, died.error_type) == ("http://x/k0", "ExtractFailed")
    assert "process died (exit code -9)" in died.message
    assert [d.url for d in out.documents] == ["http://x/k1"]


async def test_the_flow_dead_letters_a_page_cut_off_by_the_limit(
    benchmark_pages: dict[str, tuple[bytes, str]], tmp_path: Path
) -> None:
    routes = {
        f"/a{i}.html": Response(200, html, HTML)
        for i, html in enumerate(small_articles(benchmark_pages, 4))
    }
    routes["/table.html"] = Response(200, slow_to_extract_page(SLOW_MB), HTML)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    dead_letter_db = f"sqlite:///{tmp_path / 'dead_letter.db'}"
    with SiteServer(routes) as site:
        result = await quarry_crawl(
            urls=[site.url(path) for path in routes],
            job_id="limits",
            database_url=db,
            options={
                "extract_workers": 2,
                "extract_timeout": LIMIT,
                "max_body_bytes": 20_000_000,
                "data_dir": str(tmp_path / "data"),
                "dead_letter_url": dead_letter_db,
            },
        )
        table = site.url("/table.html")
        articles = {site.url(path) for path in routes} - {table}

    assert (result.stored_count, result.failed_count, result.pending_count) == (4, 1, 0)
    states = DocumentStore(db).url_states("limits")
    assert states[table] == ("failed", "ExtractTimeout")
    assert {url for url, (state, _) in states.items() if state == "stored"} == articles
    [row] = DeadLetterStore(dead_letter_db).rows(DeadLetterFilter(job_id="limits"))
    assert (row["url"], row["stage"], row["error_type"]) == (table, "extract", "ExtractTimeout")
    assert row["retryable"] is False
