"""One run per job, for the whole run: a run whose lease another run took stops, and
never commits again (fencing), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from quarrycore.db import db_epoch
from quarrycore.exceptions import JobLockLost
from quarrycore.flows.crawl import quarry_crawl
from quarrycore.store import DocumentStore, JobLock
from quarrycore.store.schema import jobs
from tests.e2e.jobs import (
    numbered_site,
    quarry_env,
    run_quarry,
    start_quarry,
    wait_for_processed,
)


def _wait_until_lapsed(store: DocumentStore, job_id: str) -> None:
    """Until the job's lease has expired on the database's clock."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            expires, now = conn.execute(
                sa.select(jobs.c.lock_expires, db_epoch(conn.dialect.name)).where(
                    jobs.c.job_id == job_id
                )
            ).one()
        assert expires is not None, "the lease was released: the run had ended"
        lapsed = expires < now
        if lapsed:
            return
        time.sleep(0.1)
    raise AssertionError(f"the lease of {job_id} did not lapse")


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


def test_two_runs_of_one_job_never_both_commit(tmp_path: Path) -> None:
    """Two real runs of one job: the second, started beside the first, is refused; then
    the first freezes (SIGSTOP: a stuck worker), its lease lapses, a third run takes the
    job, and the first, woken up, stops without committing again."""
    db = f"sqlite:///{tmp_path / 'quarry.db'}"
    site = numbered_site(300, delay=0.2)  # ~30 s for the first run alone: it is live
    with site:
        (tmp_path / "urls.txt").write_text("\n".join(site.urls))
        env = quarry_env(tmp_path)
        env["QUARRY_JOB_LOCK_TTL"] = "3"  # a heartbeat a second
        args = ["crawl", "--urls-file", "urls.txt", "--job-id", "twice", "--db", db]
        args += ["--batch-size", "10", "--concurrency", "2", "--no-progress"]
        first = start_quarry(args, tmp_path, env)
        wait_for_processed(db, "twice", 20, timeout=120, proc=first)
        beside = run_quarry(args, tmp_path, env)
        assert beside.returncode == 2 and "is being run by" in beside.stderr

        os.killpg(first.pid, signal.SIGSTOP)  # frozen mid-run: no heartbeat, no commit
        frozen_at = DocumentStore(db).counts("twice").processed
        _wait_until_lapsed(DocumentStore(db), "twice")
        third = start_quarry(args, tmp_path, env)
        wait_for_processed(db, "twice", frozen_at + 20, timeout=120, proc=third)
        os.killpg(first.pid, signal.SIGCONT)
        output, _ = first.communicate(timeout=120)
        assert first.returncode == 1, output[-3000:]
        assert "lease was taken by another run" in output
        rest, _ = third.communicate(timeout=300)
        assert third.returncode == 0, rest[-3000:]
    store = DocumentStore(db)
    counts = store.counts("twice")
    assert (counts.stored, counts.pending) == (300, 0)
    assert len(list(store.iter_documents("twice"))) == 300  # each stored once
