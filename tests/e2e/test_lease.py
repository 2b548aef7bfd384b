"""One run per job, for the whole run: a run whose lease another run took stops, and
never commits again (fencing), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from quarrycore.exceptions import JobLockLost
from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore, JobLock
from quarrycore.store.schema import jobs
from tests.e2e.jobs import numbered_site


def _steal(store: DocumentStore, job_id: str) -> None:
    """What another run does once this run's heartbeats stopped for longer than its TTL:
    the lease is made to have lapsed, then taken."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with store.engine.begin() as conn:
                conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(lock_expires=0))
            JobLock(store.engine, job_id, ttl=600, owner="other-host:1:taker").acquire()
            return
        except Exception:  # a commit of the running job renewed it meanwhile: again
            assert time.monotonic() < deadline
            time.sleep(0.05)


async def test_a_run_whose_lease_is_taken_stops_and_never_commits_again(
    store_url: str, tmp_path: Path
) -> None:
    site = numbered_site(80, delay=0.05)
    store = DocumentStore(store_url)
    with site:
        run = asyncio.create_task(
            quarry_crawl(
                urls=site.urls,
                job_id="fenced",
                database_url=store_url,
                batch_size=5,
                concurrency=2,
                options={
                    "extract_workers": 0,
                    "job_lock_ttl": 3.0,
                    "dead_letter_url": f"sqlite:///{tmp_path / 'dl.db'}",
                },
            )
        )
        deadline = time.monotonic() + 120
        while (await asyncio.to_thread(store.counts, "fenced")).processed < 10:
            assert time.monotonic() < deadline and not run.done()
            await asyncio.sleep(0.05)
        await asyncio.to_thread(_steal, store, "fenced")
        at_steal = (await asyncio.to_thread(store.counts, "fenced")).processed
        with pytest.raises(JobLockLost):
            await asyncio.wait_for(run, timeout=120)
    after = store.counts("fenced")
    assert after.processed == at_steal  # not one commit after the lease was taken
    assert 10 <= at_steal < 80 and after.pending == 80 - at_steal
    with store.engine.connect() as conn:
        owner = conn.execute(sa.select(jobs.c.lock_owner).where(jobs.c.job_id == "fenced"))
        assert owner.scalar_one() == "other-host:1:taker"  # the stopped run left it be
    store.close()
