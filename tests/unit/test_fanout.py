"""The fan-out's watch without Prefect or processes: a launcher whose runs do what a
test says. The split keeps a host in one shard and balances pending URLs; shards
whose runs keep failing without progress stop the job with a clear error; a run whose
shard lease was taken and then expired is abandoned and the shard run again."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from quarrycore.exceptions import QuarryError
from quarrycore.pipeline.fanout import RunState, run_shards
from quarrycore.pipeline.job import open_job
from quarrycore.pipeline.request import JobRequest
from quarrycore.settings import QuarrySettings, settings_from_parameters
from quarrycore.store import DocumentStore, JobLock


def _settings(tmp_path: Path) -> QuarrySettings:
    return settings_from_parameters(
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        dead_letter_url=f"sqlite:///{tmp_path / 'dl.db'}",
        checkpoint_dir=str(tmp_path / "checkpoints"),
        checkpoint_block=False,
        options={"job_lock_ttl": 0.5},
    )


URLS = [f"http://h{h}.test/{i}" for h, n in ((0, 6), (1, 3), (2, 3), (3, 2)) for i in range(n)]


def test_the_split_keeps_hosts_whole_and_balances_pending_urls(tmp_path: Path) -> None:
    store = DocumentStore(f"sqlite:///{tmp_path / 's.db'}")
    store.start_job("j", {})
    store.add_urls("j", URLS)
    # Largest host first onto the lightest shard: h0 (6), h1 (3), h2 (3), then h3 (2)
    # onto the first of two shards of 6.
    assert store.shards.split("j", 2) == {0: 8, 1: 6}
    assert store.shards.split("j", 2) == {0: 8, 1: 6}  # a second split keeps it
    with pytest.raises(QuarryError, match="fanned out into 2 shards"):
        store.shards.split("j", 3)
    # Later URLs (inputs of a resume, links) go to their host's shard; a new host gets
    # one by a hash of its name, the same in every process.
    store.add_urls("j", ["http://h9.test/new", "http://h0.test/late"])
    pending = store.shards.split("j", 2)
    h9 = zlib.crc32(b"h9.test") % 2
    assert pending == {0: 9 + (h9 == 0), 1: 6 + (h9 == 1)}
    store.close()


class FailingRuns:
    """Every run fails at once, committing nothing."""

    sees_processes = False

    def __init__(self) -> None:
        self.launched: list[int] = []

    async def launch(self, shard: int) -> str:
        self.launched.append(shard)
        return f"run-{len(self.launched)}"

    async def state(self, run_id: str) -> RunState:
        return "failed"

    async def abandon(self, run_id: str, reason: str) -> None:
        raise AssertionError("nothing to abandon")

    async def cancel(self, run_id: str) -> None:
        pass


async def test_shards_that_keep_failing_stop_the_job_with_a_clear_error(tmp_path: Path) -> None:
    job = await open_job(JobRequest(urls=URLS, job_id="j"), _settings(tmp_path))
    launcher = FailingRuns()
    try:
        with pytest.raises(QuarryError, match="3 runs in a row ended without committing"):
            await run_shards(job, 2, launcher, poll=0.01)
    finally:
        job.close()
    assert launcher.launched.count(0) == 3 or launcher.launched.count(1) == 3


class SilentRuns:
    """Runs that take their shard's lease once and then go silent (a dead machine)."""

    sees_processes = False

    def __init__(self, store: DocumentStore, job_id: str) -> None:
        self.store, self.job_id = store, job_id
        self.abandoned: list[str] = []
        self.launches = 0

    async def launch(self, shard: int) -> str:
        self.launches += 1
        lease = JobLock(self.store.engine, self.job_id, ttl=0.3, shard=shard, owner="far:1:x")
        lease.acquire()
        self.store.shards.set_status(self.job_id, shard, "running")
        if self.launches > 2:  # the runs after the first two commit everything
            with self.store.engine.begin() as conn:
                from quarrycore.store.schema import job_urls
                from quarrycore.store.shards import in_shard

                conn.execute(
                    job_urls.update()
                    .where(job_urls.c.job_id == self.job_id, in_shard(self.job_id, shard))
                    .values(state="failed")
                )
            lease.release()
            self.store.shards.set_status(self.job_id, shard, "completed")
        return f"run-{self.launches}"

    async def state(self, run_id: str) -> RunState:
        return "completed" if int(run_id.split("-")[1]) > 2 else "running"

    async def abandon(self, run_id: str, reason: str) -> None:
        self.abandoned.append(run_id)

    async def cancel(self, run_id: str) -> None:
        pass


async def test_a_run_whose_lease_expires_is_abandoned_and_its_shard_run_again(
    tmp_path: Path,
) -> None:
    job = await open_job(JobRequest(urls=URLS, job_id="j"), _settings(tmp_path))
    launcher = SilentRuns(job.store, "j")
    try:
        _, report = await run_shards(job, 2, launcher, poll=0.05)
    finally:
        job.close()
    assert sorted(launcher.abandoned) == ["run-1", "run-2"]
    assert report.launched == {0: 2, 1: 2}
