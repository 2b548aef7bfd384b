"""A store that goes away for a while: the run waits for it, nothing is marked failed for
the outage, and every URL is stored once (PostgreSQL: connections killed and refused)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore
from tests.e2e.jobs import numbered_site, postgres_outage

OUTAGE_SECONDS = 15.0


@pytest.mark.postgres
async def test_a_store_outage_mid_run_loses_no_batch(postgres_url: str, tmp_path: Path) -> None:
    site = numbered_site(60, delay=0.02)
    store = DocumentStore(postgres_url)
    began = threading.Event()
    with site:
        run = asyncio.create_task(
            quarry_crawl(
                urls=site.urls,
                job_id="outage",
                database_url=postgres_url,
                batch_size=5,
                concurrency=4,
                options={
                    "extract_workers": 0,
                    "task_retry_delay": 0.5,
                    "store_outage_wait": 120,
                    "dead_letter_url": f"sqlite:///{tmp_path / 'dl.db'}",
                },
            )
        )
        deadline = time.monotonic() + 120
        while (await asyncio.to_thread(store.counts, "outage")).processed < 10:
            assert time.monotonic() < deadline and not run.done()
            await asyncio.sleep(0.05)
        store.engine.dispose()  # our own connections would be killed too
        name = sa.make_url(postgres_url).database or ""
        outage = threading.Thread(target=postgres_outage, args=(name, OUTAGE_SECONDS, began))
        outage.start()
        result = await asyncio.wait_for(run, timeout=300)
        outage.join()
    assert began.is_set()
    assert (result.state, result.stored_count, result.failed_count) == ("completed", 60, 0)
    counts = store.counts("outage")
    assert (counts.stored, counts.failed, counts.pending) == (60, 0, 0)
    assert len(list(store.iter_documents("outage"))) == 60
    store.close()
